"""The time expressions `dates` understands: patterns, and what each one means.

Split from dates.py (the tokens, the API and the matching) to keep both readable; the
words are in datewords.py, ranges and the passes over the hits in dateranges.py.
Standard library only. The decisions are documented in dates.py.
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta

from muxi_cli.memory.dateranges import (
    RANGES,
    YEAR_AFTER,
    anchor_years,
    is_list,
    near_holidays,
    plausible_range,
    range_values,
    rx,
)
from muxi_cli.memory.datewords import (
    AMBIGUOUS,
    EASTER,
    HOLIDAY_KEYS,
    HOLIDAYS,
    MONTH_NAMES,
    MONTHS,
    NEXT_WORD,
    NUMBERS,
    PLAIN_AFTER,
    SEASONS,
    WEAK_QUALS,
    WEEKDAYS,
    Hit,
    add_months,
    easter,
    holiday_key,
    holiday_regex,
    month_end,
    parse_year,
    safe_date,
)

__all__ = ["MAX_CHARS", "YEARLY_CUE", "Hit", "add_months", "interpret", "is_list", "month_end",
           "next_yearly", "relative", "scan"]  # fmt: skip


_PARTS = {
    "M": r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?",
    "D": r"(?P<day>[0-3]?\d)(?P<suffix>st|nd|rd|th)?",
    "Y": r"(?P<year>(?:19|20)\d\d)",
    "Q": r"(?P<qual>in|during|between|by|until|till|since|from|before|after|through|"
    r"throughout|of|every|each|this|next|last|coming|early|mid|late|around|over|at|for|"
    r"(?:the )?(?:end|start|beginning|middle) of)",
    "N": r"(?P<n>\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r")",
    "U": r"(?P<unit>day|week|month|year)s?",
    "H": "|".join(holiday_regex(h) for h in sorted((*HOLIDAYS, *EASTER), key=len, reverse=True)),
    "W": "|".join(WEEKDAYS),
    # A range's first end: "14 to 16 December", "December 14-16", "28 December to 3 January".
    "J": r"\s*(?P<join>-|\u2013|to|through|until|till|and|or)\s*",
    "D1": r"(?P<day1>[0-3]?\d)(?:st|nd|rd|th)?",
    "Y1": r"(?P<year1>(?:19|20)\d\d)",
}
_PARTS["M1"] = _PARTS["M"].replace("<month>", "<month1>")
_MONTH_KEYS = tuple(name[:3] for name in MONTH_NAMES)
_UNIT_KEYS = ("day", "week", "month", "year")
#: Substrings (of the casefolded text) without which a pattern cannot match: a pattern
#: runs only when one is there, so a fact without dates costs a few `in` tests.
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "iso": ("-",), "numeric": ("/", "."), "numeric_dash": ("-",), "day_month": _MONTH_KEYS,
    "month_day": _MONTH_KEYS, "month": _MONTH_KEYS, "season": tuple(SEASONS),
    "holiday": ("christmas", "xmas", "boxing", "new year", "halloween", "valentine", "hogmanay",
                "bonfire", "fawkes", "patrick", "easter", "good friday"),
    "day_range": _MONTH_KEYS, "month_day_range": _MONTH_KEYS, "cross_range": _MONTH_KEYS,
    "month_day_cross": _MONTH_KEYS, "month_range": _MONTH_KEYS,
    "year": ("19", "20"), "weekday": tuple(WEEKDAYS), "rel_unit": (*_UNIT_KEYS, "weekend"),
    "in_n": _UNIT_KEYS, "n_ago": ("ago",), "next_n": _UNIT_KEYS,
    "day_word": ("today", "tonight", "tomorrow", "yesterday", "this ", "weekend"),
    "vague": ("upcoming", "coming up", "soon", "recently", "lately"),
}  # fmt: skip
_NEEDS_DIGIT = frozenset({"iso", "numeric", "numeric_dash", "year", "day_range",
                          "month_day_range", "cross_range", "month_day_cross"})  # fmt: skip
#: A range also needs one of these: most dated facts have none and skip the range patterns.
_RANGE_JOINS = ("-", "\u2013", " to ", " and ", " or ", "through", "until", "till")
_DIGIT = re.compile(r"\d")
# Each pattern is tried on its own; overlapping hits keep the earliest, then the longest.
_PATTERN_SOURCE = {
    # Ranges first: one hit for "14-16 December 2026" keeps the year for both ends.
    "day_range": r"\b(?:%(Q)s\s+)?(?:the\s+)?%(D1)s%(J)s(?:the\s+)?%(D)s\s+(?:of\s+)?%(M)s"
    r"(?:,?\s+%(Y)s)?\b",
    "month_day_range": r"\b(?:%(Q)s\s+)?%(M)s\s+(?:the\s+)?%(D1)s%(J)s(?:the\s+)?%(D)s(?!\d|:|\.\d)"
    r"(?:,?\s+%(Y)s)?\b",
    "cross_range": r"\b(?:%(Q)s\s+)?(?:the\s+)?%(D1)s\s+(?:of\s+)?%(M1)s(?:,?\s+%(Y1)s)?%(J)s"
    r"(?:the\s+)?%(D)s\s+(?:of\s+)?%(M)s(?:,?\s+%(Y)s)?\b",
    "month_day_cross": r"\b(?:%(Q)s\s+)?%(M1)s\s+(?:the\s+)?%(D1)s(?:,?\s+%(Y1)s)?%(J)s%(M)s\s+"
    r"(?:the\s+)?%(D)s(?!\d|:|\.\d)(?:,?\s+%(Y)s)?\b",
    "month_range": r"\b(?:%(Q)s\s+)?%(M1)s%(J)s%(M)s(?:,?\s+%(Y)s)?\b",
    "iso": r"\b(?P<year>\d{4})-(?P<mon>[01]\d)(?:-(?P<dd>[0-3]\d))?\b(?!-\d)",
    "numeric": r"\b(?P<a>[0-3]?\d)(?P<sep>[/.])(?P<b>[01]?\d)(?P=sep)(?P<year>\d{4}|\d\d)\b(?!\.\d)",
    "numeric_dash": r"\b(?P<a>[0-3]?\d)-(?P<b>[01]?\d)-(?P<year>\d{4})\b",
    "day_month": r"\b(?:%(Q)s\s+)?(?:the\s+)?%(D)s\s+(?:of\s+)?%(M)s(?:,?\s+%(Y)s)?\b",
    "month_day": r"\b(?:%(Q)s\s+)?%(M)s\s+(?:the\s+)?%(D)s(?!\d|:|\.\d)(?:,?\s+%(Y)s)?\b",
    "month": r"\b(?:%(Q)s\s+(?:the\s+month\s+of\s+)?)?%(M)s(?:,?\s+%(Y)s)?\b",
    "season": r"\b(?:%(Q)s\s+)?(?:the\s+)?(?P<season>spring|summer|autumn|fall|winter)"
    r"(?:\s+(?:of\s+)?%(Y)s)?\b",
    "holiday": r"\b(?:%(Q)s\s+)?(?P<holiday>%(H)s)\b(?:\s+%(Y)s\b)?",
    "year": r"\b(?P<qual>in|during|since|by|until|till|from|of|before|after|for|year|"
    r"around|through|throughout|the year)\s+%(Y)s\b",
    "weekday": r"\b(?:(?P<qual>this|next|last|on|coming|every|each)\s+)?(?P<weekday>%(W)s)(?P<plural>s)?\b",
    "rel_unit": r"\b(?P<qual>this|next|last|coming|past|previous|the following)\s+"
    r"(?P<unit>week|weekend|month|year)\b",
    "in_n": r"\b(?P<qual>in|within)\s+(?:the\s+next\s+)?(?:a\s+)?%(N)s(?:\s+of)?\s+%(U)s\b",
    "n_ago": r"\b%(N)s(?:\s+of)?\s+%(U)s\s+ago\b",
    "next_n": r"\b(?:the\s+)?(?P<qual>next|coming|past|last|following)\s+%(N)s\s+%(U)s\b",
    "day_word": r"\b(?P<word>the day after tomorrow|the day before yesterday|today|tonight|"
    r"tomorrow|yesterday|this morning|this afternoon|this evening|the weekend)\b",
    "vague": r"\b(?P<word>upcoming|coming up|soon|recently|lately)\b",
}


@functools.cache
def _patterns() -> tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]:
    """Compiled on first use, not at import (about 10 ms): importing stays cheap."""
    return tuple(
        (kind, _TRIGGERS[kind], re.compile(source % _PARTS, re.IGNORECASE))
        for kind, source in _PATTERN_SOURCE.items()
    )


YEARLY_CUE = re.compile(r"\b(?:every|each|annual|annually|yearly|usually|always)\b", re.I)
_JOIN = re.compile(r"\s*(?:and|or|to|through|until|till|-|–)\s*", re.I)


#: Only a text's start is read: a fact or a query is a sentence or two, and a hostile
#: 100 KB string must cost no more than this (every pattern is linear, but not free).
MAX_CHARS = 1000


def scan(text: str) -> list[Hit]:
    text = text[:MAX_CHARS]
    folded = text.casefold()
    digits = _DIGIT.search(text) is not None
    joined = any(j in folded for j in _RANGE_JOINS)
    hits = [
        Hit(m.start(), m.end(), kind, m)
        for kind, triggers, pattern in _patterns()
        if (digits or kind not in _NEEDS_DIGIT)
        and (joined or kind not in RANGES)
        and any(t in folded for t in triggers)
        for m in pattern.finditer(text)
    ]
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[Hit] = []
    for h in hits:
        if kept and h.start < kept[-1].end:
            continue
        if _plausible(h, text, kept[-1] if kept else None):
            kept.append(h)
    return near_holidays(anchor_years(kept, text), text)


def _listed(prev: Hit | None, h: Hit, text: str) -> bool:
    """A month right after another one: "between March and May", "April or May"."""
    return (
        prev is not None
        and prev.kind in ("month", "month_day", "day_month")
        and _JOIN.fullmatch(text, prev.end, h.start) is not None
    )


def _plausible(h: Hit, text: str, prev: Hit | None) -> bool:
    """Reject "may"/"march" the verb, "fall" the verb, "spring" the water, bare weekdays
    in plural ("on Fridays" is a habit, no date), lists read as ranges ("on 2 and 9 May")."""
    g = h.m.groupdict()
    if h.kind in RANGES:
        return plausible_range(h, text, g)
    if h.kind in ("month", "month_day", "day_month"):
        month = g["month"].casefold()
        if month in AMBIGUOUS:
            if h.kind == "month" and month not in MONTH_NAMES:
                return bool(g.get("year"))  # "Jan" alone is a name, "mar" a verb
            if h.kind == "month" and not (
                g.get("qual")
                or g.get("year")
                or _listed(prev, h, text)
                or rx(YEAR_AFTER).match(text, h.end)
            ):
                return False
            qual = (g.get("qual") or "").casefold()
            if h.kind == "month" and not g.get("year") and qual in WEAK_QUALS:
                nxt = NEXT_WORD.match(text, h.end)
                word = nxt.group(1) if nxt else None
                if word and word.isalpha() and word.casefold() not in PLAIN_AFTER:
                    return False  # "this may take a while", "for may be"
            if h.kind == "month_day" and not g.get("suffix") and not g.get("year"):
                nxt = NEXT_WORD.match(text, h.end)
                word = nxt.group(1) if nxt else None
                if word and word.casefold() not in PLAIN_AFTER and word.isalpha():
                    return False  # "may 3 people come"
        elif (
            h.kind == "month" and month not in MONTH_NAMES and not (g.get("qual") or g.get("year"))
        ):
            return False  # "Jun" alone is a name more often than a month
        if h.kind == "month" and (g.get("qual") or "").casefold() == "to":
            return False
    if h.kind == "season" and g["season"].casefold() in ("spring", "fall"):
        return bool(g.get("qual") or g.get("year"))
    if h.kind == "weekday" and g.get("plural"):
        return False
    if h.kind == "numeric" and g["sep"] == "." and len(g["year"]) == 2:
        return False  # "3.11.20" is a version
    if h.kind in ("day_month", "month_day"):
        return 1 <= int(g["day"]) <= 31
    return True


def next_yearly(today: date, m1: int, d1: int | None, m2: int, d2: int | None,
                 qual: str) -> tuple[date, date]:  # fmt: skip
    """The occurrence of a yearly range a query means: the next one (or the current one),
    "last": the latest finished, "next": the one after the current."""

    def at(year: int) -> tuple[date, date]:
        start = date(year, m1, d1 or 1) if safe_date(year, m1, d1 or 1) else date(year, m1, 28)
        end_year = year + (1 if (m2, d2 or 31) < (m1, d1 or 1) else 0)
        end = safe_date(end_year, m2, d2) if d2 else month_end(end_year, m2)
        return start, end or date(end_year, m2, 28)

    # Whole months count as current until their last day: "in December" on 6 December
    # is this December.
    candidates = [at(y) for y in range(today.year - 1, today.year + 3)]
    if qual == "last":
        return [c for c in candidates if c[1] < today][-1]
    if qual == "next":
        return next(c for c in candidates if c[0] > today)
    return next(c for c in candidates if c[1] >= today)


def _week(today: date, offset: int) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
    return monday, monday + timedelta(days=6)


def _weekend(today: date, offset: int) -> tuple[date, date]:
    if today.weekday() == 6:
        saturday = today - timedelta(days=1)
    else:
        saturday = today + timedelta(days=5 - today.weekday())
    saturday += timedelta(weeks=offset)
    return saturday, saturday + timedelta(days=1)


def _unit_span(anchor: date, unit: str) -> tuple[date, date]:
    """The calendar day, week, month or year containing anchor."""
    if unit == "day":
        return anchor, anchor
    if unit == "week":
        return _week(anchor, 0)
    if unit == "month":
        return anchor.replace(day=1), month_end(anchor.year, anchor.month)
    return date(anchor.year, 1, 1), date(anchor.year, 12, 31)


def _shift(today: date, unit: str, n: int) -> date:
    if unit == "day":
        return today + timedelta(days=n)
    if unit == "week":
        return today + timedelta(weeks=n)
    return add_months(today, n * (12 if unit == "year" else 1))


def relative(h: Hit, today: date) -> tuple[date, date] | None:
    """Days a relative expression names, seen from today (None: a vague word in a fact)."""
    g = {k: (v.casefold() if isinstance(v, str) else v) for k, v in h.m.groupdict().items()}
    qual = g.get("qual") or ""
    if h.kind == "holiday":  # Easter without a year: the one the qualifier picks
        _fact, first, last = EASTER[HOLIDAY_KEYS[holiday_key(g["holiday"])]]
        spans = [(easter(y) + timedelta(days=first), easter(y) + timedelta(days=last))
                 for y in range(today.year - 1, today.year + 3)]  # fmt: skip
        if qual == "last":
            return [c for c in spans if c[1] < today][-1]
        return next(c for c in spans if (c[0] > today if qual == "next" else c[1] >= today))
    if h.kind == "day_word":
        word = g["word"]
        if word == "the weekend":
            return _weekend(today, 0)
        offset = {"tomorrow": 1, "yesterday": -1, "the day after tomorrow": 2,
                  "the day before yesterday": -2}.get(word, 0)  # fmt: skip
        day = today + timedelta(days=offset)
        return day, day
    if h.kind == "vague":
        if g["word"] in ("recently", "lately"):
            return today - timedelta(days=30), today
        return today, today + timedelta(days=30)
    if h.kind == "weekday":
        wd = WEEKDAYS[g["weekday"]]
        ahead = (wd - today.weekday()) % 7
        if qual == "last":
            day = today - timedelta(days=(today.weekday() - wd) % 7 or 7)
        else:
            day = today + timedelta(days=ahead or (7 if qual == "next" else 0))
        return day, day
    if h.kind == "rel_unit":
        unit = g["unit"]
        if qual in ("past", "coming") and unit != "weekend":
            length = {"week": 7, "month": 30, "year": 365}[unit]
            if qual == "past":
                return today - timedelta(days=length), today
            return today, today + timedelta(days=length)
        offset = {"this": 0, "next": 1, "the following": 1, "last": -1, "previous": -1}[qual]
        if unit == "weekend":
            return _weekend(today, offset)
        return _unit_span(_shift(today, unit, offset), unit)
    n = int(g["n"]) if g["n"].isdigit() else NUMBERS[g["n"]]
    unit = g["unit"]
    if h.kind == "in_n":
        if qual == "within" or "next" in h.m.group(0).casefold():
            return today, _shift(today, unit, n)
        return _unit_span(_shift(today, unit, n), unit)
    if h.kind == "n_ago":
        return _unit_span(_shift(today, unit, -n), unit)
    # next_n: "the next three days", "the past two weeks"
    if qual in ("past", "last"):
        return _shift(today, unit, -n), today
    return today, _shift(today, unit, n)


def interpret(h: Hit, today: date | None = None) -> tuple[str, tuple[int, ...], str]:
    """("abs", (y1, m1, d1, y2, m2, d2)) | ("yearly", (m1, d1, m2, d2, fact_m, fact_d))
    | ("rel", ()), with the qualifier ("last", "next", "every"...). A hit anchored to
    "this/next/last year" needs today: without it, it is relative (a fact drops it)."""
    g = {k: (v.casefold() if isinstance(v, str) else v) for k, v in h.m.groupdict().items()}
    qual = g.get("qual") or ""
    year = parse_year(g["year"]) if g.get("year") else None
    if h.years_on is not None:
        if today is None:
            return "rel", (), qual
        year = today.year + h.years_on
    if h.kind == "iso":
        month = int(g["mon"])
        if g.get("dd"):
            return "abs", (year or 0, month, int(g["dd"])) * 2, qual
        return "abs", (year or 0, month, 0) * 2, qual
    if h.kind in ("numeric", "numeric_dash"):
        day, month = int(g["a"]), int(g["b"])
        if month > 12 >= day:
            day, month = month, day  # "01/14/2027" can only be month first
        return "abs", (year or 0, month, day) * 2, qual
    if h.kind in RANGES:
        return range_values(g, year, qual)
    if h.kind in ("day_month", "month_day"):
        month, day = MONTHS[g["month"].rstrip(".")], int(g["day"])
        if year:
            return "abs", (year, month, day) * 2, qual
        return "yearly", (month, day, month, day, month, day), qual
    if h.kind == "month":
        month = MONTHS[g["month"].rstrip(".")]
        if year:
            return "abs", (year, month, 0) * 2, qual
        return "yearly", (month, 0, month, 0, month, 0), qual
    if h.kind == "season":
        first = SEASONS[g["season"]]
        last = (first + 1) % 12 + 1
        if year:
            return "abs", (year, first, 0, year + (last < first), last, 0), qual
        return "yearly", (first, 0, last, 0, first, 0), qual
    if h.kind == "holiday":
        name = HOLIDAY_KEYS.get(holiday_key(g["holiday"]), "christmas")
        if name in EASTER:
            if not year:
                return "rel", (), qual  # a moveable feast: resolved against today
            feast = easter(year) + timedelta(days=EASTER[name][0])
            return "abs", (year, feast.month, feast.day) * 2, qual
        fact, first, last = HOLIDAYS[name]
        fm, fd = divmod(fact, 100)
        if year:
            return "abs", (year, fm, fd, year, fm, fd), qual
        return "yearly", (*divmod(first, 100), *divmod(last, 100), fm, fd), qual
    if h.kind == "year":
        return "abs", (year or 0, 0, 0) * 2, qual
    return "rel", (), qual
