"""Whose fact is it: the user's own, or a relation's (spouse, child, manager...).

Standard library only and cheap to import: the write side labels every fact with
`subject_of` and the ranking compares it with `query_subject`, so "my anniversary"
finds the user's own anniversary and "my parents' anniversary" theirs.

Decisions (documented in docs/memory.md by the lanes that use them):
- In-laws (mother-in-law, in-laws, brother-in-law) are `relative`, not `parent` or
  `sibling`: "my mum's birthday" must not find the mother-in-law's.
- Step- and half- relations are the relation itself (stepson -> child, half-sister ->
  sibling); ex-partners are `other` (not the current spouse or partner).
- Flatmates and housemates are `friend` (social, not family); neighbours, doctors,
  teachers, landlords... are `other`.
- A possessive chain names the relation to the user: a family member of a family member
  is `relative` (my wife's mother, my sister's son), except parent of parent
  (`grandparent`) and spouse's or partner's child (`child`); a pet of the user's
  household (spouse, partner, child) is `pet`; anything through a non-family person
  (my friend's wife, my boss's dog) is `other`.
- A fact the user shares ("User and his wife celebrate their anniversary...") is the
  user's; a fact introducing a relation ("User has a daughter named Lina", "User is
  married to Maya", "User's manager is Tom") is that relation's.
- A person word modifying the user's own thing is the user's ("User's dentist
  appointment", "User's doctor's appointment", "User's lawyer fees"); the person
  themselves stays theirs ("User's dentist is Dr Sousa" -> other).
- A reporting line is the manager's fact ("User reports to Rita", "works under",
  "is managed by"), so both facts of a change of manager share a subject; likewise
  "is married to X" (spouse), "is dating X" (partner), "lives with her partner X".
  Queries asking "who does the user report to" / "who am I married to" ask for them.
- Only the first MAX_CHARS characters are read (a hostile 100 KB string stays cheap).
- Queries: "I", "my", "our" or "user" without a relation is `user`; "we"/"us" alone is
  no cue (in chat it often means the user and the assistant): `None`.
"""

from __future__ import annotations

import re

USER = "user"
RELATIONS: tuple[str, ...] = (
    "spouse",
    "partner",
    "child",
    "parent",
    "sibling",
    "grandparent",
    "relative",
    "manager",
    "colleague",
    "friend",
    "pet",
    "other",
)
#: Every value `subject_of` can return.
SUBJECTS: tuple[str, ...] = (USER, *RELATIONS)

