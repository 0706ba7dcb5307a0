"""Whose fact: subject_of on extracted memories, query_subject on searches."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from muxi_cli.memory.subjects import RELATIONS, SUBJECTS, query_subject, subject_of

FACTS = [
    ("User's wife Maya is allergic to shellfish.", "spouse"),
    ("User is allergic to peanuts.", "user"),
    ("User's manager is Tom Reyes.", "manager"),
    ("User and his wife celebrate their anniversary on 12 June.", "user"),
    ("User's parents' wedding anniversary is 3 May.", "parent"),
    ("Maya, User's wife, works as an architect.", "spouse"),
    ("Tom Reyes is User's manager.", "manager"),
    ("User's daughter Lina's birthday is 2 April.", "child"),
    ("User's dog Pixel is afraid of fireworks.", "pet"),
    ("User has a golden retriever named Biscuit.", "pet"),
    ("User has a daughter named Lina.", "child"),
    ("User has two kids.", "child"),
    ("User has dinner with his mother every Sunday.", "user"),
    ("User is married to Maya.", "spouse"),
    ("User is engaged to Sam.", "partner"),
    ("User's girlfriend Ana is a nurse.", "partner"),
    ("User's fiancée lives in Porto.", "partner"),
    ("User's mum lives in a care home in Porto.", "parent"),
    ("User's mother-in-law is called Ana.", "relative"),
    ("User's in-laws live in Leeds.", "relative"),
    ("User's wife's mother is visiting in June.", "relative"),
    ("User's younger sister Ana studies law.", "sibling"),
    ("User's baby brother is four.", "sibling"),
    ("User's baby is due in May.", "child"),
    ("User's grandma turns 90 in March.", "grandparent"),
    ("User's cousin Rui is a chef.", "relative"),
    ("User's line manager is Priya.", "manager"),
    ("User's boss wants weekly reports.", "manager"),
    ("User's colleague Ben sits next to him.", "colleague"),
    ("User's best friend Sam lives in Berlin.", "friend"),
    ("User's flatmate plays the drums.", "friend"),
    ("User's ex-wife lives in Leeds.", "other"),
    ("User's friend's wife is a chef.", "other"),
    ("User's neighbour has a noisy dog.", "other"),
    ("User's stepson is called Leo.", "child"),
    ("User's son Leo just started university.", "child"),
    # Things, not people.
    ("User's password manager is Bitwarden.", "user"),
    ("User's pet project is a Rust compiler.", "user"),
    ("User's favourite band is Radiohead.", "user"),
    ("User's birthday is on the 14th of March.", "user"),
    ("User prefers dark mode in every application.", "user"),
    # A person word modifying the user's own thing: the user's fact.
    ("User's dentist appointment is on 3 March 2027.", "user"),
    ("User's doctor's appointment is on Friday.", "user"),
    ("User's GP surgery is in Leeds.", "user"),
    ("User's therapist sessions are on Tuesdays.", "user"),
    ("User's lawyer fees came to 900 euros.", "user"),
    ("User's dentist is Dr Sousa.", "other"),
    ("User's wife's dentist appointment is on Monday.", "spouse"),
    ("User's mum's doctor's appointment is in June.", "parent"),
    # Reporting lines and relationships stated from the user's side: the relation's fact,
    # so "User reports to Rita" and "User's manager is Duarte" share a subject.
    ("User reports to Rita Alves.", "manager"),
    ("User now reports directly to Duarte.", "manager"),
    ("User works under Rita.", "manager"),
    ("User is managed by the CTO.", "manager"),
    ("User's boss is Rita.", "manager"),
    ("User reports to work at 9.", "user"),
    ("User is dating Sam.", "partner"),
    ("User lives with her partner Ana.", "partner"),
    ("User lives with two flatmates.", "friend"),
    ("User lives in Lisbon.", "user"),
    ("User is seeing a therapist.", "user"),
]


@pytest.mark.parametrize(("text", "expected"), FACTS)
def test_subject_of(text: str, expected: str) -> None:
    assert subject_of(text) == expected


QUERIES = [
    ("when is my anniversary", "user"),
    ("my mum's birthday", "parent"),
    ("what does my wife like", "spouse"),
    ("the user's sister", "sibling"),
    ("who is my boss", "manager"),
    ("where do I live", "user"),
    ("what should we cook tonight", None),
    ("user's daughter allergies", "child"),
    ("user daughter allergies", "child"),
    ("User's anniversary", "user"),
    ("my parents' anniversary", "parent"),
    ("my sister's birthday", "sibling"),
    ("my wife's mother", "relative"),
    ("my mother-in-law's address", "relative"),
    ("what is my dog called", "pet"),
    ("how many kids do I have", "child"),
    ("when do my wife and I celebrate our anniversary", "user"),
    ("me and my wife's plans", "user"),
    ("am I a manager", "user"),
    ("what password manager do I use", "user"),
    ("which package manager does the user prefer", "user"),
    ("my nan's recipe", "grandparent"),
    ("NaN values in pandas", None),
    ("restaurant for Friday", None),
    ("my friend's dog", "other"),
    ("my daughter's cat", "pet"),
    ("does the user have siblings", "sibling"),
    ("the user's dentist appointment", "user"),
    ("when is my doctor's appointment", "user"),
    ("who is my dentist", "other"),
    ("whom does the user report to", "manager"),
    ("who do I report to", "manager"),
    ("who manages the user", "manager"),
    ("how do I report to the tax office", "user"),
    ("who is the user married to", "spouse"),
    ("who is the user dating", "partner"),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query_subject(query: str, expected: str | None) -> None:
    assert query_subject(query) == expected


def test_every_answer_is_a_known_subject() -> None:
    assert ("user", *RELATIONS) == SUBJECTS
    for text, _ in FACTS + QUERIES:
        assert subject_of(text) in SUBJECTS
        assert query_subject(text) in (*SUBJECTS, None)
    assert subject_of("") == "user" and query_subject("") is None


def test_curly_apostrophes_and_case() -> None:
    assert subject_of("USER\u2019S WIFE Maya is vegan.") == "spouse"
    assert query_subject("My Mum\u2019s birthday") == "parent"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("User's manager is Duarte.", "User reports to Rita Alves."),
        ("User's wife is Maya.", "User is married to Ana."),
        ("User's partner is Sam.", "User lives with her partner Ana."),
    ],
)
def test_both_facts_of_a_change_share_a_subject(old: str, new: str) -> None:
    # Supersession and ranking compare subjects: a change must not look like a new person.
    assert subject_of(old) == subject_of(new) != "user"


ADVERSARIAL = [
    "my " * 33_000,
    "User's " + "wife's " * 14_000,
    "User's " + "younger " * 12_000,
    "User has " + "a " * 50_000,
    "User lives with " + "his " * 25_000,
    "who report " * 9_000,
    "a" * 100_000,
    "my " + "a" * 100_000 + " and I",
    "'" * 100_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_a_hostile_100kb_input_is_cheap(text: str) -> None:
    # CPU time, best of three: the machine running the suite may be busy.
    best = min(_cpu_ms(subject_of, text) + _cpu_ms(query_subject, text) for _ in range(3))
    assert best < 50


def _cpu_ms(fn: Callable[[str], object], text: str) -> float:
    start = time.process_time()
    fn(text)
    return (time.process_time() - start) * 1000
