"""Dates: fact tokens, query spans resolved against now (UTC), and their matching."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from muxi_cli.memory.dates import Span, fact_dates, matches, query_span


def ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


NOW = ts(2026, 12, 6, 12)  # a Sunday
D = date

FACTS: list[tuple[str, list[str], list[str]]] = [
    # text, tokens said at NOW, tokens without said_at
    ("User's flight is on 14 January 2027.", ["2027-01-14"], ["2027-01-14"]),
    ("User's exam is January 14, 2027.", ["2027-01-14"], ["2027-01-14"]),
    ("User's visa expires 14/01/2027.", ["2027-01-14"], ["2027-01-14"]),  # day first
    ("User's visa expires 01/14/2027.", ["2027-01-14"], ["2027-01-14"]),  # only reading
    ("User's visa expires 2027-01-14.", ["2027-01-14"], ["2027-01-14"]),
    ("User moved to Berlin in March 2026.", ["2026-03"], ["2026-03"]),
    ("User plans to retire in 2027.", ["2027"], ["2027"]),
    ("User's daughter Lina's birthday is 2 April.", ["--04-02"], ["--04-02"]),
    ("User's anniversary is June 12th.", ["--06-12"], ["--06-12"]),
    ("User's wife was born on the 14th of March.", ["--03-14"], ["--03-14"]),
    ("User visits his parents every December.", ["--12"], ["--12"]),
    ("User's birthday is in May.", ["--05"], ["--05"]),
    ("User goes hiking in the summer.", ["--06", "--07", "--08"], ["--06", "--07", "--08"]),
    ("User celebrates Christmas with his mum.", ["--12-25"], ["--12-25"]),
    (
        "User moved to Lisbon in 2019 and to Berlin in March 2026.",
        ["2019", "2026-03"],
        ["2019", "2026-03"],
    ),
    ("User has a dentist appointment next Friday.", ["2026-12-11"], []),
    ("User starts a new job next month.", ["2027-01"], []),
    ("User is flying to Lisbon tomorrow.", ["2026-12-07"], []),
    ("User moved to Lisbon two years ago.", ["2024"], []),
    # Ranges: a year written once holds for both ends.
    (
        "User is in Rome December 14 to 16, 2026.",
        [f"2026-12-{d}" for d in (14, 15, 16)],
        [f"2026-12-{d}" for d in (14, 15, 16)],
    ),
    (
        "User is in Rome 14-16 December 2026.",
        [f"2026-12-{d}" for d in (14, 15, 16)],
        [f"2026-12-{d}" for d in (14, 15, 16)],
    ),
    (
        "User's course runs from 3 to 5 March 2027.",
        ["2027-03-03", "2027-03-04", "2027-03-05"],
        ["2027-03-03", "2027-03-04", "2027-03-05"],
    ),
    (
        "User is away between 2 and 4 January.",
        ["--01-02", "--01-03", "--01-04"],
        ["--01-02", "--01-03", "--01-04"],
    ),
    (
        "User is in Paris December 30 - January 1, 2027.",
        ["2026-12-30", "2026-12-31", "2027-01-01"],
        ["2026-12-30", "2026-12-31", "2027-01-01"],
    ),
    (
        "User is off from March to May 2027.",
        ["2027-03", "2027-04", "2027-05"],
        ["2027-03", "2027-04", "2027-05"],
    ),
    ("User has exams on 2 and 9 January.", ["--01-02", "--01-09"], ["--01-02", "--01-09"]),
    ("User bought 3 to 5 apples in March.", ["--03"], ["--03"]),
    # A holiday word next to an explicit day names the occasion, not a second date.
    ("User's Christmas party is on December 18, 2026.", ["2026-12-18"], ["2026-12-18"]),
    ("User's Halloween party is on 30 October.", ["--10-30"], ["--10-30"]),
    ("User's Christmas party is next Friday.", ["2026-12-11"], []),
    (
        "User spends Christmas in Porto, and the office party is on 18 December.",
        ["--12-25", "--12-18"],
        ["--12-25", "--12-18"],
    ),
    ("User goes to a Bonfire Night party every year.", ["--11-05"], ["--11-05"]),
    ("User spends Easter 2027 in Porto.", ["2027-03-28"], ["2027-03-28"]),
    (
        "User goes to Porto next Easter.",
        ["2027-03-26", "2027-03-27", "2027-03-28", "2027-03-29"],
        [],
    ),
    ("User spent Easter in Porto.", [], []),  # which Easter: none named
    # A month anchored to "next year"/"last year": that month of that year.
    ("User is getting married in June next year.", ["2027-06"], []),
    ("User moved in December last year.", ["2025-12"], []),
    # No date at all, or a habit, or a word that only looks like a month.
    ("User may move to Berlin.", [], []),
    ("User will march in the parade.", [], []),
    ("User goes climbing every Saturday.", [], []),
    ("User has physio on Mondays.", [], []),
    ("User goes hiking at the weekend.", [], []),
    ("User uses Python 3.11.2.", [], []),
    ("User's team has 12 people.", [], []),
    ("User is allergic to peanuts.", [], []),
]


@pytest.mark.parametrize(("text", "said", "unsaid"), FACTS)
def test_fact_dates(text: str, said: list[str], unsaid: list[str]) -> None:
    assert fact_dates(text, NOW) == said
    assert fact_dates(text) == unsaid


QUERIES: list[tuple[str, Span | None]] = [
    ("what's on in January", Span(D(2027, 1, 1), D(2027, 1, 31))),
    ("in december", Span(D(2026, 12, 1), D(2026, 12, 31))),  # the current month counts
    ("last December", Span(D(2025, 12, 1), D(2025, 12, 31))),
    ("next month", Span(D(2027, 1, 1), D(2027, 1, 31))),
    ("this month", Span(D(2026, 12, 1), D(2026, 12, 31))),
    ("this year", Span(D(2026, 1, 1), D(2026, 12, 31))),
    ("next year", Span(D(2027, 1, 1), D(2027, 12, 31))),
    ("what did I do last year", Span(D(2025, 1, 1), D(2025, 12, 31))),
    ("next week", Span(D(2026, 12, 7), D(2026, 12, 13))),
    ("this weekend", Span(D(2026, 12, 5), D(2026, 12, 6))),
    ("next weekend", Span(D(2026, 12, 12), D(2026, 12, 13))),
    ("tomorrow", Span(D(2026, 12, 7), D(2026, 12, 7))),
    ("today", Span(D(2026, 12, 6), D(2026, 12, 6))),
    ("on March 3", Span(D(2027, 3, 3), D(2027, 3, 3))),
    ("3 May", Span(D(2027, 5, 3), D(2027, 5, 3))),
    ("in May", Span(D(2027, 5, 1), D(2027, 5, 31))),
    ("anything in august?", Span(D(2027, 8, 1), D(2027, 8, 31))),
    ("in 2027", Span(D(2027, 1, 1), D(2027, 12, 31))),
    ("in spring", Span(D(2027, 3, 1), D(2027, 5, 31))),
    ("next winter", Span(D(2027, 12, 1), D(2028, 2, 29))),
    ("over Christmas", Span(D(2026, 12, 24), D(2026, 12, 26))),
    ("what do we do every Christmas", Span(D(2026, 12, 24), D(2026, 12, 26), yearly=True)),
    ("between March and May", Span(D(2027, 3, 1), D(2027, 5, 31))),
    ("next Friday", Span(D(2026, 12, 11), D(2026, 12, 11))),
    ("in the next two weeks", Span(D(2026, 12, 6), D(2026, 12, 20))),
    ("three months ago", Span(D(2026, 9, 1), D(2026, 9, 30))),
    ("on 14/01/2027", Span(D(2027, 1, 14), D(2027, 1, 14))),
    ("in May next year", Span(D(2027, 5, 1), D(2027, 5, 31))),
    ("May next year", Span(D(2027, 5, 1), D(2027, 5, 31))),
    ("in March this year", Span(D(2026, 3, 1), D(2026, 3, 31))),
    ("what happened in June last year", Span(D(2025, 6, 1), D(2025, 6, 30))),
    ("next year in March", Span(D(2027, 3, 1), D(2027, 3, 31))),
    ("next January", Span(D(2027, 1, 1), D(2027, 1, 31))),
    ("this coming June", Span(D(2027, 6, 1), D(2027, 6, 30))),
    ("December 14 to 16, 2026", Span(D(2026, 12, 14), D(2026, 12, 16))),
    ("14-16 December", Span(D(2026, 12, 14), D(2026, 12, 16))),
    ("between 2 and 9 January", Span(D(2027, 1, 2), D(2027, 1, 9))),
    ("Christmas party on December 18, 2026", Span(D(2026, 12, 18), D(2026, 12, 18))),
    ("over Easter", Span(D(2027, 3, 26), D(2027, 3, 29))),
    ("last Easter", Span(D(2026, 4, 3), D(2026, 4, 6))),
    ("on Halloween", Span(D(2027, 10, 31), D(2027, 10, 31))),
    ("Valentine's Day", Span(D(2027, 2, 14), D(2027, 2, 14))),
    ("St. Patrick's Day", Span(D(2027, 3, 17), D(2027, 3, 17))),
    # No time expression; "may" and "march" the verbs.
    ("what should we cook", None),
    ("my birthday", None),
    ("May I ask about my wife's birthday", None),
    ("this may take a while", None),
    ("will we march", None),
    ("the march of time", None),
    ("may 3 people come", None),
    ("marching band", None),
    ("what is my weekend sport", None),  # a habit, not this weekend
    ("plans for the weekend", Span(D(2026, 12, 5), D(2026, 12, 6))),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query_span(query: str, expected: Span | None) -> None:
    assert query_span(query, NOW) == expected


def test_in_a_month_during_that_month_is_this_one() -> None:
    assert query_span("in January", ts(2027, 1, 15)) == Span(D(2027, 1, 1), D(2027, 1, 31))
    assert query_span("next January", ts(2027, 1, 15)) == Span(D(2028, 1, 1), D(2028, 1, 31))
    saturday = ts(2026, 12, 5, 9)
    assert query_span("this weekend", saturday) == Span(D(2026, 12, 5), D(2026, 12, 6))


def test_resolves_in_utc() -> None:
    # 23:30 UTC on 6 December is already the 7th east of UTC; the span stays UTC.
    assert query_span("today", ts(2026, 12, 6, 23, 30)) == Span(D(2026, 12, 6), D(2026, 12, 6))


MATCHES = [
    ("2027-01-14", Span(D(2027, 1, 1), D(2027, 1, 31)), True),
    ("2027-02-01", Span(D(2027, 1, 1), D(2027, 1, 31)), False),
    ("2026-03", Span(D(2026, 1, 1), D(2026, 12, 31)), True),
    ("2027", Span(D(2027, 1, 1), D(2027, 1, 31)), True),
    ("--04-02", Span(D(2027, 4, 1), D(2027, 4, 30)), True),  # a birthday, any year
    ("--04-02", Span(D(2027, 1, 1), D(2027, 1, 31)), False),
    ("--12", Span(D(2026, 12, 24), D(2026, 12, 26)), True),
    ("--01-01", Span(D(2026, 12, 28), D(2027, 1, 3)), True),  # a span across new year
    ("--02-29", Span(D(2027, 2, 1), D(2027, 2, 28)), True),
    ("2025-12-25", Span(D(2026, 12, 24), D(2026, 12, 26), yearly=True), True),
    ("2025-12-20", Span(D(2026, 12, 24), D(2026, 12, 26), yearly=True), False),
    ("2019 --06-12", Span(D(2027, 6, 1), D(2027, 6, 30)), True),
    (["nonsense", "2027-13-01", "--13"], Span(D(2027, 1, 1), D(2027, 12, 31)), False),
    ("", Span(D(2027, 1, 1), D(2027, 12, 31)), False),
]


@pytest.mark.parametrize(("tokens", "span", "expected"), MATCHES)
def test_matches(tokens: str | list[str], span: Span, expected: bool) -> None:
    assert matches(tokens, span) is expected


def test_fact_tokens_match_the_query_that_asks_for_them() -> None:
    birthday = fact_dates("User's daughter Lina's birthday is 2 April.")
    trip = fact_dates("User is flying to Lisbon on 14 January 2027.")
    january, april = query_span("in January", NOW), query_span("in April", NOW)
    assert january and april
    assert matches(trip, january) and not matches(trip, april)
    assert matches(birthday, april) and not matches(birthday, january)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("User's parents married on 30 June 1966.", "--06-30"),
        ("User was born on 3 March 1992.", "--03-03"),
        ("User's grandfather passed away on 2 November 2019.", "--11-02"),
    ],
)
def test_a_birth_or_wedding_date_is_also_yearly(text: str, token: str) -> None:
    assert token in fact_dates(text)


def test_an_appointment_date_is_not_yearly() -> None:
    assert fact_dates("User has a dentist appointment on 3 March 2027.") == ["2027-03-03"]


def test_easter_moves() -> None:
    from muxi_cli.memory.dateparse import easter

    assert [easter(y) for y in (2019, 2024, 2025, 2026, 2027, 2038)] == [
        D(2019, 4, 21), D(2024, 3, 31), D(2025, 4, 20), D(2026, 4, 5), D(2027, 3, 28),
        D(2038, 4, 25),
    ]  # fmt: skip


ADVERSARIAL = [
    "1" * 100_000,
    "-" * 100_000,
    "14-" * 33_000,
    "14-16 " * 16_000,
    "1/1/" * 25_000,
    "1.1." * 25_000,
    "may " * 25_000,
    "may 3 to " * 11_000,
    "december " * 11_000,
    "christmas 1 dec " * 6_000,
    "may next year " * 7_000,
    "from 3 to 5 march 2027 christmas next year " * 2_300,
    "march" + " " * 100_000 + "and may",
    "easter " * 14_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_a_hostile_100kb_input_is_cheap(text: str) -> None:
    fact_dates("warm the patterns up on 3 May 2027")
    # CPU time, best of three: the machine running the suite may be busy.
    best = min(_cpu_ms(text) for _ in range(3))
    assert best < 50


def _cpu_ms(text: str) -> float:
    start = time.process_time()
    fact_dates(text, NOW)
    query_span(text, NOW)
    return (time.process_time() - start) * 1000
