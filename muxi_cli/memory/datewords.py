"""The words and calendar arithmetic of `dates`: month names, holidays, Easter, a hit.

The bottom layer of dates.py -> dateparse.py -> dateranges.py -> here; standard
library only, nothing compiled at import but two small patterns.
"""

from __future__ import annotations

import calendar
import re
from datetime import date


def _words(text: str) -> list[str]:
    return text.split()


MONTH_NAMES = _words(
    "january february march april may june july august september october november december"
)
MONTHS: dict[str, int] = {name: i + 1 for i, name in enumerate(MONTH_NAMES)}
MONTHS.update({name[:3]: i + 1 for i, name in enumerate(MONTH_NAMES)})
MONTHS["sept"] = 9
#: Month names that are also everyday words: months only in a date context.
AMBIGUOUS = frozenset({"may", "march", "august", "mar", "aug", "jan", "dec"})
WEEKDAYS = {
    d: i for i, d in enumerate(_words("monday tuesday wednesday thursday friday saturday sunday"))
}
NUMBERS = {
    w: i
    for i, w in enumerate(
        _words("zero one two three four five six seven eight nine ten eleven twelve")
    )
}
NUMBERS.update({"a": 1, "an": 1, "couple": 2, "few": 3})
#: Meteorological seasons of the northern hemisphere: first month, three months long.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
#: Fixed-date holidays as MMDD: (the day a fact means, the first and last day a query means).
HOLIDAYS: dict[str, tuple[int, int, int]] = {
    "christmas eve": (1224, 1224, 1224), "christmas day": (1225, 1225, 1225),
    "christmas": (1225, 1224, 1226), "xmas": (1225, 1224, 1226),
    "boxing day": (1226, 1226, 1226), "new year's eve": (1231, 1231, 1231),
    "new year's day": (101, 101, 101), "new year's": (101, 1231, 101),
    "new year": (101, 1231, 101), "hogmanay": (1231, 1231, 1231),
    "halloween": (1031, 1031, 1031), "valentine's day": (214, 214, 214),
    "valentine's": (214, 214, 214), "bonfire night": (1105, 1105, 1105),
    "guy fawkes night": (1105, 1105, 1105), "st patrick's day": (317, 317, 317),
    "saint patrick's day": (317, 317, 317),
}  # fmt: skip
#: Easter moves: days from Easter Sunday (the day a fact means, the first and last a query means).
EASTER: dict[str, tuple[int, int, int]] = {
    "good friday": (-2, -2, -2), "easter sunday": (0, 0, 0), "easter monday": (1, 1, 1),
    "easter weekend": (0, -2, 1), "easter": (0, -2, 1),
}  # fmt: skip


def holiday_key(name: str) -> str:
    """ "St. Patrick's  Day" -> "st patricks day" (string methods: no regex at import)."""
    return " ".join(name.casefold().replace(".", "").replace("'", "").replace("\u2019", "").split())


HOLIDAY_KEYS = {holiday_key(k): k for k in (*HOLIDAYS, *EASTER)}


def easter(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def holiday_regex(name: str) -> str:
    out = re.escape(name).replace("'", "['\u2019]?").replace(r"\ ", r"\s+")
    return r"st\.?" + out[2:] if name.startswith("st ") else out


#: Qualifiers that also sit before the verb "may": "this may", "that ... for may".
WEAK_QUALS = frozenset(_words("this next last coming every each of for at over by around"))
PLAIN_AFTER = frozenset(_words("and or to at in on for until through , . ! ? ; )"))
NEXT_WORD = re.compile(r"\s*([^\W\d_]+|[^\s\w])?")


class Hit:
    """One expression found: where, which pattern, its match. (A plain class: a
    dataclass would cost more at import than all the patterns.)"""

    __slots__ = ("end", "kind", "m", "start", "years_on")

    def __init__(self, start: int, end: int, kind: str, m: re.Match[str]) -> None:
        self.start, self.end, self.kind, self.m = start, end, kind, m
        #: "in May next year": the year is today's plus this (None: no such anchor).
        self.years_on: int | None = None


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, min(d.day, calendar.monthrange(d.year + y, m + 1)[1]))


def parse_year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y
