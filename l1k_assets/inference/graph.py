"""The gene graph of seed 002's GNN: which genes pass messages to which.

Nodes are all target genes. Every landmark sends an edge to every gene (landmark → landmark
and a landmark's self edge included), so measured values reach every node in one layer. Each
non-landmark gene also receives edges from its k most and its k least cosine-similar
non-landmark genes: positively and negatively co-expressed partners both carry signal, and
the GNN gives each edge a free signed weight.

Similarity comes from the training samples only: the caller passes only training rows (the
seed's public code also used validation samples, a leak). Cosines are computed a block of
genes at a time and the neighbours picked with ``argpartition``, so memory is O(block × N),
never the N × N similarity matrix (12,320² float64 would be 1.2 GB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.inference.data import InferenceData

KINDS = ("landmark", "similar", "dissimilar")
LANDMARK, SIMILAR, DISSIMILAR = range(3)


def landmark_array(landmark_positions: Sequence[int], n_genes: int) -> np.ndarray:
    """Landmark positions as an int64 array: distinct, and each a gene position in [0, n_genes)."""
    positions = np.asarray(list(landmark_positions), dtype=np.int64)
    if positions.ndim != 1 or len(positions) == 0:
        raise DataError("landmark_positions must be a non-empty list of gene positions")
    outside = positions[(positions < 0) | (positions >= n_genes)]
    if len(outside):
        raise DataError(f"landmark positions {outside[:5].tolist()} are outside the {n_genes} genes (0..{n_genes - 1})")
    if len(np.unique(positions)) != len(positions):
        raise DataError("landmark_positions lists a gene more than once")
    return positions


def unit_columns(values: np.ndarray, center: bool) -> np.ndarray:
    """Each gene's sample vector scaled to unit length, so dot products are cosines.

    ``center`` subtracts each gene's mean first. Log-expression values are all positive, so raw
    vectors point into the same orthant and every raw cosine is close to 1: the top/bottom
    ranking would then mostly reflect expression level, not co-variation. Centred, the cosine is
    the Pearson correlation across samples. A gene whose vector is zero (a constant gene when
    centred) has no direction: its cosine is undefined and is taken as 0 with every gene, so it
    is neither similar nor dissimilar to anything rather than NaN.
    """
    vectors = values - values.mean(axis=0) if center else values.copy()
    norms = np.linalg.norm(vectors, axis=0)
    vectors /= np.where(norms > 0, norms, 1.0)
    vectors[:, norms == 0] = 0.0
    return vectors


def _landmark_edges(unit: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every landmark → every gene, destination-major (gene 0's L edges first), with their cosines."""
    n_genes = unit.shape[1]
    src = np.tile(landmarks, n_genes)
    dst = np.repeat(np.arange(n_genes), len(landmarks))
    cosine = (unit[:, landmarks].T @ unit).T.ravel()  # (N, L) row-major matches dst-major order
    return src, dst, cosine


def _neighbours_of_block(sims: np.ndarray, own: np.ndarray, k: int, with_self: bool) -> tuple[np.ndarray, ...]:
    """Column indices of the k largest and k smallest similarities of each row, never the ``own`` column among the
    smallest, and among the largest only (first) when ``with_self``.

    Most similar first, least similar first; ties keep ``argpartition``'s order (deterministic).
    ``sims`` is left as it came in.
    """
    rows = np.arange(len(sims))
    kept = sims[rows, own].copy()
    sims[rows, own] = np.inf if with_self else -np.inf
    top = np.argpartition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable"), axis=1)
    sims[rows, own] = np.inf
    bottom = np.argpartition(sims, k - 1, axis=1)[:, :k]
    bottom = np.take_along_axis(bottom, np.argsort(np.take_along_axis(sims, bottom, axis=1), axis=1, kind="stable"), axis=1)
    sims[rows, own] = kept
    return top, bottom


def _similarity_edges(unit: np.ndarray, others: np.ndarray, k: int, block: int, with_self: bool) -> tuple[np.ndarray, ...]:
    """Each non-landmark ← its k most (kind similar) and k least (dissimilar) similar non-landmarks, by blocks of rows.

    ``with_self`` makes a gene the first of its own k most similar (seed 002 aggregates "including the node itself").
    """
    pool = unit[:, others]
    src, dst, kind, cosine = [], [], [], []
    for start in range(0, len(others), block):
        stop = min(start + block, len(others))
        sims = pool[:, start:stop].T @ pool  # block × non-landmarks
        top, bottom = _neighbours_of_block(sims, np.arange(start, stop), k, with_self)
        chosen = np.concatenate([top, bottom], axis=1)  # per row: k similar, then k dissimilar
        src.append(others[chosen].ravel())
        dst.append(np.repeat(others[start:stop], 2 * k))
        kind.append(np.tile(np.repeat([SIMILAR, DISSIMILAR], k), stop - start))
        cosine.append(np.take_along_axis(sims, chosen, axis=1).ravel())
    return tuple(np.concatenate(parts) for parts in (src, dst, kind, cosine))


