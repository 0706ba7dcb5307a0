"""The time expressions `dates` understands: patterns, and what each one means.

Split from dates.py (the tokens, the API and the matching) to keep both readable;
standard library only. The decisions are documented in dates.py.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import date, timedelta


def _words(text: str) -> list[str]:
    return text.split()


_MONTH_NAMES = _words(
    "january february march april may june july august september october november december"
)
MONTHS: dict[str, int] = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
MONTHS.update({name[:3]: i + 1 for i, name in enumerate(_MONTH_NAMES)})
MONTHS["sept"] = 9
#: Month names that are also everyday words: months only in a date context.
_AMBIGUOUS = frozenset({"may", "march", "august", "mar", "aug", "jan", "dec"})
WEEKDAYS = {
    d: i for i, d in enumerate(_words("monday tuesday wednesday thursday friday saturday sunday"))
}
_NUMBERS = {
    w: i
    for i, w in enumerate(
        _words("zero one two three four five six seven eight nine ten eleven twelve")
    )
}
_NUMBERS.update({"a": 1, "an": 1, "couple": 2, "few": 3})
#: Meteorological seasons of the northern hemisphere: first month, three months long.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
#: Fixed-date holidays as MMDD: (the day a fact means, the first and last day a query means).
HOLIDAYS: dict[str, tuple[int, int, int]] = {
    "christmas eve": (1224, 1224, 1224), "christmas day": (1225, 1225, 1225),
    "christmas": (1225, 1224, 1226), "xmas": (1225, 1224, 1226),
    "boxing day": (1226, 1226, 1226), "new year's eve": (1231, 1231, 1231),
    "new year's day": (101, 101, 101), "new year's": (101, 1231, 101),
    "new year": (101, 1231, 101), "halloween": (1031, 1031, 1031),
    "valentine's day": (214, 214, 214), "valentine's": (214, 214, 214),
}  # fmt: skip

_PARTS = {
    "M": r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?",
    "D": r"(?P<day>[0-3]?\d)(?P<suffix>st|nd|rd|th)?",
    "Y": r"(?P<year>(?:19|20)\d\d)",
    "Q": r"(?P<qual>in|during|between|by|until|till|since|from|before|after|through|"
    r"throughout|of|every|each|this|next|last|coming|early|mid|late|around|over|at|for|"
    r"(?:the )?(?:end|start|beginning|middle) of)",
    "N": r"(?P<n>\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r")",
    "U": r"(?P<unit>day|week|month|year)s?",
    "H": "|".join(h.replace("'", "'?") for h in sorted(HOLIDAYS, key=len, reverse=True)),
    "W": "|".join(WEEKDAYS),
}
_MONTH_KEYS = tuple(name[:3] for name in _MONTH_NAMES)
_UNIT_KEYS = ("day", "week", "month", "year")
#: Substrings (of the casefolded text) without which a pattern cannot match: a pattern
#: runs only when one is there, so a fact without dates costs a few `in` tests.
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "iso": ("-",), "numeric": ("/", "."), "numeric_dash": ("-",), "day_month": _MONTH_KEYS,
    "month_day": _MONTH_KEYS, "month": _MONTH_KEYS, "season": tuple(SEASONS),
    "holiday": ("christmas", "xmas", "boxing", "new year", "halloween", "valentine"),
    "year": ("19", "20"), "weekday": tuple(WEEKDAYS), "rel_unit": (*_UNIT_KEYS, "weekend"),
    "in_n": _UNIT_KEYS, "n_ago": ("ago",), "next_n": _UNIT_KEYS,
    "day_word": ("today", "tonight", "tomorrow", "yesterday", "this ", "weekend"),
    "vague": ("upcoming", "coming up", "soon", "recently", "lately"),
}  # fmt: skip
_NEEDS_DIGIT = frozenset({"iso", "numeric", "numeric_dash", "year"})
_DIGIT = re.compile(r"\d")
# Each pattern is tried on its own; overlapping hits keep the earliest, then the longest.
_PATTERN_SOURCE = {
    "iso": r"\b(?P<year>\d{4})-(?P<mon>[01]\d)(?:-(?P<dd>[0-3]\d))?\b(?!-\d)",
    "numeric": r"\b(?P<a>[0-3]?\d)(?P<sep>[/.])(?P<b>[01]?\d)(?P=sep)(?P<year>\d{4}|\d\d)\b(?!\.\d)",
    "numeric_dash": r"\b(?P<a>[0-3]?\d)-(?P<b>[01]?\d)-(?P<year>\d{4})\b",
    "day_month": r"\b(?:%(Q)s\s+)?(?:the\s+)?%(D)s\s+(?:of\s+)?%(M)s(?:,?\s+%(Y)s)?\b",
    "month_day": r"\b(?:%(Q)s\s+)?%(M)s\s+(?:the\s+)?%(D)s(?!\d|:|\.\d)(?:,?\s+%(Y)s)?\b",
    "month": r"\b(?:%(Q)s\s+(?:the\s+month\s+of\s+)?)?%(M)s(?:,?\s+%(Y)s)?\b",
    "season": r"\b(?:%(Q)s\s+)?(?:the\s+)?(?P<season>spring|summer|autumn|fall|winter)"
    r"(?:\s+(?:of\s+)?%(Y)s)?\b",
    "holiday": r"\b(?:%(Q)s\s+)?(?P<holiday>%(H)s)(?:\s+%(Y)s)?",
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
#: Qualifiers that also sit before the verb "may": "this may", "that ... for may".
_WEAK_QUALS = frozenset(_words("this next last coming every each of for at over by around"))
_PLAIN_AFTER = frozenset(_words("and or to at in on for until through , . ! ? ; )"))
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+|[^\s\w])?")


class Hit:
    """One expression found: where, which pattern, its match. (A plain class: a
    dataclass would cost more at import than all the patterns.)"""

    __slots__ = ("end", "kind", "m", "start")

    def __init__(self, start: int, end: int, kind: str, m: re.Match[str]) -> None:
        self.start, self.end, self.kind, self.m = start, end, kind, m


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, min(d.day, calendar.monthrange(d.year + y, m + 1)[1]))


def _year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y


def scan(text: str) -> list[Hit]:
    folded = text.casefold()
    digits = _DIGIT.search(text) is not None
    hits = [
        Hit(m.start(), m.end(), kind, m)
        for kind, triggers, pattern in _patterns()
        if (digits or kind not in _NEEDS_DIGIT) and any(t in folded for t in triggers)
        for m in pattern.finditer(text)
    ]
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[Hit] = []
    for h in hits:
        if kept and h.start < kept[-1].end:
            continue
        if _plausible(h, text, kept[-1] if kept else None):
            kept.append(h)
    return kept


def _listed(prev: Hit | None, h: Hit, text: str) -> bool:
    """A month right after another one: "between March and May", "April or May"."""
    return (
        prev is not None
        and prev.kind in ("month", "month_day", "day_month")
        and _JOIN.fullmatch(text, prev.end, h.start) is not None
    )


def _plausible(h: Hit, text: str, prev: Hit | None) -> bool:
    """Reject "may"/"march" the verb, "fall" the verb, "spring" the water, bare weekdays
    in plural ("on Fridays" is a habit, no date)."""
    g = h.m.groupdict()
    if h.kind in ("month", "month_day", "day_month"):
        month = g["month"].casefold()
        if month in _AMBIGUOUS:
            if h.kind == "month" and month not in _MONTH_NAMES:
                return bool(g.get("year"))  # "Jan" alone is a name, "mar" a verb
            if h.kind == "month" and not (g.get("qual") or g.get("year") or _listed(prev, h, text)):
                return False
            qual = (g.get("qual") or "").casefold()
            if h.kind == "month" and not g.get("year") and qual in _WEAK_QUALS:
                nxt = _NEXT_WORD.match(text, h.end)
                word = nxt.group(1) if nxt else None
                if word and word.isalpha() and word.casefold() not in _PLAIN_AFTER:
                    return False  # "this may take a while", "for may be"
            if h.kind == "month_day" and not g.get("suffix") and not g.get("year"):
                nxt = _NEXT_WORD.match(text, h.end)
                word = nxt.group(1) if nxt else None
                if word and word.casefold() not in _PLAIN_AFTER and word.isalpha():
                    return False  # "may 3 people come"
        elif (
            h.kind == "month" and month not in _MONTH_NAMES and not (g.get("qual") or g.get("year"))
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
        start = date(year, m1, d1 or 1) if _safe_date(year, m1, d1 or 1) else date(year, m1, 28)
        end_year = year + (1 if (m2, d2 or 31) < (m1, d1 or 1) else 0)
        end = _safe_date(end_year, m2, d2) if d2 else month_end(end_year, m2)
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
    n = int(g["n"]) if g["n"].isdigit() else _NUMBERS[g["n"]]
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


def interpret(h: Hit) -> tuple[str, tuple[int, ...], str]:
    """("abs", (y1, m1, d1, y2, m2, d2)) | ("yearly", (m1, d1, m2, d2, fact_m, fact_d))
    | ("rel", ()), with the qualifier ("last", "next", "every"...)."""
    g = {k: (v.casefold() if isinstance(v, str) else v) for k, v in h.m.groupdict().items()}
    qual = g.get("qual") or ""
    year = _year(g["year"]) if g.get("year") else None
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
        name = g["holiday"].replace("years", "year's").replace("valentines", "valentine's")
        fact, first, last = HOLIDAYS.get(name, HOLIDAYS["christmas"])
        fm, fd = divmod(fact, 100)
        if year:
            return "abs", (year, fm, fd, year, fm, fd), qual
        return "yearly", (*divmod(first, 100), *divmod(last, 100), fm, fd), qual
    if h.kind == "year":
        return "abs", (year or 0, 0, 0) * 2, qual
    return "rel", (), qual