_FAMILY = frozenset({"spouse", "partner", "child", "parent", "sibling", "grandparent", "relative"})
_HOUSEHOLD = frozenset({"spouse", "partner", "child"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: relation -> its words and phrases ("|"-separated); `_lexicon` adds regular plurals.
_LEXICON_SOURCE = {
    "spouse": "wife|husband|spouse|hubby|wives",
    "partner": "partner|girlfriend|boyfriend|fiancé|fiancée|fiance|fiancee|significant other"
    "|other half|girl friend|boy friend",
    "child": "son|daughter|kid|child|children|baby|babies|stepson|stepdaughter|stepchild"
    "|stepchildren|toddler|teenager",
    "parent": "mum|mom|mother|mummy|mommy|mama|dad|daddy|father|papa|parent|folks|stepmother"
    "|stepmum|stepmom|stepfather|stepdad",
    "sibling": "sister|brother|sibling|sis|bro|twin",
    "grandparent": "grandma|grandpa|grandmother|grandfather|gran|granny|grannies|nan|nana"
    "|nanna|grandad|granddad|grandparent|grandmum|grandmom",
    # In-laws are relatives: "my mum's birthday" must not find the mother-in-law's.
    "relative": "aunt|auntie|aunties|uncle|cousin|niece|nephew|relative|grandson"
    "|granddaughter|grandchild|grandchildren|grandkid|in laws|mother in law|father in law"
    "|mothers in law|fathers in law|parents in law|sister in law|brother in law"
    "|sisters in law|brothers in law|son in law|daughter in law|godson|goddaughter"
    "|godmother|godfather|godchild|family member",
    "manager": "manager|boss|supervisor|line manager|team lead|team leader|tech lead|skip level",
    "colleague": "colleague|coworker|co worker|teammate|team mate|business partner|cofounder"
    "|co founder|direct report|report|employee|intern",
    "friend": "friend|best friend|flatmate|housemate|roommate|bestie|buddy|buddies|mate",
    "pet": "pet|dog|cat|puppy|puppies|kitten|horse|pony|rabbit|bunny|hamster|guinea pig"
    "|parrot|budgie|tortoise|turtle|gecko|ferret|retriever|labrador|spaniel|terrier|poodle"
    "|beagle|dachshund|collie|husky|kitty",
    "other": "neighbour|neighbor|landlord|landlady|landladies|doctor|gp|dentist|therapist"
    "|accountant|lawyer|teacher|tutor|coach|mentor|ex",
}


def _lexicon() -> dict[tuple[str, ...], str]:
    """Each word or phrase and its regular plural -> relation."""
    out: dict[tuple[str, ...], str] = {}
    for relation, words in _LEXICON_SOURCE.items():
        for word in words.split("|"):
            parts = tuple(word.split())
            out[parts] = relation
            last = parts[-1]
            plural = last + ("es" if last.endswith(("s", "x", "ch", "sh")) else "s")
            out.setdefault((*parts[:-1], plural), relation)
    return out


#: Words and phrases (as word tuples) -> relation.
LEXICON: dict[tuple[str, ...], str] = _lexicon()
_LONGEST = max(len(k) for k in LEXICON)

#: Words that may stand between "User's" and the relation ("User's younger sister").
_MODIFIERS = _words(
    "younger older elder eldest oldest youngest little big baby kid new current late "
    "former twin step half great other two three four both only adult grown first second "
    "third eldest middle beloved dear oldest biological adopted teenage infant newborn "
    "one"
)
#: A relation word followed by one of these is a thing, not a person ("pet project").
_BLOCK_AFTER = _words(
    "process processes directory directories folder class classes node nodes element "
    "elements company companies project projects peeve peeves program programme api key "
    "command theme component widget table branch brand organisation organization "
    "window issue ticket food riding level integration integrations portal agreement "
    "agreements file files"
)
#: The user's own things a person word can modify: "User's dentist appointment" and
#: "User's doctor's appointment" are the user's facts ("User's dentist is Dr Sousa" is not).
_OWN_THINGS = _words(
    "appointment appointments visit visits checkup checkups check bill bills practice surgery "
    "clinic office invoice invoices fee fees session sessions consultation consultations "
    "booking bookings"
)
#: Service providers: their possessive still modifies the user's thing ("doctor's appointment").
_PROVIDERS = _words(
    "doctor doctors gp dentist dentists therapist therapists accountant accountants lawyer "
    "lawyers tutor tutors coach coaches"
)
#: ...and preceded by one of these ("password manager", "package manager").
_BLOCK_BEFORE = _words(
    "password package window file task project product programme program account hiring "
    "property release engineering general store office stage tour event marketing sales "
    "it network device download memory version secret session process state resource "
    "context plugin extension display login certificate dependency media database "
    "connection cluster job portfolio asset fund investment wealth social community "
    "playlist pipeline cache node parent child tennis dance sparring digital"
)
#: Ambiguous words that count only after a possessive ("my nan", not "NaN values").
_NEEDS_POSSESSIVE = frozenset(
    {"nan", "folks", "mate", "report", "ex", "bro", "sis", "kitty", "coach", "gp"}
)
_POSSESSIVES = frozenset({"my", "our", "your", "his", "her", "their", "its", "whose"})
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "our", "ours", USER})
_HAVE = frozenset({"has", "had", "have", "got", "adopted", "rescued", "welcomed", "gets"})
_DETERMINERS = _words("a an one two three four five six several some many no new the")

