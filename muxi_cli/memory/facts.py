"""What a stored fact says besides its text: whose it is, its dates, its questions.

Every memory written since schema version 2 carries (:mod:`muxi_cli.stores.lance_schema`):

- ``subject``: ``user`` or a relation of :data:`muxi_cli.memory.subjects.RELATIONS`;
- ``dates``: the date tokens the text mentions (``2026-03``, ``--06-12``...);
- ``valid_from``/``valid_until``: when the fact holds, when known;
- ``questions``: short questions the fact answers (one per line), and ``qvector``,
  their embedding, which is the text's own vector when there are none.

:func:`annotate` fills what the writer did not give, from the text, so a row
written by hand, by an import or by the extractor looks the same to recall.
Pure: no model, no store.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Any

from muxi_cli.memory import dates, subjects

Row = dict[str, Any]

#: At most this many questions are kept per fact, each at most this long.
MAX_QUESTIONS = 3
MAX_QUESTION_CHARS = 160


def valid_subject(value: Any) -> str | None:
    """``value`` when it names a subject (``user`` or a known relation), else None."""
    if not isinstance(value, str):
        return None
    value = value.strip().casefold()
    return value if value == "user" or value in subjects.RELATIONS else None


def clean_questions(value: Any) -> list[str]:
    """The usable questions of ``value`` (a list of strings, or lines), maybe none."""
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple):
        return []
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            continue
        text = " ".join(item.split())
        if text and len(text) <= MAX_QUESTION_CHARS and text not in out:
            out.append(text)
    return out[:MAX_QUESTIONS]


def questions_of(row: Row) -> list[str]:
    """A stored row's questions as a list."""
    return clean_questions(row.get("questions") or "")


def parse_since(value: Any) -> float | None:
    """An ISO date (``2026-03-01``, ``2026-03``, ``2026``) as epoch seconds (UTC), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    parts = text.split("-")
    try:
        if len(parts) == 1 and len(text) == 4:
            day = date(int(text), 1, 1)
        elif len(parts) == 2:
            day = date(int(parts[0]), int(parts[1]), 1)
        else:
            day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    if not 1900 <= day.year <= 2200:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def subject_for(row: Row) -> str:
    """Whose fact ``row`` is: its stored subject, else inferred from its text."""
    return valid_subject(row.get("subject")) or _inferred_subject(str(row.get("text") or ""))


def dates_for(row: Row) -> list[str]:
    """The date tokens of ``row``: stored, else read from its text."""
    stored = row.get("dates")
    if isinstance(stored, str):
        return stored.split()
    return list(_inferred_dates(str(row.get("text") or ""), row.get("created_at")))


# Rows written before schema version 2 have no subject or dates: they are read from
# the text, once per process (the same rows come back search after search).
@functools.lru_cache(maxsize=4096)
def _inferred_subject(text: str) -> str:
    return subjects.subject_of(text)


@functools.lru_cache(maxsize=4096)
def _inferred_dates(text: str, said_at: float | None) -> tuple[str, ...]:
    return tuple(dates.fact_dates(text, said_at))


def annotate(row: Row, *, said_at: float | None = None) -> Row:
    """Fill ``row``'s subject, dates, questions and ``qvector`` (in place; returned).

    Given values win when valid; a missing or unusable subject is inferred from the
    text, the dates are the text's (resolved against ``said_at``, the time the fact
    was said, which also becomes ``created_at`` when the row has none). ``dates`` is
    an empty string, not NULL, when the text has none: NULL is for rows written
    before schema version 2, which readers infer the same way.
    """
    text = str(row.get("text") or "")
    if said_at is not None:
        for key in ("created_at", "updated_at"):
            if row.get(key) is None:
                row[key] = said_at
    row["subject"] = valid_subject(row.get("subject")) or subjects.subject_of(text)
    if row.get("dates") is None:
        when = said_at if said_at is not None else row.get("created_at")
        row["dates"] = " ".join(dates.fact_dates(text, when))
    questions = clean_questions(row.get("questions") or [])
    row["questions"] = "\n".join(questions) or None
    if row.get("qvector") is None or not questions:
        # No questions (or no vector of them): the question leg sees the text's vector.
        row["qvector"] = row.get("vector")
    return row