GRAPH_SAMPLES = ("train", "train_validation")


def graph_samples(data: InferenceData, samples: str) -> np.ndarray:
    """The target expression the graph's similarities are computed on: training samples, or with validation ones.

    Seed 002 builds its graph on its first 3,000 samples (training and validation); the test
    split is never used either way.
    """
    if samples == "train":
        return data.y["train"]
    if samples == "train_validation":
        return np.vstack([data.y["train"], data.y["validation"]])
    raise DataError(f"graph samples {samples!r} is not one of {', '.join(GRAPH_SAMPLES)}")


def build_gene_graph(
    train_targets: np.ndarray,
    landmark_positions: Sequence[int],
    k: int = 50,
    center: bool = True,
    block: int = 2048,
    self_neighbour: bool = False,
) -> pd.DataFrame:
    """The seed-002 gene graph from training samples × genes expression.

    Returns one row per directed edge: ``src`` and ``dst`` (gene positions, int32), ``kind``
    (categorical: landmark, similar, dissimilar) and ``cosine`` (float32, the similarity of the
    two genes over the training samples; a landmark's self edge has cosine 1, or 0 for a
    constant gene). Landmark edges come first, destination-major; then each non-landmark's k
    similar (most similar first) and k dissimilar (least similar first) edges. k must leave the
    two neighbour sets disjoint: 2k ≤ (number of non-landmarks − 1). A gene is never its own
    neighbour unless ``self_neighbour``: then it is the first of its k most similar (its cosine
    with itself is 1), seed 002's "including the node itself" within its 100 edges per gene, as
    its parameter count (56,284,193) has it.
    """
    values = np.asarray(train_targets, dtype=np.float64)
    if values.ndim != 2 or len(values) < 2:
        raise DataError(f"train_targets must be training samples × genes with at least 2 samples, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise DataError(f"train_targets has {int((~np.isfinite(values)).sum())} NaN or infinite values")
    if block < 1:
        raise DataError(f"block must be at least 1 row, got {block}")
    n_genes = values.shape[1]
    landmarks = landmark_array(landmark_positions, n_genes)
    others = np.setdiff1d(np.arange(n_genes), landmarks)
    if k < 1 or 2 * k > len(others) - 1:
        raise DataError(
            f"k = {k} does not fit {len(others)} non-landmark genes: each needs k most and k least similar "
            f"other non-landmarks, so 1 ≤ k ≤ {(len(others) - 1) // 2}"
        )
    unit = unit_columns(values, center)
    lm_src, lm_dst, lm_cosine = _landmark_edges(unit, landmarks)
    sim_src, sim_dst, sim_kind, sim_cosine = _similarity_edges(unit, others, k, block, self_neighbour)
    codes = np.concatenate([np.full(len(lm_src), LANDMARK, dtype=np.int8), sim_kind.astype(np.int8)])
    return pd.DataFrame(
        {
            "src": np.concatenate([lm_src, sim_src]).astype(np.int32),
            "dst": np.concatenate([lm_dst, sim_dst]).astype(np.int32),
            "kind": pd.Categorical.from_codes(codes, categories=list(KINDS)),
            "cosine": np.concatenate([lm_cosine, sim_cosine]).astype(np.float32),
        }
    )


def graph_stats(edges: pd.DataFrame, n_genes: int) -> dict[str, float | int]:
    """Edge counts and in/out degree min/median/max per edge kind, for asset metadata.

    Degrees are over the nodes that take part in that kind of edge (``<kind>_receivers`` /
    ``<kind>_senders`` count them): over all genes the landmark kind's out-degree would be 0
    for every non-landmark, which says nothing.
    """
    stats: dict[str, float | int] = {"n_genes": int(n_genes), "n_edges": len(edges)}
    for kind in KINDS:
        chosen = (edges["kind"] == kind).to_numpy(dtype=bool)
        stats[f"{kind}_edges"] = int(chosen.sum())
        for direction, role, column in (("in", "receivers", "dst"), ("out", "senders", "src")):
            degree = np.bincount(edges[column].to_numpy()[chosen], minlength=n_genes)
            degree = degree[degree > 0]
            stats[f"{kind}_{role}"] = len(degree)
            stats[f"{kind}_{direction}_degree_min"] = int(degree.min()) if len(degree) else 0
            stats[f"{kind}_{direction}_degree_median"] = float(np.median(degree)) if len(degree) else 0.0
            stats[f"{kind}_{direction}_degree_max"] = int(degree.max()) if len(degree) else 0
    return stats
