"""Whether a newer fact reads like a change of an older one, without a model.

Nothing links "User moved to Lisbon in March 2026." to "User lives in Berlin." when
memories arrive through ``muxi memory add``, an import, or a store filled before the
write-time judge existed. Two cheap signals tell most such changes from facts that
both hold:

- the **slot**: both facts are about the same thing a person has one of at a time
  (where they live, their employer, manager, diet, phone, laptop, car, bank...);
  "User likes sushi" and "User likes ramen" share no slot;
- a **change cue** in the newer text ("moved", "switched", "now", "quit", "no longer",
  "since"...), which only counts for facts similar enough to be about one thing.

:func:`likely_update` is the loose test recall uses to put the newer of two candidates
first (a wrong guess only swaps two neighbours); :func:`clear_update` the strict one
the write side uses to link without a model (a wrong link labels a true fact
"Previously"). Pure: standard library only; similarities come from the caller.
"""

from __future__ import annotations

import functools
import re

from muxi_cli.memory import subjects

#: Things a person has one of at a time. Each pattern must match both facts.
SLOTS: dict[str, str] = {
    # "moved to" of a person, not of an account or an appointment.
    "home": r"lives? in|living in|(?-i:(?:User|[A-Z][a-z]+) moved to)|relocated|home address"
    r"|(?:flat|apartment|house) (?:in|on)|rents? (?:a |an |the )?(?:flat|apartment|house)",
    "job": r"works? (?:as|at|for)|working (?:as|at|for)|job|employer|employed|hired by"
    r"|joined \w+ as|new role",
    "manager": r"manager|boss|reports? to|supervisor",
    "diet": r"vegetarian|vegan|pescatarian|eats? (?:meat|fish)|no meat|diet\b",
    "phone": r"phone|iphone|pixel|galaxy|android",
    "laptop": r"laptop|macbook|thinkpad|notebook computer",
    "car": r"\bcar\b|drives? a|vehicle|renault|toyota|volkswagen|\bvw\b|tesla|\bbmw\b|audi"
    r"|fiat|peugeot|honda|hyundai|skoda|volvo|mercedes|nissan|mazda",
    "gym": r"\bgym\b|sports club|fitness (?:club|studio)",
    "bank": r"\bbanks? (?:with|at)|bank account|main account|\biban\b",
    "insurance": r"health insurance|insured with",
    "doctor": r"family doctor|\bgp\b|dentist is|doctor is",
    "salary": r"salary|earns? \S*\d|paid \S*\d|income is",
    "commute": r"commutes?|to the office|office on|works? from home",
    "sport": r"training for|marathon|\bswims?\b|swimming|\bruns? \d|running|cycling|yoga"
    r"|climbing|triathlon",
    "coffee": r"coffee|espresso|caffeine|decaf",
    "school": r"kindergarten|kita\b|daycare|nursery|\bschool\b",
    "language": r"learning (?:[A-Z]\w+)|lessons at|\b[ABC][12] level",
    "project": r"project is called|project was renamed|team project",
    "holiday": r"spends? (?:christmas|easter|new year|the holidays)"
    r"|spending (?:christmas|easter|new year|the holidays)",
}
_SLOTS = {name: re.compile(rf"(?:{pattern})", re.IGNORECASE) for name, pattern in SLOTS.items()}
#: Words that say something changed ("moved", "switched", "no longer"...).
CUES = re.compile(
    r"\b(?:moved|moving|now|new|switched|changed|no longer|started|quit|left|became|went back"
    r"|upgraded|replaced|renamed|cancelled|canceled|stopped|gave up|since|anymore|again"
    r"|instead)\b",
    re.IGNORECASE,
)

#: The cues that say a change by themselves, whatever the slot ("started" does not:
#: "Mila started kindergarten" does not replace "Mila's birthday is August 9").
STRONG_CUES = re.compile(
    r"\b(?:moved|switched|changed|no longer|quit|went back|upgraded|replaced|renamed"
    r"|cancelled|canceled|stopped|gave up|anymore)\b",
    re.IGNORECASE,
)

#: Query time: two facts of one slot this similar are about the same thing.
SLOT_SIMILARITY = 0.25
#: Query time: a newer fact with a change cue this similar to an older one updates it.
CUE_SIMILARITY = 0.6
#: Write time, no model: a newer fact of the same slot, with a change cue, this similar.
CLEAR_SIMILARITY = 0.40


@functools.lru_cache(maxsize=4096)
def slots(text: str) -> frozenset[str]:
    """The slots ``text`` is about (maybe none)."""
    return frozenset(name for name, pattern in _SLOTS.items() if pattern.search(text))


def has_cue(text: str) -> bool:
    return CUES.search(text) is not None


@functools.lru_cache(maxsize=4096)
def _mentions(text: str, relation: str) -> bool:
    """Whether ``text`` names someone of ``relation`` ("... with the parents")."""
    words = re.findall(r"[a-z]+", text.casefold())
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            key = tuple(words[start : start + size])
            if subjects.LEXICON.get(key) == relation:
                return True
    return False


def compatible(old_subject: str, old_text: str, new_subject: str, new_text: str) -> bool:
    """Whether two facts may be about the same thing of the same person: one subject,
    or the user's fact naming the other's relation ("User plans Christmas with the
    parents" / "User's parents will spend Christmas in Lisbon")."""
    if old_subject == new_subject:
        return True
    if subjects.USER not in (old_subject, new_subject):
        return False
    if old_subject == subjects.USER:
        return _mentions(old_text, new_subject)
    return _mentions(new_text, old_subject)


def shared_slots(old_text: str, new_text: str) -> frozenset[str]:
    return slots(old_text) & slots(new_text)


def same_person(old_subject: str, old_text: str, new_subject: str, new_text: str) -> bool:
    """:func:`compatible`, or both about the user's manager however it is worded."""
    return compatible(old_subject, old_text, new_subject, new_text) or "manager" in shared_slots(
        old_text, new_text
    )


def likely_update(
    old_text: str, old_subject: str, new_text: str, new_subject: str, similarity: float
) -> bool:
    """Recall's test: the newer fact probably replaces the older one."""
    same_slot = bool(shared_slots(old_text, new_text))
    # "User reports to Rita" is the user's sentence about the manager.
    if not same_person(old_subject, old_text, new_subject, new_text):
        return False
    if same_slot and similarity >= SLOT_SIMILARITY:
        return True
    return STRONG_CUES.search(new_text) is not None and similarity >= CUE_SIMILARITY


def clear_update(
    old_text: str, old_subject: str, new_text: str, new_subject: str, similarity: float
) -> bool:
    """The write side's test without a model: same person, same slot, a change cue,
    and similar; anything less links nothing."""
    return (
        old_subject == new_subject
        and bool(shared_slots(old_text, new_text))
        and has_cue(new_text)
        and similarity >= CLEAR_SIMILARITY
    )
