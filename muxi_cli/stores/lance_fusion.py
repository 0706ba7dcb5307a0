"""Reciprocal rank fusion of the vector and full-text legs of a hybrid search."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

#: Reciprocal rank fusion constant.
RRF_K = 60


def fuse_rrf(vector_rows: list[Row], text_rows: list[Row], *, limit: int) -> list[Row]:
    """Reciprocal rank fusion of two ranked lists of rows keyed by ``id``."""
    fused: dict[str, Row] = {}
    for rank, row in enumerate(vector_rows):
        item = dict(row)
        distance = item.pop("_distance", None)
        item["_similarity"] = None if distance is None else 1.0 - float(distance)
        item["_fts"] = None
        item["_rrf"] = 1.0 / (RRF_K + rank + 1)
        fused[item["id"]] = item
    for rank, row in enumerate(text_rows):
        score = float(row.get("_score") or 0.0)
        if row["id"] in fused:
            item = fused[row["id"]]
        else:
            item = {k: v for k, v in row.items() if k != "_score"}
            item["_similarity"] = None
            item["_rrf"] = 0.0
            fused[item["id"]] = item
        item["_fts"] = score
        item["_rrf"] += 1.0 / (RRF_K + rank + 1)
    ranked = sorted(fused.values(), key=lambda r: r["_rrf"], reverse=True)
    return ranked[:limit]