_NOT_ADJECTIVE = _words("with his her their to for at in on of and about from by as is was been")

_WORD = re.compile(r"([^\W\d_]+)('[sS]\b|'(?![^\W\d_]))?")


class _Tok:
    """A word: casefolded, capitalised in the text (may be a name: "Maya", "Lina's"),
    followed by 's or a bare ' ("parents'"). A plain class: a NamedTuple costs more
    to define than the whole lexicon takes to build."""

    __slots__ = ("cap", "low", "poss")

    def __init__(self, low: str, cap: bool, poss: bool) -> None:
        self.low, self.cap, self.poss = low, cap, poss


#: Only a text's start is read (whose fact it is shows there): a hostile 100 KB string
#: costs no more than a long sentence.
MAX_CHARS = 1000


def _tokens(text: str) -> list[_Tok]:
    text = text[:MAX_CHARS].replace("\u2019", "'").replace("\u2018", "'")
    return [
        _Tok(m.group(1).casefold(), m.group(1)[0].isupper(), m.group(2) is not None)
        for m in _WORD.finditer(text)
    ]


def _relation_at(toks: list[_Tok], i: int, *, possessed: bool) -> tuple[str, int] | None:
    """The relation named at toks[i] (longest phrase first) and the index of its last word."""
    for n in range(min(_LONGEST, len(toks) - i), 0, -1):
        key = tuple(t.low for t in toks[i : i + n])
        relation = LEXICON.get(key)
        if relation is None:
            continue
        last = i + n - 1
        if n == 1 and key[0] in _NEEDS_POSSESSIVE and not possessed:
            return None
        after = toks[last + 1].low if last + 1 < len(toks) else ""
        if not toks[last].poss and after in _BLOCK_AFTER:
            return None
        if after in _OWN_THINGS and (not toks[last].poss or toks[last].low in _PROVIDERS):
            return None
        if i > 0 and not toks[i - 1].poss and toks[i - 1].low in _BLOCK_BEFORE:
            return None
        return relation, last
    return None


def _compose(owner: str, relation: str) -> str:
    """The relation to the user of `owner`'s `relation` (my wife's mother -> relative)."""
    if owner == "parent" and relation == "parent":
        return "grandparent"
    if relation == "pet":
        return "pet" if owner in _HOUSEHOLD else "other"
    if owner in _FAMILY and relation in _FAMILY:
        return "child" if owner in ("spouse", "partner") and relation == "child" else "relative"
    return "other"


def _chain(toks: list[_Tok], i: int, *, possessed: bool) -> str | None:
    """The relation a possessive chain starting at toks[i] names, or None.

    "wife Maya's mother" -> relative; modifiers ("younger") and names ("Lina's") may
    stand between the links."""
    found: str | None = None
    while i < len(toks):
        ex = False
        skipped = 0
        while i < len(toks) and skipped < 2 and toks[i].low in _MODIFIERS:
            if _relation_at(toks, i + 1, possessed=True) is None and toks[i].low in ("baby", "kid"):
                break  # "baby" is itself the relation here ("User's baby is due")
            i, skipped = i + 1, skipped + 1
        if i < len(toks) and toks[i].low == "ex":
            ex, i = True, i + 1
        hit = _relation_at(toks, i, possessed=possessed or found is not None)
        if hit is None:
            # "User's ex lives in Leeds": the ex is a person of their own.
            return ("other" if found is None else _compose(found, "other")) if ex else found
        relation = "other" if ex else hit[0]
        found = relation if found is None else _compose(found, relation)
        last = hit[1]
        if toks[last].poss:
            i = last + 1
            continue
        # "daughter Lina's teacher": skip up to three capitalised words (a name).
        j = last + 1
        while j < len(toks) and j - last <= 3 and toks[j].cap and not toks[j].poss:
            j += 1
        if j < len(toks) and j - last <= 3 and toks[j].cap and toks[j].poss:
            i = j + 1
            continue
        return found
    return found


