"""Whose fact: subject_of on extracted memories, query_subject on searches."""

from __future__ import annotations

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
