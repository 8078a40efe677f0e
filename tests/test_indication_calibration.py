"""Method 1 on generated cohorts: as hard as seed 000, with its confusions, progress reports, budgets and profiles.

The tiny universe's GEO cohorts are written and read back through the real preprocessing
(no Dagster), then the demo protocol runs on them: the numbers asserted are what the
classifier recovers of what the generator planted (shared programs, cohort effects).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.geo.catalog import load_catalog
from l1k_assets.geo.cohort import clean_cohort, combine_cohorts
from l1k_assets.indication.assets import ClassifierSettings, ExplorationSettings
from l1k_assets.indication.classifier import (
    ClassifierConfig,
    NestedCVResult,
    leave_one_cohort_out,
    nested_cv,
    oof_accuracy_by_cohort,
    pooled_accuracy,
)
from l1k_assets.indication.deltas import gene_columns, tumor_normal_deltas
from l1k_assets.indication.metrics import confusion_tables
from l1k_assets.progress import Progress, ProgressReport
from l1k_assets.synthetic.geo_writer import SHARED_PROGRAMS, expression_path, platform_path, write_geo_cohorts
from l1k_assets.synthetic.universe import Universe, build_universe
from resources.profile import ProfileError, RunProfile

PROTOCOL = ClassifierSettings().protocol()  # the demo protocol the main job runs
SMALL = ClassifierConfig(n_estimators=(20,), max_depth=(None,), min_samples_split=(2,), min_samples_leaf=(1, 2), outer_folds=3)


def _deltas(universe: Universe, root: Path) -> pd.DataFrame:
    """The embedded cohorts as the pipeline reads them: series matrix or SOFT files → clean cohorts → combined → deltas."""
    catalog = load_catalog()
    write_geo_cohorts(universe, root, catalog)
    tables = {}
    for cohort in catalog:
        platform = platform_path(root, cohort.platform, cohort.platform_file)
        tables[cohort.cohort], _ = clean_cohort(expression_path(root, cohort), platform, cohort, universe.landmarks)
    return tumor_normal_deltas(combine_cohorts(tables, universe.landmarks).table)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Universe, pd.DataFrame]:
    universe = build_universe("tiny", 0)
    return universe, _deltas(universe, tmp_path_factory.mktemp("geo"))


@pytest.fixture(scope="module")
def estimate(cohorts: tuple[Universe, pd.DataFrame]) -> tuple[NestedCVResult, pd.DataFrame, np.ndarray]:
    """The demo protocol's nested CV and leave-one-cohort-out on the tiny cohorts, and the labels."""
    _, deltas = cohorts
    x = deltas[gene_columns(deltas)].to_numpy()
    y = deltas.cancer_type.to_numpy()
    cv = nested_cv(x, y, PROTOCOL)
    loco = leave_one_cohort_out(x, y, deltas.cohort.to_numpy(), cv.chosen_params(), PROTOCOL)
    loco["nested_cv_accuracy"] = loco.cohort.map(oof_accuracy_by_cohort(cv, y, deltas.cohort.to_numpy()))
    return cv, loco, y


def test_shared_programs_are_planted_in_the_deltas(cohorts: tuple[Universe, pd.DataFrame]) -> None:
    universe, deltas = cohorts
    means = deltas.groupby("cancer_type")[gene_columns(deltas)].mean()
    for ctype, partner in {c: p for c, (p, _) in SHARED_PROGRAMS.items()}.items():
        program = universe.programs[partner]
        carried = np.corrcoef(means.loc[ctype, program.index], -program)[0, 1]
        assert carried > 0.8, f"{ctype} tumors should carry {partner}'s program"
        assert abs(np.corrcoef(means.loc["KIRC", program.index], -program)[0, 1]) < 0.5  # KIRC shares nothing


def test_nested_cv_is_hard_but_not_hopeless(estimate: tuple[NestedCVResult, pd.DataFrame, np.ndarray]) -> None:
    cv, _, _ = estimate
    assert 0.8 < cv.summary["balanced_accuracy_mean"] < 0.99
    assert cv.summary["balanced_accuracy_sd"] > 0  # folds differ: nothing is saturated
    assert cv.summary["ece_pooled"] < 0.1 and cv.summary["brier_pooled"] < 0.2


def test_seed_confusions_are_among_the_largest(estimate: tuple[NestedCVResult, pd.DataFrame, np.ndarray]) -> None:
    cv, _, y = estimate
    _, rates = confusion_tables(y, cv.oof_proba, cv.classes)
    cells = rates.stack()
    off = cells[[truth != predicted for truth, predicted in cells.index]].sort_values(ascending=False)
    top = set(off.index[:3])
    assert ("ESCC", "LUAD") in top and ("STAD", "COAD") in top, off.head(5)


