"""CMap level 4 (robust z-scores against the plate) and level 5 (MODZ consensus of replicates).

Releases after GSE92742 ship level 3 only, and the derived levels are only comparable with
CMap's own if computed the same way: each gene of each profile is z-scored against its
plate's population with median and MAD (robust to the few wells a strong compound moves),
the MAD floored so a nearly constant gene cannot explode; then a signature is the weighted
mean of its replicates, each weighted by how well it agrees (Spearman) with its siblings, so
one failed well cannot drag the consensus.

The weights follow CMap's reference implementation (cmapPy ``agg_wt_avg``): each replicate's
Spearman correlations with its siblings are clipped at 0 before they are averaged, the mean
is floored at 0.01, and the weights are normalised. Keeping the negative correlations (a
plain sum) lets one anti-correlated well pull its siblings' weights down, and differs from
CMap's level 5 by up to 0.3 on a real 26-replicate DMSO group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from l1k_assets.errors import DataError

MAD_TO_SD = 1.4826  # MAD × this estimates the standard deviation of normal data
MIN_WEIGHT = 0.01  # CMap's floor on a replicate's mean correlation, so a discordant replicate keeps a token weight
MODZ_BLOCK_VALUES = 20_000_000  # values (genes × replicates) stacked per vectorized MODZ batch: ~160 MB of float64


def _group_columns(labels: np.ndarray) -> list[np.ndarray]:
    """Column positions of each distinct label, groups in order of first appearance (one pass, no quadratic scan)."""
    codes, uniques = pd.factorize(labels, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=len(uniques)))[:-1])


def _row_median(block: np.ndarray) -> np.ndarray:
    """Per-gene median ignoring missing values; np.nanmedian is ~5× slower, so it runs only when needed."""
    median = np.nanmedian if np.isnan(block).any() else np.median
    return median(block, axis=1, keepdims=True)


def robust_zscore(level3: pd.DataFrame, groups: Sequence[object] | np.ndarray, mad_floor: float = 0.1) -> pd.DataFrame:
    """Level 4: per plate and gene, (x − median) / (1.4826 · max(MAD, mad_floor)).

    ``groups`` gives each column's plate. Missing values are ignored by the median and MAD
    and stay missing. The result is float64, genes × instances in the input's order.
    """
    plates = np.asarray(groups)
    if plates.shape != (level3.shape[1],):
        raise DataError(f"robust_zscore: {plates.size} plate labels for {level3.shape[1]} instances")
    if mad_floor < 0:
        raise DataError(f"robust_zscore: mad_floor must be non-negative, not {mad_floor}")
    values = level3.to_numpy(dtype=np.float64)
    z = np.empty_like(values)
    for cols in _group_columns(plates):
        block = values[:, cols]
        median = _row_median(block)
        mad = _row_median(np.abs(block - median))
        z[:, cols] = (block - median) / (MAD_TO_SD * np.maximum(mad, mad_floor))
    return pd.DataFrame(z, index=level3.index, columns=level3.columns)


def _weights_from_corr(corr: np.ndarray) -> np.ndarray:
    """CMap's weights from replicate correlations (..., r, r): clip below 0, mean over siblings, floor, normalise.

    An undefined correlation (a constant replicate) counts as no agreement.
    """
    r = corr.shape[-1]
    agreement = np.clip(np.nan_to_num(corr, nan=0.0), 0.0, None)
    agreement[..., np.arange(r), np.arange(r)] = 0.0
    raw = np.maximum(agreement.sum(axis=-1) / (r - 1), MIN_WEIGHT)
    return raw / raw.sum(axis=-1, keepdims=True)


def _weights(values: np.ndarray) -> np.ndarray:
    """MODZ weights of one signature's replicate columns (genes × r), on the genes measured in every replicate."""
    n = values.shape[1]
    if n == 1:
        return np.ones(1)
    complete = values[~np.isnan(values).any(axis=1)]
    ranks = rankdata(complete, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(ranks, rowvar=False) if len(complete) > 1 else np.full((n, n), np.nan)
    return _weights_from_corr(corr)


def _batch_weights(stack: np.ndarray) -> np.ndarray:
    """MODZ weights of many complete signatures at once: ``stack`` is (signatures, genes, r), no missing values."""
    ranks = rankdata(stack, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("sgr,sgr->sr", ranks, ranks))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.einsum("sgr,sgq->srq", ranks, ranks) / (norms[:, :, None] * norms[:, None, :])
    return _weights_from_corr(corr)


def _modz_groups(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """MODZ of every group of columns (genes × groups): signatures with the same replicate count are
    stacked and weighted in one vectorized pass; ones with missing values take the per-signature path."""
    out = np.empty((values.shape[0], len(groups)))
    sizes = np.array([len(g) for g in groups])
    for r in np.unique(sizes):
        members = np.flatnonzero(sizes == r)
        per_batch = max(1, MODZ_BLOCK_VALUES // max(1, values.shape[0] * r))
        for start in range(0, len(members), per_batch):
            batch = members[start : start + per_batch]
            stack = np.moveaxis(values[:, np.stack([groups[k] for k in batch])], 0, 1)  # (signatures, genes, r)
            if r == 1:
                weights = np.ones((len(batch), 1))
            else:
                complete = ~np.isnan(stack).any(axis=(1, 2))
                weights = np.empty((len(batch), r))
                if complete.any():
                    weights[complete] = _batch_weights(stack[complete])
                for j in np.flatnonzero(~complete):
                    weights[j] = _weights(stack[j])
            out[:, batch] = np.einsum("sgr,sr->gs", stack, weights)
    return out


def _modz_values(values: np.ndarray) -> np.ndarray:
    return values @ _weights(values)


def _checked_block(block: pd.DataFrame) -> np.ndarray:
    if block.shape[1] == 0:
        raise DataError("MODZ needs at least one replicate column")
    return block.to_numpy(dtype=np.float64)


def modz_weights(block: pd.DataFrame) -> pd.Series:
    """Weights of a signature's replicate columns (genes × replicates); they sum to 1."""
    return pd.Series(_weights(_checked_block(block)), index=block.columns, name="weight")


def modz(block: pd.DataFrame) -> pd.Series:
    """The MODZ consensus of replicate columns: their weighted sum, one value per gene.

    A gene missing in any replicate is missing in the consensus rather than silently reweighted.
    """
    return pd.Series(_modz_values(_checked_block(block)), index=block.index)


def level5_from_level4(level4: pd.DataFrame, replicate_groups: pd.Series) -> pd.DataFrame:
    """Level 5: one MODZ column per signature, in order of first appearance among ``level4``'s columns.

    ``replicate_groups`` maps inst_id → sig_id; an instance it does not map is an error, as
    silently dropping it would change a signature's consensus.
    """
    groups = replicate_groups.set_axis(replicate_groups.index.astype(str))
    repeated = groups.index[groups.index.duplicated()]
    if len(repeated):
        raise DataError(f"instances {repeated[:5].tolist()} appear more than once in the replicate map")
    signature = groups.reindex(level4.columns.astype(str))
    unmapped = level4.columns[signature.isna().to_numpy()]
    if len(unmapped):
        raise DataError(f"{len(unmapped)} level-4 instances have no signature in the replicate map, e.g. {unmapped[:5].tolist()}")
    sig_ids = pd.unique(signature.to_numpy())
    out = _modz_groups(level4.to_numpy(dtype=np.float64), _group_columns(signature.to_numpy()))
    return pd.DataFrame(out, index=level4.index, columns=pd.Index(sig_ids, name=level4.columns.name))


def level5_from_level3(
    level3: pd.DataFrame, plates: Sequence[object] | np.ndarray, replicate_groups: pd.Series, mad_floor: float = 0.1
) -> pd.DataFrame:
    """Level 5 straight from level 3: robust z against each plate, then MODZ of each signature's replicates."""
    return level5_from_level4(robust_zscore(level3, plates, mad_floor=mad_floor), replicate_groups)
