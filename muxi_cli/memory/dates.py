"""Dates in memories and in queries, standard library only.

The write side stores the dates a fact mentions as tokens (`fact_dates`); the ranking
resolves a query's time expression to a span of days (`query_span`) and checks tokens
against it (`matches`). Tokens:

- `YYYY-MM-DD`, `YYYY-MM`, `YYYY`: a day, month or year of the calendar;
- `--MM-DD`, `--MM`: every year (a birthday, "every December"), ISO 8601's yearless form.

Decisions:
- Numeric dates are day first ("14/01/2027" is 14 January; UK and most of the world);
  month first only when the day-first reading is impossible ("01/14/2027").
- A fact's date without a year is yearly ("birthday is 2 April" -> `--04-02`): it
  matches that day in any year. Relative dates in a fact ("tomorrow", "next month",
  "two years ago") resolve against the time it was said, and are dropped without one.
- A query's date names particular days: "in January" is the next January on or after
  the current month, "on March 3" the next March 3 on or after today, "over Christmas"
  the next 24-26 December, "in spring" the current or next meteorological spring of the
  northern hemisphere (March-May; summer June-August, autumn/fall September-November,
  winter December-February). "every"/"each"/"usually"/"annually" makes the span yearly.
- "next Friday" is the first Friday after today; "on Friday"/"this Friday" the first on
  or after today. "next weekend" is the weekend after this (or the current) one.
- "May", "March" and "August" are months only in a date context ("in May", "May 3",
  "3 May", "May 2027", "early March", "May next year"), never as the verb or the adjective.
- A range's year written once holds for both ends ("December 14 to 16, 2026",
  "14-16 December 2026", "28 December to 3 January 2027": the first end in 2026);
  "between 2 and 9 January" is a range, "on 2 and 9 January" two days.
- "in May next year", "in March this year", "last year in June": that month of that
  year (resolved against now, or the time a fact was said; dropped without one).
- A holiday word right next to an explicit day in the same clause names the occasion,
  not a second date: "Christmas party on December 18" is 18 December only.
- Easter moves: a query's "Easter" is Good Friday to Easter Monday (the next, "last" or
  "next" one); a fact's is Easter Sunday of its year ("Easter 2027"), or the one "this",
  "next" or "last" picks; a bare "spent Easter in Porto" names no day.
- Only the first MAX_CHARS (1,000) characters are read: a fact or a query is a sentence
  or two, and a hostile 100 KB string costs a few milliseconds.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from muxi_cli.memory.dateparse import (
    MAX_CHARS,
    YEARLY_CUE,
    add_months,
    interpret,
    is_list,
    month_end,
    next_yearly,
    relative,
    scan,
)
from muxi_cli.memory.datewords import Hit


@dataclass(frozen=True)
class Span:
    """Inclusive days; `yearly` spans match the same days in any year."""

    start: date
    end: date
    yearly: bool = False


def _bounds(v: tuple[int, ...]) -> tuple[date, date] | None:
    """Concrete (y1, m1, d1, y2, m2, d2) to days; 0 means the whole month or year."""
    y1, m1, d1, y2, m2, d2 = v
    try:
        start = date(y1, m1 or 1, d1 or 1)
        end = date(y2, m2 or 12, d2) if d2 else month_end(y2, m2 or 12)
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _tokens(start: date, end: date) -> list[str]:
    """The fewest tokens naming these days: a day, whole months, a whole year."""
    if start == end:
        return [start.isoformat()]
    if start == date(start.year, 1, 1) and end == date(start.year, 12, 31):
        return [str(start.year)]
    if start.day == 1 and end == month_end(end.year, end.month):
        out, d = [], start
        while d <= end:
            out.append(f"{d.year:04d}-{d.month:02d}")
            d = add_months(d, 1)
        return out
    if (end - start).days <= 14:
        return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    return _tokens(start.replace(day=1), month_end(end.year, end.month))


def _yearly_tokens(m1: int, d1: int, m2: int, d2: int) -> list[str]:
    """Yearly tokens of a yearly range: its days up to two weeks, else its months."""
    end_year = 2000 + ((m2, d2) < (m1, d1))  # 2000 is a leap year: 29 February exists
    try:
        start, end = date(2000, m1, d1 or 1), date(end_year, m2, d2 or 28)
    except ValueError:
        return []
    if d1 and d2 and (end - start).days <= 14:
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [f"--{d.month:02d}-{d.day:02d}" for d in days]
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    return [f"--{(m1 - 1 + i) % 12 + 1:02d}" for i in range(months)]


_PICKS_ONE = frozenset(("this", "next", "last", "coming"))


def _utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


#: Words that make a fact's one-day date an anniversary as well.
RECURRING_CUE = re.compile(
    r"\b(born|birthday|married|wedding|anniversary|died|passed away|engaged)\b", re.IGNORECASE
)


def fact_dates(text: str, said_at: float | None = None) -> list[str]:
    """The date tokens a fact mentions, in order, without repeats.

    "on 14 January 2027" -> ["2027-01-14"]; "birthday is 2 April" -> ["--04-02"];
    "every December" -> ["--12"]; "tomorrow" -> the day after said_at (dropped without)."""
    today = _utc_day(said_at) if said_at is not None else None
    text = text[:MAX_CHARS]
    out: list[str] = []
    for h in scan(text):
        try:
            found = _hit_tokens(h, text, today)
        except (OverflowError, ValueError):
            continue  # a date past the calendar's ends ("in 99999999 days") names no day
        out.extend(t for t in found if t not in out)
    return out


def _hit_tokens(h: Hit, text: str, today: date | None) -> list[str]:
    """The tokens of one date expression ``h`` found in the fact ``text``."""
    kind, v, qual = interpret(h, today)
    if kind == "abs":
        days = _bounds(v)
        if days and is_list(h):
            found = [days[0].isoformat(), days[1].isoformat()]
            days = None  # two days, not the recurring one below
        else:
            found = _tokens(*days) if days else []
        if days and days[0] == days[1] and RECURRING_CUE.search(text):
            # A birth or wedding date comes back every year: "what's on in June"
            # should find "married on 30 June 1966".
            found.append(f"--{days[0].month:02d}-{days[0].day:02d}")
        return found
    if kind == "yearly":
        m1, d1, m2, d2, fm, fd = v
        if d1 and (h.kind == "holiday" or (m1, d1) == (m2, d2)):
            return [f"--{fm:02d}-{fd:02d}"]  # a holiday is its day, not the query's days
        if is_list(h):
            return [f"--{m1:02d}-{d1:02d}", f"--{m2:02d}-{d2:02d}"]
        return _yearly_tokens(m1, d1, m2, d2)
    # A habit ("every Friday", "at the weekend") or a vague word names no day.
    habitual = qual in ("every", "each") or h.m.groupdict().get("word") in (
        "the weekend", "soon", "upcoming", "coming up", "recently", "lately")  # fmt: skip
    # "spent Easter in Porto" names no particular Easter; "next Easter" does.
    habitual = habitual or (h.kind == "holiday" and qual not in _PICKS_ONE)
    days = None if today is None or habitual else relative(h, today)
    return _tokens(*days) if days else []


def query_span(query: str, now: float) -> Span | None:
    """The days a query's time expression names, seen from now (UTC); None without one.

    Several expressions give the span covering them all ("between March and May")."""
    today = _utc_day(now)
    query = query[:MAX_CHARS]
    spans: list[tuple[date, date]] = []
    for h in scan(query):
        try:
            days = _hit_span(h, today)
        except (OverflowError, ValueError):
            continue  # past the calendar's ends: no span
        if days:
            spans.append(days)
    if not spans:
        return None
    yearly = bool(YEARLY_CUE.search(query))
    return Span(min(s for s, _ in spans), max(e for _, e in spans), yearly)


def _hit_span(h: Hit, today: date) -> tuple[date, date] | None:
    """The days one date expression ``h`` of a query names."""
    kind, v, qual = interpret(h, today)
    if kind == "abs":
        return _bounds(v)
    if kind == "yearly":
        m1, d1, m2, d2, _fm, _fd = v
        return next_yearly(today, m1, d1 or None, m2, d2 or None, qual)
    return relative(h, today)


def _token_days(token: str, year: int | None = None) -> tuple[date, date] | None:
    """A token's days; a yearly token's in the given year (29 February -> 28th)."""
    try:
        if token.startswith("--"):
            if year is None:
                return None
            month = int(token[2:4])
            if len(token) == 7:
                day = int(token[5:7])
                if month == 2 and day == 29 and not calendar.isleap(year):
                    day = 28
                d = date(year, month, day)
                return d, d
            return date(year, month, 1), month_end(year, month)
        parts = [int(p) for p in token.split("-")]
        if len(parts) == 3:
            d = date(*parts)
            return d, d
        if len(parts) == 2:
            return date(parts[0], parts[1], 1), month_end(parts[0], parts[1])
        if len(parts) == 1 and len(token) == 4:
            return date(parts[0], 1, 1), date(parts[0], 12, 31)
    except ValueError:
        return None
    return None


def _shift_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def matches(tokens: str | list[str], span: Span) -> bool:
    """Whether any token overlaps the span. Yearly tokens match in every year the span
    covers; a yearly span matches a token in any year."""
    for token in tokens.split() if isinstance(tokens, str) else tokens:
        if token.startswith("--"):
            if (span.end - span.start).days >= 365:
                if _token_days(token, 2000):  # a valid day or month
                    return True
                continue
            for year in range(span.start.year, span.end.year + 1):
                days = _token_days(token, year)
                if days and days[0] <= span.end and days[1] >= span.start:
                    return True
            continue
        days = _token_days(token)
        if days is None:
            continue
        if not span.yearly:
            if days[0] <= span.end and days[1] >= span.start:
                return True
            continue
        if (days[1] - days[0]).days >= 365:
            return True
        for year in range(days[0].year - 1, days[1].year + 1):
            shift = year - span.start.year
            start, end = _shift_years(span.start, shift), _shift_years(span.end, shift)
            if days[0] <= end and days[1] >= start:
                return True
    return False
