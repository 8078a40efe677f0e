"""One benchmark row per (model, landmark set), and the table seed 002 reports (its Tables 1–4).

``evaluate`` scores a model's test-set prediction with every metric of the seed: the
sample-level overall error / SCC / PCC, the number of well-inferred genes (95th and 99.9th
null percentiles), and the gene ranking correlation on the well-inferred genes and on all
genes. ``benchmark_table`` lays rows out as the paper does (mean ± sd text columns) and keeps
the raw numbers beside them so that comparisons and plots need no parsing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage

from l1k_assets import plots
from l1k_assets.errors import DataError
from l1k_assets.inference.gene_metrics import (
    DEFAULT_MAD_FLOOR,
    check_truth_prediction,
    gene_recall,
    ranking_correlation,
)
from l1k_assets.inference.metrics import overall_metrics

WELL_INFERRED_PREFIX = "well_inferred_"


def _percentile_label(percentile: float) -> str:
    return f"{percentile:g}"


def evaluate(
    name: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    landmark_set: str = "L1000",
    landmark_mask: np.ndarray | None = None,
    mad_floor: float = DEFAULT_MAD_FLOOR,
    **recall_kwargs,
) -> dict:
    """Every seed-002 metric of one model's test prediction, as one flat row.

    The ranking correlation on "well-inferred genes" uses the first requested recall
    percentile (95 by default, as in the paper's Table 2) and, like the paper, adds the
    landmark genes (``landmark_mask`` over the gene columns) to that set. With fewer than two
    genes in the set the ranking correlation is undefined and reported as NaN.
    ``recall_kwargs`` go to ``gene_recall`` (percentiles, method, epsilon, delta, seed).
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    landmarks = np.zeros(truth.shape[1], dtype=bool) if landmark_mask is None else np.asarray(landmark_mask, dtype=bool)
    if landmarks.shape != (truth.shape[1],):
        raise DataError(f"landmark_mask has shape {landmarks.shape}, expected ({truth.shape[1]},)")
    recall = gene_recall(truth, pred, **recall_kwargs)
    percentiles = list(recall["thresholds"])
    ranked = recall["well_inferred_mask"][percentiles[0]] | landmarks
    well_mean, well_sd = ranking_correlation(truth, pred, ranked, mad_floor) if ranked.sum() >= 2 else (np.nan, np.nan)
    all_mean, all_sd = ranking_correlation(truth, pred, None, mad_floor)
    row: dict = {"model": name, "landmark_set": landmark_set, "n_test": truth.shape[0], "n_genes": truth.shape[1]}
    row.update(overall_metrics(truth, pred))
    for p in percentiles:
        row[f"{WELL_INFERRED_PREFIX}{_percentile_label(p)}"] = recall["n_well_inferred"][p]
        row[f"null_threshold_{_percentile_label(p)}"] = recall["thresholds"][p]
    row.update(
        {
            "n_constant_genes": len(recall["constant_genes"]),
            "recall_method": recall["method"],
            "n_ranking_genes": int(ranked.sum()),
            "ranking_well_mean": well_mean,
            "ranking_well_sd": well_sd,
            "ranking_all_mean": all_mean,
            "ranking_all_sd": all_sd,
        }
    )
    return row


def constant_model_row(truth: np.ndarray, landmark_set: str, landmark_mask: np.ndarray | None = None) -> dict:
    """Seed 002's reference row: every gene of a sample predicted as that sample's mean true value.

    The paper's Table 1 note: "all 12 320 genes set to the mean value of the ground-truth RNA-seq
    values in each dataset" (error 16.603, 616 well-inferred genes). Its correlations are
    undefined (a constant prediction has no ranks) and read N/D, as in the paper.
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.repeat(truth.mean(axis=1, keepdims=True), truth.shape[1], axis=1)
    return evaluate("constant", truth, prediction, landmark_set, landmark_mask)


def _mean_sd_text(means: pd.Series, sds: pd.Series, digits: int) -> pd.Series:
    """ "3.691 ± 0.451", or the paper's "N/D" where the metric is undefined."""
    return pd.Series(
        [f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(m) else "N/D" for m, s in zip(means, sds, strict=True)],
        index=means.index,
    )


def benchmark_table(rows: Sequence[Mapping]) -> pd.DataFrame:
    """Rows of ``evaluate`` as the paper's table: grouped by landmark set (first-seen order), models in row order.

    Text columns ("Overall error", "Overall SCC", ...) come first, formatted mean ± sd like
    the paper (3 decimals for the error, 4 for correlations); the raw numeric columns of
    ``evaluate`` follow under their own names.
    """
    if not rows:
        raise DataError("benchmark_table needs at least one evaluated model")
    raw = pd.DataFrame(list(rows))
    group = pd.Categorical(raw.landmark_set, categories=list(dict.fromkeys(raw.landmark_set)), ordered=True)
    raw = raw.assign(_group=group).sort_values("_group", kind="stable").drop(columns="_group").reset_index(drop=True)
    table = pd.DataFrame({"Model": raw.model, "Landmark set": raw.landmark_set})
    table["Overall error"] = _mean_sd_text(raw.error_mean, raw.error_sd, 3)
    table["Overall SCC"] = _mean_sd_text(raw.scc_mean, raw.scc_sd, 4)
    table["Overall PCC"] = _mean_sd_text(raw.pcc_mean, raw.pcc_sd, 4)
    for column in [c for c in raw.columns if c.startswith(WELL_INFERRED_PREFIX)]:
        table[f"Well-inferred genes (> {column.removeprefix(WELL_INFERRED_PREFIX)}th null percentile)"] = raw[column]
    table["Gene ranking correlation (well-inferred genes)"] = _mean_sd_text(raw.ranking_well_mean, raw.ranking_well_sd, 4)
    table["Gene ranking correlation (all genes)"] = _mean_sd_text(raw.ranking_all_mean, raw.ranking_all_sd, 4)
    return pd.concat([table, raw.drop(columns=["model", "landmark_set"])], axis=1)


def _cluster_order(matrix: np.ndarray) -> np.ndarray:
    """Row order from average-linkage clustering (the seed's Figure 2 orders genes and samples this way)."""
    return leaves_list(linkage(matrix, method="average")) if len(matrix) > 1 else np.arange(len(matrix))


def truth_vs_prediction_heatmap(
    y_true: np.ndarray, y_pred: np.ndarray, n_samples: int = 30, n_genes: int = 60, model: str = "prediction"
) -> bytes:
    """PNG: measured and inferred values of the most variable genes (rows) over test samples (columns), one colour scale.

    Samples are spread evenly over the test set; genes are the ``n_genes`` with the largest
    measured variance, where a failure to follow the truth is visible. Both axes are ordered
    by clustering the truth, and the prediction is shown in the same order and on the same
    scale, so a good model's panel looks like the truth's.
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    if n_samples < 1 or n_genes < 1:
        raise ValueError(f"n_samples and n_genes must be positive, got {n_samples} and {n_genes}")
    samples = np.unique(np.linspace(0, truth.shape[0] - 1, min(n_samples, truth.shape[0])).round().astype(int))
    genes = np.sort(np.argsort(truth.var(axis=0), kind="stable")[::-1][:n_genes])
    shown_truth = truth[np.ix_(samples, genes)].T
    gene_order = _cluster_order(shown_truth)
    sample_order = _cluster_order(shown_truth.T)
    panels = {
        "measured": shown_truth[np.ix_(gene_order, sample_order)],
        model: pred[np.ix_(samples, genes)].T[np.ix_(gene_order, sample_order)],
    }
    title = f"Measured vs inferred: {len(genes)} most variable genes × {len(samples)} test samples"
    return plots.shared_scale_heatmaps(panels, title, "test sample", "gene")
