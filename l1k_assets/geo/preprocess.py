"""From a parsed series matrix to genes on a log2 scale (METHODS.md §1).

Cohorts arrive on different scales (MAS5 intensities, RMA log2 values), and the tumor-normal
deltas are only comparable on log2 values, so the scale is decided by GEO2R's own rule rather
than per-cohort settings. Several probes of one gene are reduced to the single most variable
probe, which carries the most signal, and the genes are then cut to the L1000 landmarks that
every sample measured, because the classifier is later applied to L1000 signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

# GEO2R: quantiles 0, 25, 50, 75, 99 and 100 % of all values decide whether the data look raw.
GEO2R_QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.99, 1.0)


def geo2r_log2(expr: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Apply GEO2R's log2 rule; return the (possibly) transformed matrix and whether it was transformed.

    ``LogC = q99 > 100 or (q100 - q0 > 50 and q25 > 0)``; when true, values ≤ 0 become missing
    and the rest are log2-transformed. Quantiles use R's default (type 7), numpy's "linear".
    """
    values = expr.to_numpy(dtype=np.float64)
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise DataError(f"expression matrix of {expr.shape[0]} probes × {expr.shape[1]} samples has no value to decide its scale")
    q0, q25, _, _, q99, q100 = np.quantile(present, GEO2R_QUANTILES)
    log_c = bool(q99 > 100 or (q100 - q0 > 50 and q25 > 0))
    if not log_c:
        return expr.astype(np.float64), False
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.log2(np.where(values > 0, values, np.nan))
    return pd.DataFrame(logged, index=expr.index, columns=expr.columns), True


def collapse_probes(expr: pd.DataFrame, platform: pd.DataFrame) -> pd.DataFrame:
    """Genes × samples: for each symbol the probe with the largest variance across samples.

    Variance is the sample variance (ddof 1) over the values present; a probe without a variance
    (fewer than two values) loses to any probe with one. Ties go to the smallest probe id so the
    choice does not depend on file order. Probes absent from the platform table are ignored.
    """
    _require_unique_rows(expr, "probes")
    if platform["probe_id"].duplicated().any():
        duplicated = platform.loc[platform["probe_id"].duplicated(), "probe_id"].tolist()[:5]
        raise DataError(f"platform table maps some probes more than once, e.g. {duplicated}")
    symbol_of = pd.Series(platform["symbol"].to_numpy(), index=pd.Index(platform["probe_id"], dtype=str))
    probes = pd.DataFrame({"probe_id": expr.index.astype(str), "symbol": symbol_of.reindex(expr.index.astype(str)).to_numpy()})
    probes["variance"] = expr.var(axis=1, ddof=1).to_numpy()
    probes = probes.dropna(subset=["symbol"])
    if probes.empty:
        raise DataError(f"none of the {expr.shape[0]} probes of the expression matrix is in the platform table")
    chosen = (
        probes.sort_values(["symbol", "variance", "probe_id"], ascending=[True, False, True], na_position="last")
        .drop_duplicates("symbol")
        .set_index("symbol")["probe_id"]
    )
    genes = expr.set_axis(expr.index.astype(str), axis=0).loc[chosen.to_numpy()]
    genes.index = pd.Index(chosen.index, dtype=str, name="symbol")
    return genes


def restrict_to_genes(expr: pd.DataFrame, genes: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Rows for ``genes`` in their given order, keeping only genes present with a value in every sample.

    Returns the table and the genes left out (absent or with a missing value), in ``genes`` order.
    A gene listed twice is kept once.
    """
    _require_unique_rows(expr, "genes")
    wanted = pd.Index(list(dict.fromkeys(genes)), dtype=str)
    complete = expr.index[expr.notna().all(axis=1).to_numpy()]
    keep = wanted.isin(complete)
    return expr.loc[wanted[keep]], wanted[~keep].tolist()


def _require_unique_rows(expr: pd.DataFrame, what: str) -> None:
    repeated = expr.index[expr.index.duplicated()]
    if len(repeated):
        raise DataError(f"expression rows are not unique {what}, e.g. {repeated[:5].tolist()}")
