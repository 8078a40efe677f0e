"""Plain NumPy transcriptions of CMap's statistics: the oracles the compiled search kernels are tested against.

For a signature ranked by score (descending) and a query gene set, hits step up by
|score| / Σ|score of hits| and misses step down by 1 / (N − N_hits); the enrichment score is
the signed extreme of that running sum. WTCS = (ES_up − ES_down) / 2 when the two have
opposite signs, else 0. NCS divides each WTCS by the mean positive (or negative) WTCS of its
cell line × perturbagen type. They live with the tests: the platform scores through
``l1k_assets.search`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.search.ncs import group_codes, ncs_by_group

Ranking = tuple[np.ndarray, np.ndarray]  # rank_signatures: gene order per row, and the scores in that order


def rank_signatures(scores: np.ndarray) -> Ranking:
    """Each row's gene order by descending score (stable) and the scores in that order.

    Sorting is most of an enrichment score's cost and does not depend on the query, so a
    chunk of signatures is ranked once and every query set reuses it.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    return order, np.take_along_axis(scores, order, axis=1)


def weighted_es(scores: np.ndarray, in_set: np.ndarray, ranking: Ranking | None = None) -> np.ndarray:
    """Enrichment score of one gene set in every row of ``scores`` (signatures × genes).

    ``in_set`` is a boolean mask over the genes (columns). Ties in the ranking are broken by
    column order (stable sort), the convention of CMap's implementation. ``ranking`` is
    ``rank_signatures(scores)`` when the caller already has it.
    """
    n_genes = scores.shape[1]
    n_hits = int(in_set.sum())
    if n_hits == 0 or n_hits == n_genes:
        raise DataError(f"a query set must hit some but not all of the {n_genes} genes (it hits {n_hits})")
    order, ranked = ranking if ranking is not None else rank_signatures(scores)
    hits = in_set[order]
    weights = np.where(hits, np.abs(ranked), 0.0)
    norm = weights.sum(axis=1, keepdims=True)
    # A signature whose hit genes all score 0 gets equal steps instead of a division by zero.
    equal = np.where(hits, 1.0, 0.0)
    weights = np.where(norm > 0, weights, equal)
    norm = np.where(norm > 0, norm, n_hits)
    running = np.cumsum(weights / norm - np.where(hits, 0.0, 1.0 / (n_genes - n_hits)), axis=1)
    extreme = np.abs(running).argmax(axis=1)
    return running[np.arange(len(scores)), extreme]


def wtcs(scores: np.ndarray, up: np.ndarray, down: np.ndarray, ranking: Ranking | None = None) -> np.ndarray:
    """Weighted connectivity score of each signature against an up/down query (``ranking`` as for ``weighted_es``)."""
    ranking = ranking if ranking is not None else rank_signatures(scores)
    es_up = weighted_es(scores, up, ranking)
    es_down = weighted_es(scores, down, ranking)
    return np.where(np.sign(es_up) != np.sign(es_down), (es_up - es_down) / 2.0, 0.0)


def normalized_scores(table: pd.DataFrame, score: str = "wtcs", by: Sequence[str] = ("cell_id", "pert_type")) -> pd.Series:
    """NCS: WTCS divided by the mean positive (or negative) WTCS of its group.

    Group means come from integer group codes and ``np.bincount``: a query over 10^6 signatures
    normalises in tens of milliseconds, where a pandas groupby-transform takes half a second.
    A NaN score stays out of the means and gets NCS 0, as a zero score does.
    """
    codes, n_groups = group_codes(table, by)
    ncs = ncs_by_group(table[score].to_numpy(dtype=np.float64), codes, n_groups)
    return pd.Series(ncs, index=table.index)