def test_leave_one_cohort_out_is_below_nested_cv_on_the_same_pairs(
    estimate: tuple[NestedCVResult, pd.DataFrame, np.ndarray],
) -> None:
    _, loco, _ = estimate
    ran = loco[loco["run"]]
    # the types with more than one cohort in the compendium (GDS507, KIRC's second, is left out: HG-U133B)
    assert set(ran.cancer_type) == {"COAD", "LUAD"}
    assert pooled_accuracy(loco) < pooled_accuracy(loco, "nested_cv_accuracy")


def _blobs(n_per: int = 20, k: int = 3, genes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, size=(k, genes))
    x = np.vstack([centres[i] + rng.normal(0, 1, size=(n_per, genes)) for i in range(k)])
    return x, np.repeat([f"T{i}" for i in range(k)], n_per)


def test_cv_progress_reports_folds_and_inner_grids() -> None:
    x, y = _blobs()
    reports: list[ProgressReport] = []
    cv = nested_cv(x, y, SMALL, progress=Progress("cv", SMALL.outer_folds, reports.append, every_seconds=0))
    outer = [r for r in reports if r.label == "cv"]
    assert [r.step for r in outer] == [1, 2, 3] and outer[-1].total == 3
    assert outer[-1].values["balanced_accuracy_mean"] == pytest.approx(cv.summary["balanced_accuracy_mean"])
    assert outer[-1].remaining == 0 and all(r.elapsed >= 0 for r in outer)
    inner = [r for r in reports if "inner grid" in r.label]
    assert len(inner) == SMALL.outer_folds * len(SMALL.grid()) and "best_inner_balanced_accuracy" in inner[0].values
    assert not cv.stopped_by_budget and cv.summary["outer_folds_run"] == 3


def test_a_tiny_budget_stops_cv_and_loco_early_and_says_so() -> None:
    x, y = _blobs()
    reports: list[ProgressReport] = []
    cv = nested_cv(x, y, SMALL, progress=Progress("cv", 3, reports.append, budget_seconds=1e-6))
    assert cv.stopped_by_budget and len(cv.folds) == 1 and cv.summary["outer_folds_run"] == 1
    assert len(cv.folds[0].forest.inner_scores) == 1  # the inner grid stopped after its first point too
    assert any("stopped: time budget" in r.message() for r in reports)
    scored = cv.scored
    assert scored.sum() == len(cv.folds[0].test) and not math.isnan(cv.summary["balanced_accuracy_pooled"])
    cohorts = np.repeat(["A", "B", "C", "D"], 15)
    labels = np.array(["T0"] * 30 + ["T1"] * 30)
    budget = Progress("loco", 4, reports.append, budget_seconds=1e-6)
    loco = leave_one_cohort_out(x[: len(labels)], labels, cohorts, {"n_estimators": 10}, SMALL, budget)
    assert loco["run"].tolist() == [True, False, False, False] and budget.stopped_by_budget


@pytest.mark.parametrize(
    ("settings", "field", "paper_value"),
    [
        (ClassifierSettings, "n_estimators", [200, 500]),
        (ClassifierSettings, "max_depth", [0, 12, 24]),
        (ClassifierSettings, "final_search", True),
        (ClassifierSettings, "permutation_top_k", 0),
        (ExplorationSettings, "n_init", 10),
    ],
)
def test_paper_profile_gives_the_seed_settings(settings: type, field: str, paper_value: object) -> None:
    demo = RunProfile(name="demo").apply(settings())
    paper = RunProfile(name="paper").apply(settings())
    assert getattr(paper, field) == paper_value != getattr(demo, field)
    if "time_budget_seconds" in settings.model_fields:
        assert paper.time_budget_seconds is None and demo.time_budget_seconds > 0
        assert RunProfile(name="demo", budget_scale=2.0).apply(settings()).time_budget_seconds == 2 * demo.time_budget_seconds
    explicit = RunProfile(name="paper").apply(settings(**{field: getattr(demo, field)}))
    assert getattr(explicit, field) == getattr(demo, field)  # a value the user typed wins over the profile


def test_grid_sizes_and_bad_budgets() -> None:
    demo = RunProfile(name="demo").apply(ClassifierSettings()).protocol()
    paper = RunProfile(name="paper").apply(ClassifierSettings()).protocol()
    assert (len(demo.grid()), len(paper.grid())) == (2, 24)
    with pytest.raises(ProfileError, match=r"ClassifierSettings\.time_budget_seconds"):
        RunProfile(name="demo").apply(ClassifierSettings(time_budget_seconds=0))
