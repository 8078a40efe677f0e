"""Tau: a connectivity score's signed percentile against a reference's NCS, as CLUE reports it.

CLUE (Subramanian et al. 2017) turns an NCS into τ by comparing it with the NCS that queries
built from the reference signatures themselves (Touchstone) reach: τ = sign(ncs) · 100 · the
fraction of reference NCS values of smaller magnitude. τ = 90 means only a tenth of the
reference's own connections are stronger, whatever the raw score scale of a cell line.

Here the reference is the release's treatment signatures flagged by ``is_touchstone`` (GEO
releases) or ``is_exemplar_sig`` (LINCS 2020, the set CLUE's query app uses); configurable.
Each reference query is one reference signature's top and bottom ``query_size`` genes of the
query gene space (BING by default), scored against every signature of the index with the
same WTCS and NCS (cell line × perturbagen type over the whole release) a user's query gets.
The null of a perturbagen type pools the NCS of every reference query against the reference
signatures of that type, leaving out each query's own signature. CLUE keeps one null per
reference signature; pooling per type gives every signature of a release a τ, not only the
reference's, and it is what the blocking check can size: each type needs enough reference
signatures and queries for a percentile to mean something.

A pooled null larger than ``max_values`` keeps evenly spaced order statistics of the full
sorted null (a quantile grid), so τ is then exact to 100 / max_values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from l1k_assets.search.connectivity import SignatureTable, is_control, score_many
from l1k_assets.search.rank_index import RankIndex
from l1k_assets.search.reference_null import ReferenceNull, ReferenceSetError

MIN_QUERIES_PER_TYPE = 10  # twice the blocking check's default minimum
NULL_PASS_BYTES = 2**29  # raw scores of the reference queries one pass holds (64 queries at 10^6 signatures)


def reference_mask(meta: pd.DataFrame, column: str = "is_touchstone") -> np.ndarray:
    """Treatment signatures flagged by ``column`` (1, 1.0, true, yes); a release without the column has no reference.

    Controls are never part of the reference: they are what treatments are compared with, and
    a query never lists them, so a τ of theirs would mean nothing.
    """
    if column not in meta.columns:
        raise ReferenceSetError(
            f"the release's signature metadata has no {column!r} column, so it has no reference set for τ "
            f"(columns: {sorted(meta.columns)[:12]}…); set another reference column or query without τ (--no-tau)"
        )
    text = meta[column].astype(str).str.strip().str.lower()
    flagged = text.isin(["1", "1.0", "true", "yes"]).to_numpy().copy()
    if "pert_type" in meta.columns:
        flagged &= ~is_control(meta.pert_type)
    if not flagged.any():
        raise ReferenceSetError(f"no treatment signature of the release is flagged by {column!r}: the reference set is empty")
    return flagged


def pick_queries(types: np.ndarray, reference_at: np.ndarray, max_queries: int, rng: np.random.Generator) -> np.ndarray:
    """Reference signatures to use as queries: in proportion to each type's share, but at least
    ``MIN_QUERIES_PER_TYPE`` of every type (all of a smaller one), so a rare type (shRNAs beside
    hundreds of thousands of compounds) still gets a null. Returned in index order."""
    kinds, counts = np.unique(types[reference_at], return_counts=True)
    picked = []
    for kind, count in zip(kinds, counts, strict=True):
        members = reference_at[types[reference_at] == kind]
        share = round(max_queries * count / len(reference_at))
        picked.append(rng.permutation(members)[: max(min(count, MIN_QUERIES_PER_TYPE), share)])
    return np.sort(np.concatenate(picked))


def reference_query_genes(ranks: np.ndarray, space_rows: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Up and down index rows of each reference query: a signature's ``size`` best and worst space genes.

    ``ranks`` is genes × signatures (as :meth:`RankIndex.read_signatures` returns); the result is
    two signatures × size arrays of index row positions, best (or worst) first.
    """
    order = space_rows[np.argsort(ranks[space_rows], axis=0, kind="stable")]  # space genes, most up first
    return order[:size].T, order[::-1][:size].T


def _quantile_grid(values: np.ndarray, size: int) -> np.ndarray:
    """Sorted values, or ``size`` evenly spaced order statistics of them when there are more."""
    ordered = np.sort(values)
    if len(ordered) <= size:
        return ordered
    return ordered[np.linspace(0, len(ordered) - 1, size).round().astype(np.int64)]


def build_reference_null(
    index: RankIndex,
    signatures: SignatureTable,
    reference: np.ndarray,
    space_genes: list[str],
    query_size: int = 100,
    max_queries: int = 200,
    max_values: int = 1_000_000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ReferenceNull, pd.DataFrame]:
    """The pooled null of every reference perturbagen type, and a per-type summary of its size.

    ``signatures`` is sig_info aligned to the index (:class:`~l1k_assets.search.connectivity.SignatureTable`),
    ``reference`` a boolean mask over its rows, ``space_genes`` the gene ids queries may use.
    About ``max_queries`` reference signatures (seeded, stratified by type: :func:`pick_queries`)
    become queries; ``progress(done, total)`` is called after each.
    """
    space_rows = index.gene_positions(space_genes, "gene-space")
    size = min(query_size, len(space_rows) // 4)
    if size < 10:
        raise ReferenceSetError(f"the gene space has {len(space_rows)} indexed genes: too few for reference queries of 10 genes")
    types = signatures.meta["pert_type"].astype(str).to_numpy()
    reference_at = np.flatnonzero(reference)
    picked = pick_queries(types, reference_at, max_queries, np.random.default_rng(seed))
    ranks, _ = index.read_signatures(picked)
    ups, downs = reference_query_genes(ranks, space_rows, size)
    pooled: dict[str, list[np.ndarray]] = {t: [] for t in np.unique(types[reference_at])}
    step = max(1, NULL_PASS_BYTES // (8 * index.n_signatures))  # queries scored together in one pass over the index
    for first in range(0, len(picked), step):
        queries = [
            (index.gene_ids[u].tolist(), index.gene_ids[d].tolist())
            for u, d in zip(ups[first : first + step], downs[first : first + step], strict=True)
        ]
        for own, wtcs in zip(picked[first : first + step], score_many(index, queries, "wtcs"), strict=True):
            ncs = signatures.ncs(wtcs, None)
            for pert_type in pooled:
                targets = reference_at[(types[reference_at] == pert_type) & (reference_at != own)]
                pooled[pert_type].append(np.abs(ncs[targets]))
        if progress is not None:
            progress(min(first + step, len(picked)), len(picked))
    null = ReferenceNull({t: _quantile_grid(np.concatenate(v), max_values) for t, v in pooled.items()})
    summary = pd.DataFrame(
        {
            "pert_type": list(pooled),
            "n_reference_signatures": [int((types[reference_at] == t).sum()) for t in pooled],
            "n_queries": [int((types[picked] == t).sum()) for t in pooled],
            "n_null_values": [int(sum(len(a) for a in pooled[t])) for t in pooled],
            "n_kept": [len(null.values[t]) for t in pooled],
        }
    )
    summary.attrs["query_size"] = size
    return null, summary
