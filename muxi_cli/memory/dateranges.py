"""Ranges ("14-16 December 2026"), years anchored by words ("in May next year") and
holiday words next to a day: the passes `dateparse.scan` makes over its hits.

Standard library only; the decisions are documented in dates.py.
"""

from __future__ import annotations

import functools
import re

from muxi_cli.memory.datewords import (
    AMBIGUOUS,
    MONTHS,
    NEXT_WORD,
    PLAIN_AFTER,
    Hit,
    parse_year,
)

#: Kinds that name a month or days of one but no year: "next year" may anchor them.
_YEARLESS = frozenset(("day_month", "month_day", "month", "season", "holiday", "day_range",
                       "month_day_range", "cross_range", "month_day_cross", "month_range"))  # fmt: skip
YEAR_AFTER = r",?\s+(?:this|next|last)\s+year\b"
_ANCHOR_GAP = r",?\s*(?:in\s+|on\s+)?"
#: Kinds that name particular days: a holiday word next to one is an occasion, not a date
#: ("Christmas party on December 18").
_DAY_KINDS = frozenset(("iso", "numeric", "numeric_dash", "day_month", "month_day", "day_range",
                        "month_day_range", "cross_range", "month_day_cross", "weekday",
                        "day_word"))  # fmt: skip
_HOLIDAY_GAP = r"[^.;!?]{0,30}"
_CLAUSE = r"\b(?:and|but|then|while|whereas)\b|,"


@functools.cache
def rx(source: str) -> re.Pattern[str]:
    """Compiled on first use: importing stays cheap."""
    return re.compile(source, re.IGNORECASE)


def _is_year_word(h: Hit) -> bool:
    return h.kind == "rel_unit" and h.m.group("unit").casefold() == "year"


def anchor_years(hits: list[Hit], text: str) -> list[Hit]:
    """Merge "May" and "next year" (either order) into one hit: May of next year."""
    out: list[Hit] = []
    for h in hits:
        prev = out[-1] if out else None
        if prev is None or not rx(_ANCHOR_GAP).fullmatch(text, prev.end, h.start):
            out.append(h)
            continue
        if prev.kind in _YEARLESS and _is_year_word(h):
            date_hit, rel = prev, h
        elif _is_year_word(prev) and h.kind in _YEARLESS:
            date_hit, rel = h, prev
        else:
            out.append(h)
            continue
        offset = _YEAR_OFFSETS.get(rel.m.group("qual").casefold())
        if offset is None or date_hit.years_on is not None or date_hit.m.groupdict().get("year"):
            out.append(h)
            continue
        merged = Hit(prev.start, h.end, date_hit.kind, date_hit.m)
        merged.years_on = offset
        out[-1] = merged
    return out


_YEAR_OFFSETS = {"this": 0, "next": 1, "the following": 1, "last": -1, "previous": -1}


def near_holidays(hits: list[Hit], text: str) -> list[Hit]:
    """Drop a holiday word right next to an explicit day in the same clause: the
    holiday names the occasion, the day its date ("Christmas party on 18 December")."""
    if not any(h.kind == "holiday" for h in hits):
        return hits

    def near(a: Hit, b: Hit) -> bool:
        lo, hi = (a.end, b.start) if a.end <= b.start else (b.end, a.start)
        return (
            b.kind in _DAY_KINDS
            and rx(_HOLIDAY_GAP).fullmatch(text, lo, hi) is not None
            and not rx(_CLAUSE).search(text, lo, hi)
        )

    # Only the neighbours: the hits are in order, and this stays linear in their number.
    return [
        h
        for i, h in enumerate(hits)
        if h.kind != "holiday"
        or not ((i > 0 and near(h, hits[i - 1])) or (i + 1 < len(hits) and near(h, hits[i + 1])))
    ]


RANGES = frozenset(("day_range", "month_day_range", "cross_range", "month_day_cross",
                     "month_range"))  # fmt: skip


def is_list(h: Hit) -> bool:
    """ "on 2 and 9 January": two days of one month, not the days between."""
    g = h.m.groupdict()
    return (
        h.kind in ("day_range", "month_day_range")
        and (g["join"] or "").casefold() in ("and", "or")
        and (g.get("qual") or "").casefold() != "between"
    )


def plausible_range(h: Hit, text: str, g: dict[str, str | None]) -> bool:
    qual = (g.get("qual") or "").casefold()
    if (
        h.kind not in ("day_range", "month_day_range")
        and (g["join"] or "").casefold() in ("and", "or")
        and qual != "between"
    ):
        return False  # "in March and May", "2 May and 9 June": two dates, found one by one
    second = (g["month"] or "").casefold().rstrip(".")
    first = (g.get("month1") or second).casefold().rstrip(".")
    if h.kind == "month_range":
        return bool(g.get("year") or qual in ("from", "between")) and first != second
    d1, d2 = int(g["day1"] or 0), int(g["day"] or 0)
    if not (1 <= d1 <= 31 and 1 <= d2 <= 31):
        return False
    if h.kind in ("day_range", "month_day_range") and d1 >= d2:
        return False
    if first in AMBIGUOUS and h.kind.startswith("month_day") and not (g.get("year") or qual):
        nxt = NEXT_WORD.match(text, h.end)
        word = nxt.group(1) if nxt else None
        if word and word.isalpha() and word.casefold() not in PLAIN_AFTER:
            return False  # "may 3 to 5 people come"
    return True


def range_values(
    g: dict[str, str | None], year: int | None, qual: str
) -> tuple[str, tuple[int, ...], str]:
    """A range's two ends; a year written once (at the end, or after the first end) holds
    for both, the first end in the year before when the range crosses new year."""
    m2 = MONTHS[(g["month"] or "").rstrip(".")]
    m1 = MONTHS[(g.get("month1") or g["month"] or "").rstrip(".")]
    d1, d2 = int(g.get("day1") or 0), int(g.get("day") or 0)
    crosses = (m2, d2) < (m1, d1)
    year1 = g.get("year1")
    y1 = parse_year(year1) if year1 else None
    if y1 and not year:
        year = y1 + crosses
    if not year:
        return "yearly", (m1, d1, m2, d2, m1, d1), qual
    return "abs", (y1 or year - crosses, m1, d1, year, m2, d2), qual
