"""Ranking of memory search candidates (pure: no LanceDB, numpy only).

The store hands over the raw legs of a search (:mod:`muxi_cli.stores.lance_legs`):
``vector`` (nearest by the fact's embedding), ``text`` (BM25 full text),
``questions`` (nearest by the embedding of the questions the fact answers, when the
table has them) and ``dated`` (facts whose dates fall in the span the query names).
Every candidate carries its vector, so each one is scored on the same footing:

- **semantic**: the cosine similarity to the fact, or to its questions (slightly
  discounted), whichever is higher;
- **keywords, gated**: a full-text hit adds a bonus scaled by its normalised BM25
  score, but only when the semantic similarity already passes :data:`GATE`, so an
  ambiguous word ("python" the snake, "interest" the hobby) cannot promote an
  unrelated memory;
- **whose fact**: a query about "my X" prefers the user's own facts, one about "my
  sister's X" the sister's (:func:`muxi_cli.memory.subjects.query_subject`);
- **dates**: "next month", "in January" resolve against the clock; facts with a
  date in that span rank up;
- **current over stale**: a superseded fact is placed right below its successor
  when both are candidates, and demoted otherwise; for changes nobody linked
  (memories added by hand or imported, or written before the write-time judge),
  of two candidates that read like a change (near-identical, or about the same
  slot, or a change cue, :mod:`muxi_cli.memory.changes`) the newer one is placed
  right above the older one, which stays in the list;
- **decay**: recency, importance and use move a hit a little.

``fusion="rrf"`` is the previous behaviour (reciprocal rank fusion of the legs,
multiplied by the decay score), ``fusion="vector"`` cosine similarity alone; both
are kept to measure against (``benchmarks/bench_memory_quality.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.memory import changes, facts, subjects
from muxi_cli.memory import dates as dating
from muxi_cli.memory.scoring import MIN_SIMILARITY, decay_score, recall_score
from muxi_cli.stores.lance_fusion import RRF_K

if TYPE_CHECKING:
    import numpy as np

Row = dict[str, Any]

#: The legs a search may return, in the order RRF counts them.
LEGS = ("vector", "text", "questions", "dated")

#: A keyword hit counts only for a memory at least this similar to the query.
GATE = 0.35
#: The most a keyword hit adds (the best BM25 score of the text leg).
KEYWORD_WEIGHT = 0.08
#: Similarity to the questions a fact answers counts this much less than to the fact.
QUESTION_DISCOUNT = 0.02
#: Whose fact: the query's subject matches the row's / differs from it.
SUBJECT_MATCH, SUBJECT_MISMATCH = 0.04, 0.08
#: A fact dated inside the span the query names.
DATE_BONUS = 0.25
#: Every-year dates (``--MM-DD``) count for spans shorter than this.
RECURRING_SPAN_DAYS = 62
#: How much the decay score (0..1) adds.
DECAY_BONUS = 0.03
#: How far a superseded fact goes down (and always below its successor).
STALE_PENALTY = 0.1
#: Two facts about the same person this similar state the same thing: the newer wins.
SAME_FACT = 0.7
_EPS = 1e-6


@dataclass(frozen=True)
class RankOptions:
    """Which parts of the ranking are on (all by default; the benchmark switches them)."""

    fusion: Literal["gated", "rrf", "vector"] = "gated"
    subjects: bool = True
    current: bool = True
    dates: bool = True
    questions: bool = True
    decay: bool = True


@dataclass(frozen=True)
class Query:
    """What ranking needs to know about a query: resolved once, before the search."""

    text: str
    vector: Any  # a normalised float32 numpy vector
    now: float
    subject: str | None = None
    span: dating.Span | None = None


def prepare(text: str, vector: Any, now: float, options: RankOptions) -> Query:
    """Resolve the query's subject and date span (when those options are on)."""
    return Query(
        text=text,
        vector=vector,
        now=now,
        subject=subjects.query_subject(text) if options.subjects else None,
        span=dating.query_span(text, now) if options.dates else None,
    )


