"""CMap level 4 (robust z-scores against the plate) and level 5 (MODZ consensus of replicates).

Releases after GSE92742 ship level 3 only, and the derived levels are only comparable with
CMap's own if computed the same way: each gene of each profile is z-scored against its
plate's population with median and MAD (robust to the few wells a strong compound moves),
the MAD floored so a nearly constant gene cannot explode; then a signature is the weighted
mean of its replicates, each weighted by how well it agrees (Spearman) with its siblings, so
one failed well cannot drag the consensus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from l1k_assets.errors import DataError

MAD_TO_SD = 1.4826  # MAD × this estimates the standard deviation of normal data
MIN_WEIGHT = 0.01  # CMap's floor on a replicate's summed correlation, so a discordant replicate keeps a token weight


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


def _weights(values: np.ndarray) -> np.ndarray:
    """MODZ weights of replicate columns: summed Spearman correlation with the others, floored, normalised.

    Correlations use the genes measured in every replicate; an undefined correlation (a
    constant replicate) counts as no agreement.
    """
    n = values.shape[1]
    if n == 1:
        return np.ones(1)
    complete = values[~np.isnan(values).any(axis=1)]
    ranks = rankdata(complete, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(ranks, rowvar=False) if len(complete) > 1 else np.full((n, n), np.nan)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 0.0)
    summed = np.maximum(corr.sum(axis=1), MIN_WEIGHT)
    return summed / summed.sum()


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
    values = level4.to_numpy(dtype=np.float64)
    out = np.empty((values.shape[0], len(sig_ids)))
    for k, cols in enumerate(_group_columns(signature.to_numpy())):
        out[:, k] = _modz_values(values[:, cols])
    return pd.DataFrame(out, index=level4.index, columns=pd.Index(sig_ids, name=level4.columns.name))


def level5_from_level3(
    level3: pd.DataFrame, plates: Sequence[object] | np.ndarray, replicate_groups: pd.Series, mad_floor: float = 0.1
) -> pd.DataFrame:
    """Level 5 straight from level 3: robust z against each plate, then MODZ of each signature's replicates."""
    return level5_from_level4(robust_zscore(level3, plates, mad_floor=mad_floor), replicate_groups)
