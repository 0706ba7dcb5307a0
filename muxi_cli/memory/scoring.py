"""Ranking helpers: the decay score (recency, importance, use) and recall scores."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from typing import Any

from muxi_cli.stores.lance_fusion import RRF_K

#: Days after which recency has halved.
HALF_LIFE_DAYS = 30.0
W_RECENCY, W_IMPORTANCE, W_USE = 0.5, 0.3, 0.2
#: How much the decay score can move a search hit (relevance always dominates).
DECAY_WEIGHT = 0.2
#: Below this cosine similarity a hit with no text match is noise.
MIN_SIMILARITY = 0.2
#: At or above this similarity a new fact is the same fact: it supersedes the old one.
SUPERSEDE_SIMILARITY = 0.95
#: A user entry this similar to a shared one is about the same thing and overrides it
#: (user knowledge wins); e.g. "prefers metric units" vs "prefers imperial units" is 0.73.
CONFLICT_SIMILARITY = 0.7

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """The form hashed for exact-duplicate detection (case, spacing, final dot)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", folded).strip().rstrip(".!").strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def decay_score(row: dict[str, Any], now: float) -> float:
    """0..1: recent, important and often used memories score high."""
    last = float(row.get("last_used_at") or row.get("updated_at") or row.get("created_at") or now)
    age_days = max(0.0, (now - last) / 86400.0)
    recency = 0.5 ** (age_days / HALF_LIFE_DAYS)
    raw = row.get("importance")
    importance = min(1.0, max(0.0, 0.5 if raw is None else float(raw)))
    use = min(1.0, math.log1p(int(row.get("use_count") or 0)) / math.log1p(20))
    return W_RECENCY * recency + W_IMPORTANCE * importance + W_USE * use


def relevance(row: dict[str, Any]) -> float:
    """0..1: half the fused RRF rank score (1 = first in both legs), half the
    cosine similarity, so a small candidate set does not make everything relevant."""
    best = 2.0 / (RRF_K + 1)
    fused = min(1.0, float(row.get("_rrf") or 0.0) / best)
    similarity = max(0.0, float(row.get("_similarity") or 0.0))
    return 0.5 * fused + 0.5 * similarity


def recall_score(row: dict[str, Any], now: float) -> float:
    return relevance(row) * ((1 - DECAY_WEIGHT) + DECAY_WEIGHT * decay_score(row, now))


def is_noise(row: dict[str, Any]) -> bool:
    """A hit too far from the query to be worth the model's attention.

    A hit only the text leg found is kept (rare words, names); one the vector leg
    found must be at least ``MIN_SIMILARITY`` close, whatever words it shares.
    """
    similarity = row.get("_similarity")
    if similarity is None:
        return row.get("_fts") is None
    return float(similarity) < MIN_SIMILARITY