def date_patterns(span: dating.Span) -> list[str]:
    """SQL ``LIKE`` patterns of the ``dates`` tokens that may fall in ``span``.

    Months of the span give ``YYYY-MM`` (days included) and, for spans short enough
    for every-year dates to count, ``--MM``; a span covering a whole year also gives
    ``YYYY``. The date leg only fetches candidates: :func:`_dated` decides the bonus.
    """
    months: list[tuple[int, int]] = []
    year, month = span.start.year, span.start.month
    while (year, month) <= (span.end.year, span.end.month) and len(months) < 24:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    patterns = {f"%--{m:02d}%" for _, m in months} if _recurring_count(span) else set()
    if not span.yearly:
        patterns |= {f"%{y}-{m:02d}%" for y, m in months}
        for y in range(span.start.year, span.end.year + 1):
            if span.start <= date(y, 1, 1) and date(y, 12, 31) <= span.end:
                patterns.add(f"%{y}%")
    return sorted(patterns)


def rank(legs: Mapping[str, Sequence[Row]], query: Query, options: RankOptions) -> list[Row]:
    """The candidates of every leg, best first, noise dropped (rows are reused).

    Each returned row carries ``_score`` (the ranking score), ``_similarity`` (the
    semantic similarity) and ``_fts`` (its BM25 score, when the text leg found it).
    """
    import numpy as np  # deferred: numpy is slow to import

    rows, ranks = _merge(legs)
    if not rows:
        return []
    units = _units(np.stack([np.asarray(r["vector"], dtype=np.float32) for r in rows]))
    q = np.asarray(query.vector, dtype=np.float32)
    similarity = units @ q
    asked = None
    if options.questions and any(r.get("qvector") is not None for r in rows):
        qvectors = _units(
            np.stack(
                [
                    units[i] if r.get("qvector") is None else np.asarray(r["qvector"], np.float32)
                    for i, r in enumerate(rows)
                ]
            )
        )
        asked = qvectors @ q - QUESTION_DISCOUNT
    best_fts = max((float(r["_fts"]) for r in rows if r.get("_fts") is not None), default=0.0)
    scored: list[Row] = []
    for i, row in enumerate(rows):
        fact_sim = float(similarity[i])
        semantic = max(fact_sim, float(asked[i])) if asked is not None else fact_sim
        in_span = query.span is not None and _dated(row, query.span)
        if options.fusion == "rrf":
            found_by_vector = "vector" in ranks[i] or "questions" in ranks[i]
            row["_similarity"] = semantic if found_by_vector else None
            row["_rrf"] = sum(1.0 / (RRF_K + r + 1) for r in ranks[i].values())
            base = recall_score(row, query.now)
            noise = (not found_by_vector and row.get("_fts") is None) or (
                found_by_vector and semantic < MIN_SIMILARITY
            )
        else:
            row["_similarity"] = semantic
            base = semantic
            if options.fusion == "gated" and row.get("_fts") is not None and semantic >= GATE:
                base += KEYWORD_WEIGHT * float(row["_fts"]) / max(best_fts, _EPS)
            if options.decay:
                base += DECAY_BONUS * decay_score(row, query.now)
            noise = semantic < MIN_SIMILARITY and row.get("_fts") is None
        if noise and not in_span:
            continue
        if query.subject is not None:
            base += SUBJECT_MATCH if facts.subject_for(row) == query.subject else -SUBJECT_MISMATCH
        if in_span:
            base += DATE_BONUS
        row["_score"] = base
        row["_unit"] = units[i]
        scored.append(row)
    scored.sort(key=lambda r: r["_score"], reverse=True)
    if options.current:
        scored = _current_first(scored)
    for row in scored:
        row.pop("_unit", None)
    return scored


def _merge(legs: Mapping[str, Sequence[Row]]) -> tuple[list[Row], list[dict[str, int]]]:
    """One row per id over every leg, with its rank in each leg that found it."""
    rows: list[Row] = []
    ranks: list[dict[str, int]] = []
    where: dict[str, int] = {}
    for leg in LEGS:
        for position, found in enumerate(legs.get(leg) or ()):
            key = found["id"]
            bm25 = found.pop("_score", None)
            found.pop("_distance", None)
            if key not in where:
                where[key] = len(rows)
                found["_fts"] = None
                rows.append(found)  # the legs' rows are the search's own: reused as they are
                ranks.append({})
            index = where[key]
            ranks[index].setdefault(leg, position)
            if leg == "text":
                rows[index]["_fts"] = float(bm25 or 0.0)
    return rows, ranks