def _introduced(toks: list[_Tok], j: int, skip: frozenset[str]) -> str | None:
    """The relation a verb introduces at toks[j], after determiners and up to two
    adjectives ("a golden retriever", not "dinner with his mother")."""
    start = j
    while j < len(toks) and j - start < 3 and toks[j].low in skip:
        j += 1
    for k in range(j, min(j + 3, len(toks))):
        relation = _chain(toks, k, possessed=True)
        if relation:
            return relation
        if toks[k].low in _NOT_ADJECTIVE:
            break
    return None


#: Verb phrases after "User" that make the fact a relation's: a reporting line is the
#: manager's fact (so "User reports to Rita" and "User's manager is Duarte" share a subject);
#: "" means the relation named next ("lives with her partner Ana").
_CUES: dict[tuple[str, ...], str] = {
    tuple(phrase.split()): relation
    for relation, phrases in {
        "manager": "reports to|report to|reported to|reporting to|reports directly to"
        "|report directly to|reporting directly to|works under|worked under|working under"
        "|works directly under|managed by|supervised by",
        "spouse": "married to",
        "partner": "dating|engaged to|in a relationship with",
        "": "lives with|lived with|living with|moved in with|shares a flat with"
        "|shares a house with",
    }.items()
    for phrase in phrases.split("|")
}
_CUE_FIRST = frozenset(k[0] for k in _CUES)
_AUX = _words("is was has have had been now currently directly still also will officially "
              "recently just then")  # fmt: skip
_ROLES = _words("head director cto ceo cfo coo vp lead manager boss founder chief principal "
                "editor chair partner owner")  # fmt: skip


def _after_cue(toks: list[_Tok], start: int) -> tuple[str, int] | None:
    """(relation, index after the phrase) for a cue after up to three auxiliaries."""
    for s in range(start, min(start + 4, len(toks))):
        if toks[s].low in _CUE_FIRST:
            for n in (4, 3, 2, 1):
                relation = _CUES.get(tuple(t.low for t in toks[s : s + n]))
                if relation is not None and s + n - 1 < len(toks):
                    return relation, s + n
        if toks[s].low not in _AUX:
            return None
    return None


def _names_person(toks: list[_Tok], j: int) -> bool:
    """A person follows: a name, "his boss", "the CTO" (not "reports to work")."""
    if j >= len(toks):
        return False
    if toks[j].cap or toks[j].low in ("his", "her", "their"):
        return True
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    return (
        toks[j].low in ("the", "a", "an", "new")
        and nxt is not None
        and (nxt.cap or nxt.low in _ROLES or nxt.low in _MODIFIERS)
    )


def _is_user(tok: _Tok) -> bool:
    return tok.low == USER


def subject_of(text: str) -> str:
    """Whose fact an extracted memory states: "user" or one of RELATIONS.

    "User's wife Maya is allergic to shellfish." -> spouse; "User is allergic to
    peanuts." -> user; "Maya, User's wife, works as an architect." -> spouse."""
    toks = _tokens(text)
    i = 1 if toks and toks[0].low == "the" else 0
    if i < len(toks) and _is_user(toks[i]):
        if toks[i].poss:
            return _chain(toks, i + 1, possessed=True) or USER
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        if nxt in _HAVE:
            # "User has a daughter named Lina": the fact introduces the relation.
            return _introduced(toks, i + 2, _DETERMINERS) or USER
        cue = _after_cue(toks, i + 1)
        if cue is not None:
            cued, j = cue
            if cued == "manager":  # "User reports to Rita Alves": the manager's fact
                return cued if _names_person(toks, j) else USER
            if cued:
                return cued
            # "User lives with her partner Ana": the partner's fact.
            return _introduced(toks, j, _DETERMINERS | _POSSESSIVES) or USER
        if nxt in ("is", "was", "got", "became", "has", "recently") and any(
            t.low in ("married", "engaged", "dating", "wed") for t in toks[i + 1 : i + 4]
        ):
            married = any(t.low in ("married", "wed") for t in toks[i + 1 : i + 4])
            return "spouse" if married else "partner"
        return USER
    # Not led by "User": an apposition or predicate names the relation
    # ("Maya, User's wife, works...", "Tom Reyes is User's manager.").
    for j, tok in enumerate(toks):
        if _is_user(tok) and tok.poss:
            relation = _chain(toks, j + 1, possessed=True)
            if relation:
                return relation
    lead = i + 1 if i < len(toks) and toks[i].low in _POSSESSIVES else i
    if lead < len(toks):
        relation = _chain(toks, lead, possessed=lead > i)
        if relation:
            return relation
    return USER


