"""Seed 000's classifier protocol end to end, callable from a notebook: nested CV, final refit, leave-one-cohort-out.

``train_indication_classifier`` takes the delta table (``cancer_type``, ``cohort`` and one
column per landmark gene) and returns a ``ClassifierReport``: the out-of-fold estimate with
its per-class, confusion and reliability tables, the refit calibrated forest and the
leave-one-cohort-out accuracies beside nested CV's on the same pairs, and the permutation
importance of the top genes on each outer fold's held-out pairs (while the fold forests are
at hand: they are not kept). A wall-clock budget on ``progress`` stops new outer folds or
held-out cohorts once spent, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from l1k_assets import plots
from l1k_assets.indication.classifier import (
    CalibratedForest,
    ClassifierConfig,
    NestedCVResult,
    estimable_cohorts,
    fit_calibrated_forest,
    leave_one_cohort_out,
    nested_cv,
    oof_accuracy_by_cohort,
    pooled_accuracy,
)
from l1k_assets.indication.deltas import gene_columns
from l1k_assets.indication.genes import held_out_permutation, impurity_importance
from l1k_assets.indication.metrics import confusion_tables, per_class_table, reliability_bins, report_averages
from l1k_assets.model_record import ModelRecord
from l1k_assets.progress import Progress

MODEL_FILE = "classifier.skops"
LOCO_COLUMNS = ["cohort", "cancer_type", "n", "estimable", "run", "accuracy", "nested_cv_accuracy"]


@dataclass(frozen=True)
class PermutationConfig:
    """Which genes are permuted on the held-out folds, and how often.

    ``top_k`` genes by the refit forest's impurity (0 = every gene): permuting all ~10^3 genes
    through five calibrated forests costs minutes, and the genes impurity ranks low are not
    where permutation changes the picture. The classifier's budget bounds it too: once spent,
    no further fold is permuted (the first always is).
    """

    top_k: int = 60
    repeats: int = 2
    seed: int = 0


@dataclass
class ClassifierReport:
    """What the protocol found: the nested-CV estimate, the final forest and the leave-one-cohort-out check."""

    genes: list[str]
    labels: np.ndarray  # the cancer type of every pair, in the delta table's order
    cv: NestedCVResult
    final: CalibratedForest
    loco: pd.DataFrame  # one row per cohort: LOCO accuracy and nested CV's on the same pairs
    seconds: float
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)  # per gene: impurity, held-out permutation
    permutation_stopped_by_budget: bool = False

    @property
    def stopped_by_budget(self) -> bool:
        """Whether the budget left an outer fold or an estimable held-out cohort unrun."""
        unrun = bool(len(self.loco) and (self.loco.estimable & ~self.loco["run"].astype(bool)).any())
        return self.cv.stopped_by_budget or unrun

    def per_fold(self) -> pd.DataFrame:
        """One row per outer fold run: its metrics, calibration method and the chosen parameters."""
        rows = [
            {"fold": str(f.fold), **f.metrics, "calibration": f.forest.method, "params": repr(f.forest.params)}
            for f in self.cv.folds
        ]
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """The per-fold rows and a ``pooled`` row of the out-of-fold metrics."""
        summary = self.cv.summary
        pooled = {"fold": "pooled", **{k.removesuffix("_pooled"): v for k, v in summary.items() if k.endswith("_pooled")}}
        return pd.concat([self.per_fold(), pd.DataFrame([pooled])], ignore_index=True)

    def metrics(self) -> dict[str, float]:
        """Nested CV's mean, sd and pooled metrics, leave-one-cohort-out's pooled accuracy and nested CV's on its pairs."""
        loco, ran = self.loco, len(self.loco) > 0
        return self.cv.summary | {
            "loco_accuracy": pooled_accuracy(loco) if ran else float("nan"),
            "loco_nested_cv_accuracy": pooled_accuracy(loco, "nested_cv_accuracy") if ran else float("nan"),
            "seconds": self.seconds,
        }

    def permuted(self) -> pd.DataFrame:
        """The genes the held-out permutation reached: gene, permutation, its sd over folds, folds."""
        return self.importance.dropna(subset=["permutation"]).drop(columns="impurity").reset_index()

    def record(self) -> ModelRecord:
        """The refit forest as the checkpoint; fold curves, per-class, confusion and LOCO tables; two plots."""
        cv, y = self.cv, self.labels
        scored = cv.scored
        counts, normalised = confusion_tables(y[scored], cv.oof_proba[scored], cv.classes)
        per_class = per_class_table(y[scored], cv.oof_proba[scored], cv.classes)
        bins = reliability_bins(y[scored], cv.oof_proba[scored], cv.classes)
        return ModelRecord(
            output=self.table(),
            files={MODEL_FILE: self.final.model},
            metrics=self.metrics(),
            manifest={
                "genes": self.genes,
                "classes": self.final.classes,
                "params": self.final.params,
                "calibration": self.final.method,
                "inner_scores": self.final.inner_scores,
                "held_out_permutation": self.permuted().to_dict(orient="list"),
            },
            facts={
                "final_params": self.final.params,
                "final_calibration": self.final.method,
                "permutation_folds": int(self.importance.permutation_folds.max()) if len(self.importance) else 0,
                "permutation_stopped_by_budget": self.permutation_stopped_by_budget,
            },
            tables={
                "per_fold": self.per_fold(),
                "per_class": per_class,
                "table_2_pooled": report_averages(per_class),
                "confusion_counts": counts,
                "leave_one_cohort_out": self.loco,
                "held_out_importance": self.importance.reset_index(),
            },
            plots={
                "reliability": plots.reliability_diagram(bins, "Out-of-fold reliability (nested CV)"),
                "confusion": plots.heatmap(normalised, "Confusion (row-normalised, out-of-fold)"),
            },
            curves=[{"step": f.fold, **{f"fold_{k}": v for k, v in f.metrics.items()}} for f in cv.folds],
            stopped_by_budget=self.stopped_by_budget,
        )