def _units(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (the stored vectors are, up to rounding)."""
    import numpy as np  # deferred: numpy is slow to import

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return result


def _recurring_count(span: dating.Span) -> bool:
    """Whether every-year dates (birthdays) answer a query about ``span``: "next
    month", yes; "in 2019" or "this year" ask what happened or will, not who was born."""
    return span.yearly or (span.end - span.start).days < RECURRING_SPAN_DAYS


def _dated(row: Row, span: dating.Span) -> bool:
    tokens = facts.dates_for(row)
    # A token much coarser than the span says little: "in December 2026" is no
    # answer to "on Friday", nor "in 2026" to "in January".
    longest = 2 * ((span.end - span.start).days + 1)
    recurring = _recurring_count(span)
    tokens = [
        t for t in tokens if _token_days(t) <= longest and (recurring or not t.startswith("--"))
    ]
    return bool(tokens) and dating.matches(tokens, span)


def _token_days(token: str) -> int:
    """Roughly how many days a date token covers: a day, a month or a year."""
    parts = token.lstrip("-").split("-")
    if len(parts) == 1:
        return 31 if token.startswith("--") else 366
    return 31 if len(parts) == 2 and not token.startswith("--") else 1


def _said(row: Row) -> float:
    return float(row.get("created_at") or 0.0)


def reads_like_update(older: Row, newer: Row, similarity: float) -> bool:
    """Whether ``newer`` reads like a change of ``older`` (both current, one user)."""
    old_subject, new_subject = facts.subject_for(older), facts.subject_for(newer)
    if similarity >= SAME_FACT and old_subject == new_subject:
        return True
    old_text, new_text = str(older.get("text") or ""), str(newer.get("text") or "")
    return changes.likely_update(old_text, old_subject, new_text, new_subject, similarity)


def _current_first(ranked: list[Row]) -> list[Row]:
    """Newer facts before the ones they replace (see the module docstring)."""
    import numpy as np  # deferred: numpy is slow to import

    by_id = {r["id"]: r for r in ranked}
    # Changes nobody linked (memories added by hand, imported, or written before the
    # write-time judge): of two candidates about the same thing, the newer one goes
    # right above the older one, which stays (see muxi_cli.memory.changes).
    top = [r for r in ranked if r.get("superseded_by") is None]
    if len(top) > 1:
        units = np.stack([r["_unit"] for r in top])
        similar = units @ units.T
        # Cheap first, in numpy: a pair less similar than a cue asks for must share a slot.
        names = sorted(changes.SLOTS)
        slots = [changes.slots(str(r.get("text") or "")) for r in top]
        member = np.array([[n in found for n in names] for found in slots], dtype=np.float32)
        shared = (member @ member.T) > 0
        cue_floor = min(changes.CUE_SIMILARITY, SAME_FACT)
        maybe = (similar >= cue_floor) | ((similar >= changes.SLOT_SIMILARITY) & shared)
        pairs = np.argwhere(np.triu(maybe, 1))
        said = [_said(r) for r in top]
        updates: list[tuple[Row, Row]] = []
        sims = similar[pairs[:, 0], pairs[:, 1]].tolist()
        for (i, j), sim in zip(pairs.tolist(), sims, strict=True):
            if said[i] == said[j] or top[i]["user_id"] != top[j]["user_id"]:
                continue
            older, newer = (top[i], top[j]) if said[i] < said[j] else (top[j], top[i])
            if reads_like_update(older, newer, sim):
                updates.append((older, newer))
        for _ in range(4):  # chains (a -> b -> c) settle in as many passes
            moved = False
            for older, newer in updates:
                if newer["_score"] <= older["_score"]:
                    newer["_score"] = older["_score"] + _EPS
                    moved = True
            if not moved:
                break
    # A superseded fact goes down, and below its successor when that is a candidate
    # too; chains (a -> b -> c) settle in as many passes as they are long.
    for row in ranked:
        if row.get("superseded_by") is not None:
            row["_score"] -= STALE_PENALTY
    for _ in range(4):
        moved = False
        for row in ranked:
            replacement = by_id.get(row.get("superseded_by") or "")
            if replacement is not None and row["_score"] >= replacement["_score"]:
                row["_score"] = replacement["_score"] - _EPS
                moved = True
        if not moved:
            break
    return sorted(ranked, key=lambda r: r["_score"], reverse=True)