_COORD_AFTER = re.compile(
    r"\b(?:my|our|his|her|their|(?:the\s+)?user's)\s+(?:\w+\s+){0,2}?\w+\s+and\s+(?:i|me|user|the user)\b"
)
_COORD_BEFORE = re.compile(
    r"\b(?:i|me|user|the user)\s+and\s+(?:my|his|her|their|our)\s+(?:\w+\s+){0,2}?\w+\b"
)
_PREDICATIVE = (("am", "i", "a"), ("i", "am", "a"), ("i", "m", "a"), ("am", "i", "an"),
                ("i", "am", "an"), ("i", "m", "an"), ("user", "is", "a"), ("as", "a"))  # fmt: skip


def query_subject(query: str) -> str | None:
    """Whose facts a query asks about: "user", a relation, or None (no preference).

    "when is my anniversary" -> user; "my sister's birthday" -> sibling; "user's
    daughter allergies" -> child; "what should we cook tonight" -> None."""
    toks = _tokens(query)
    low = " ".join(t.low + ("'s" if t.poss else "") for t in toks)
    for pattern in (_COORD_AFTER, _COORD_BEFORE):
        m = pattern.search(low)
        if m and any(_relation_at(_tokens(w), 0, possessed=True) for w in m.group(0).split()):
            return USER  # "my wife and I", "me and my wife": a shared fact is the user's
    for i, tok in enumerate(toks):
        if tok.low not in _LEX_FIRST:
            continue
        words = tuple(t.low for t in toks[max(0, i - 3) : i])
        if any(words[-len(p) :] == p for p in _PREDICATIVE):
            continue  # "am I a manager": an attribute of the user
        possessed = i > 0 and (toks[i - 1].poss or toks[i - 1].low in _POSSESSIVES)
        relation = _chain(toks, i, possessed=possessed)
        if relation:
            return relation
    for pattern, relation in _QUERY_CUES:
        if pattern.search(low) and (relation != "manager" or _WHO.search(low)):
            return relation  # "whom does the user report to" asks for the manager's fact
    if any(t.low in _FIRST_PERSON for t in toks):
        return USER
    return None


_WHO = re.compile(r"\bwhom?\b")
#: Queries about a reporting line or a marriage: the relation's facts (as `_CUES` files them).
_QUERY_CUES = (
    # Asked as "who...": "how do I report to the tax office" is the user's own fact.
    (re.compile(r"\b(?:report(?:s|ed|ing)? (?:directly )?to|work(?:s|ed|ing)? under"
                r"|(?:managed|supervised) by|manages (?:me|user|the user))\b"), "manager"),
    (re.compile(r"\bmarried to\b"), "spouse"),
    (re.compile(r"\b(?:(?:is|are|am|m|was) (?:\w+ ){0,2}dating|in a relationship with)\b"), "partner"),
)  # fmt: skip


#: First words of lexicon entries and modifiers: where a relation mention can start.
_LEX_FIRST = frozenset({k[0] for k in LEXICON} | _MODIFIERS | {"ex"})
