"""The map of ``muxi memory map``: a user's memory embeddings in two dimensions.

The embeddings are projected on their two principal directions (PCA by numpy's
SVD) and grouped by k-means in embedding space (cosine: the vectors are
normalised first), where "near" means "about the same thing". Everything is
deterministic, so the same memories always give the same picture:

- rows are taken in (created, id) order;
- k-means runs on the first :data:`FEATURES` principal components (where a
  sentence embedding's meaning mostly lies), which makes it an order of
  magnitude cheaper than in all 384 dimensions;
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
#: Principal components k-means works in.
FEATURES = 32


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
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():  # a broken embedding (NaN, inf) would fail the SVD: leave it out
        usable = [usable[int(i)] for i in np.flatnonzero(finite)]
        vectors = vectors[finite]
        if not usable:
            return result
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    features, explained = principal(unit)
    coords = scaled(features[:, :2])
    k = min(len(usable), clusters if clusters else auto_clusters(len(usable)))
    labels, centres = kmeans(features, k)
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
        distances = ((features[members] - centres[index]) ** 2).sum(axis=1)
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


def principal(unit: np.ndarray, count: int = FEATURES) -> tuple[np.ndarray, list[float]]:
    """``unit``'s rows (centred) on their first ``count`` principal directions, each
    direction's sign fixed, and the share of the variance the first two show."""
    n, dims = unit.shape
    centred = unit - unit.mean(axis=0)
    if n < 2:
        return np.zeros((n, 2)), [0.0, 0.0]
    if n > dims:
        # Many memories: the SVD of the small dims x dims scatter matrix has the
        # same directions (its singular values are the squares), at a fraction
        # of the cost of decomposing the n x dims matrix itself.
        _u, s2, vt = np.linalg.svd(centred.T @ centred)
        variance = np.maximum(s2, 0.0)
    else:
        _u, s, vt = np.linalg.svd(centred, full_matrices=False)
        variance = s**2
    # Fix each direction's sign: its largest component (by size) is positive.
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    features = centred @ vt[: max(2, min(count, vt.shape[0]))].T
    if features.shape[1] < 2:  # two memories: one direction
        features = np.hstack([features, np.zeros((n, 2 - features.shape[1]))])
    total = float(variance.sum())
    explained = [
        float(variance[i] / total) if total > 0 and i < len(variance) else 0.0 for i in range(2)
    ]
    return features, explained


def scaled(coords: np.ndarray) -> np.ndarray:
    """Each axis scaled to -1..1: the picture's shape, not its size, carries the meaning."""
    out = coords.astype(np.float64, copy=True)
    for axis in range(out.shape[1]):
        span = float(np.abs(out[:, axis]).max()) if len(out) else 0.0
        out[:, axis] = out[:, axis] / span if span > 1e-12 else 0.0
    return out


def project(unit: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """``unit``'s rows on their two principal directions, scaled to -1..1 (the map's
    axes), and the share of the variance each shows."""
    features, explained = principal(unit, 2)
    return scaled(features[:, :2]), explained


def kmeans(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means: ``(labels, centres)``. Farthest-point start from the
    point nearest the mean; Lloyd rounds until nothing moves; a cluster left empty
    keeps its centre. Distances by dot products (no n x dims temporaries)."""
    n = points.shape[0]
    k = max(1, min(k, n))
    sq = (points**2).sum(axis=1)

    def distances_to(centres: np.ndarray) -> np.ndarray:
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, for every point and centre at once
        d = sq[:, None] - 2.0 * points @ centres.T + (centres**2).sum(axis=1)[None, :]
        return np.maximum(d, 0.0)

    first = int(np.argmin(distances_to(points.mean(axis=0, keepdims=True))[:, 0]))
    chosen = [first]
    nearest = distances_to(points[[first]])[:, 0]
    while len(chosen) < k:
        nxt = int(np.argmax(nearest))
        if nearest[nxt] <= 1e-12:
            break  # fewer distinct points than clusters
        chosen.append(nxt)
        nearest = np.minimum(nearest, distances_to(points[[nxt]])[:, 0])
    centres = points[chosen].copy()
    labels = np.full(n, -1)
    rows = np.arange(n)
    for _round in range(KMEANS_ROUNDS):
        new = np.argmin(distances_to(centres), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        # Every centre in one product (members summed by a 0/1 matrix), not k copies.
        member = np.zeros((centres.shape[0], n))
        member[labels, rows] = 1.0
        counts = member.sum(axis=1)
        kept = counts > 0
        centres[kept] = (member @ points)[kept] / counts[kept, None]
    return labels, centres