def train_indication_classifier(
    deltas: pd.DataFrame,
    protocol: ClassifierConfig,
    progress: Progress,
    *,
    final_search: bool = False,
    loco: bool = True,
    permutation: PermutationConfig | None = None,
) -> ClassifierReport:
    """Nested CV, the final calibrated forest on every pair, (``loco``) leave-one-cohort-out with its parameters,
    and the held-out permutation importance (``PermutationConfig()`` unless given).

    The final forest searches the grid again when ``final_search`` (seed 000), else takes the
    parameters the outer folds chose most often. ``progress`` carries the budget; nested CV and
    LOCO report as children of it, the permutation under its own budget.
    """
    genes = gene_columns(deltas)
    x = deltas[genes].to_numpy(dtype=np.float64)
    y = deltas.cancer_type.astype(str).to_numpy()
    cohorts = deltas.cohort.astype(str).to_numpy()
    cv = nested_cv(x, y, protocol, progress=progress.child("nested CV", protocol.outer_folds))
    final = fit_calibrated_forest(x, y, protocol, params=None if final_search else cv.chosen_params())
    table = pd.DataFrame(columns=LOCO_COLUMNS)
    if loco:
        n_estimable = sum(estimable_cohorts(y, cohorts).values())
        table = leave_one_cohort_out(x, y, cohorts, final.params, protocol, progress.child("leave-one-cohort-out", n_estimable))
        table["nested_cv_accuracy"] = table.cohort.map(oof_accuracy_by_cohort(cv, y, cohorts))
    importance, stopped = gene_importance(cv, final, x, y, genes, permutation or PermutationConfig(), progress)
    return ClassifierReport(genes, y, cv, final, table, progress.elapsed, importance, stopped)


def gene_importance(
    cv: NestedCVResult,
    final: CalibratedForest,
    x: np.ndarray,
    y: np.ndarray,
    genes: list[str],
    config: PermutationConfig,
    progress: Progress,
) -> tuple[pd.DataFrame, bool]:
    """Per gene, the refit forest's impurity importance and the top-k genes' held-out permutation importance."""
    impurity = impurity_importance(final.model, genes)
    candidates = impurity.nlargest(config.top_k or len(genes)).index.tolist()
    folds = progress.child("held-out permutation · fold", len(cv.folds))
    permuted = held_out_permutation(cv.folds, x, y, genes, candidates, config.repeats, config.seed, folds)
    table = pd.concat([impurity, permuted.reindex(impurity.index)], axis=1).rename_axis("gene")
    return table, folds.stopped_by_budget
