"""The map of ``muxi memory map``: a user's memory embeddings in two dimensions.

The embeddings are projected on their two principal directions (PCA by numpy's
SVD) and grouped by k-means in the full embedding space (cosine: the vectors are
normalised first), where "near" means "about the same thing". Everything is
deterministic, so the same memories always give the same picture:

- rows are taken in (created, id) order;
- each principal direction's sign is fixed so that its largest component is
  positive (SVD may flip a direction from one run, or one BLAS, to the next);
- k-means starts from the point nearest the mean, then repeatedly the point
  farthest from the centres chosen so far (no random start);
- a cluster is labelled by its member nearest its centre (its most typical text).

numpy is imported by the memory part (its embedder needs it), so this module is
only loaded where the memories are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from muxi_cli.memory.items import iso
from muxi_cli.protocol.memstats import MapCluster, MapPoint, MemoryMap

Row = dict[str, Any]

#: Most clusters a map may have (they are drawn with the letters A-Z).
MAX_CLUSTERS = 26
#: A point's text in the map is cut to this many characters (tooltips, legend).
TEXT_CHARS = 300
KMEANS_ROUNDS = 60


def auto_clusters(n: int) -> int:
    """How many clusters ``n`` memories get when none is asked for: about one per
    eight, between 1 and 8 (more letters than that make a map hard to read)."""
    if n <= 2:
        return 1
    return max(2, min(8, round(math.sqrt(n / 2))))


def memory_map(
    user_id: str, rows: list[Row], clusters: int | None = None, model: str = ""
) -> MemoryMap:
    """The map of ``rows`` (each with its ``vector``); rows without one are left out."""
    usable = [r for r in rows if r.get("vector") is not None and len(r["vector"]) > 0]
    dims = {len(r["vector"]) for r in usable}
    if len(dims) > 1:  # a half-finished reindex: keep the vectors of the commonest size
        common = max(dims, key=lambda d: sum(len(r["vector"]) == d for r in usable))
        usable = [r for r in usable if len(r["vector"]) == common]
    usable.sort(key=lambda r: (float(r.get("created_at") or 0.0), str(r["id"])))
    result = MemoryMap(user_id=user_id, embedding_model=model)
    if not usable:
        return result
    vectors = np.asarray([r["vector"] for r in usable], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    coords, explained = project(unit)
    k = min(len(usable), clusters if clusters else auto_clusters(len(usable)))
    labels, centres = kmeans(unit, k)
    result.explained = [round(float(v), 4) for v in explained]
    result.points = [
        MapPoint(
            id=str(row["id"]),
            x=round(float(x), 4),
            y=round(float(y), 4),
            cluster=int(c),
            text=str(row["text"])[:TEXT_CHARS],
            kind=str(row.get("kind") or "fact"),
            created_at=iso(row.get("created_at")),
        )
        for row, (x, y), c in zip(usable, coords, labels, strict=True)
    ]
    for index in range(k):
        members = np.flatnonzero(labels == index)
        if members.size == 0:
            continue
        distances = np.linalg.norm(unit[members] - centres[index], axis=1)
        typical = usable[int(members[int(np.argmin(distances))])]
        result.clusters.append(
            MapCluster(
                index=index,
                size=int(members.size),
                label=str(typical["text"])[:TEXT_CHARS],
                label_id=str(typical["id"]),
            )
        )
    return result


def project(unit: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """``unit``'s rows on their two principal directions, each axis scaled to -1..1
    (the picture's shape, not its size, carries the meaning), and the share of the
    variance each axis shows."""
    n = unit.shape[0]
    centred = unit - unit.mean(axis=0)
    coords = np.zeros((n, 2))
    explained = [0.0, 0.0]
    if n > 1:
        _u, s, vt = np.linalg.svd(centred, full_matrices=False)
        # Fix each direction's sign: its largest component (by size) is positive.
        signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
        vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
        axes = min(2, vt.shape[0])
        coords[:, :axes] = centred @ vt[:axes].T
        total = float((s**2).sum())
        if total > 0:
            explained = [float(s[i] ** 2 / total) if i < len(s) else 0.0 for i in range(2)]
    for axis in range(2):
        span = float(np.abs(coords[:, axis]).max())
        if span > 1e-12:
            coords[:, axis] /= span
        else:
            coords[:, axis] = 0.0
    return coords, explained


def kmeans(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means: ``(labels, centres)``. Farthest-point start from the
    point nearest the mean; Lloyd rounds until nothing moves; a cluster left empty
    keeps its centre."""
    n = points.shape[0]
    k = max(1, min(k, n))
    first = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    chosen = [first]
    nearest = np.linalg.norm(points - points[first], axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(nearest))
        if nearest[nxt] <= 0:
            break  # fewer distinct points than clusters
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[nxt], axis=1))
    centres = points[chosen].copy()
    labels = np.full(n, -1)
    for _round in range(KMEANS_ROUNDS):
        # |p - c|^2 without an n x k x dims array (10k memories of 384 dims stay small)
        distances = (centres**2).sum(axis=1)[None, :] - 2.0 * points @ centres.T
        new = np.argmin(distances, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for index in range(centres.shape[0]):
            members = points[labels == index]
            if len(members):
                centres[index] = members.mean(axis=0)
    return labels, centres
