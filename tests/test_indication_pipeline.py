"""Method 1 end to end on the tiny embedded universe: does it recover what the generator planted?"""

import re

import numpy as np
import pandas as pd
import pytest

from l1k_assets.synthetic.universe import CANCER_TYPES, PROGRAM_PATHWAYS
from tests.conftest import MaterializedHome

RELEASE = "GSE92742"


def test_classifier_lands_near_the_seed_level_with_calibration_reported(tiny_home: MaterializedHome) -> None:
    folds = tiny_home.table("model_indication_classifier")
    outer = folds[folds.fold != "pooled"]
    assert len(outer) == 5
    assert 0.8 <= outer.balanced_accuracy.mean() < 0.99  # as hard as seed 000's cohorts, not saturated
    pooled = folds[folds.fold == "pooled"].iloc[0]
    assert 0 <= pooled.ece < 0.15 and 0 <= pooled.brier < 0.3
    meta = tiny_home.metadata("model_indication_classifier")
    assert meta["run_profile"].value["profile"] == "demo" and meta["run_profile"].value["stopped_by_budget"] is False
    assert meta["loco_accuracy"].value < meta["loco_nested_cv_accuracy"].value
    for key in (
        "balanced_accuracy_mean",
        "balanced_accuracy_sd",
        "brier_pooled",
        "ece_pooled",
        "reliability_plot",
        "confusion_plot",
        "mlflow_run_id",
    ):
        assert key in meta, key
    assert "data:image/png;base64," in meta["reliability_plot"].value
    n_pairs = len(tiny_home.table("core_tumor_normal_deltas"))
    assert "macro avg" in meta["table_2_pooled"].value and re.search(rf"\|\s*{n_pairs}\s*\|", meta["table_2_pooled"].value), (
        "seed 000's Table 2: pooled out-of-fold, every pair counted once"
    )


def test_classifier_metrics_are_in_mlflow(tiny_home: MaterializedHome) -> None:
    from mlflow.tracking import MlflowClient

    run_id = tiny_home.metadata("model_indication_classifier")["mlflow_run_id"].value
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_home.home / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["balanced_accuracy_mean"] >= 0.8
    assert run.data.params["profile"] == "demo"
    assert any(k.startswith("progress/indication_classifier/nested_CV") for k in run.data.metrics)
    assert run.data.tags["dagster.asset_key"] == "model_indication_classifier"
    artifacts = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"plots/reliability.png", "plots/confusion.png"} <= artifacts
    versions = client.search_model_versions("name='l1k.model_indication_classifier'")
    assert any(v.run_id == run_id and v.tags["dagster.asset_key"] == "model_indication_classifier" for v in versions)


def test_planted_programs_come_out_of_enrichment(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_indication_enrichment")
    for ctype in CANCER_TYPES:
        hits = table[(table["query"] == ctype) & (table.term == PROGRAM_PATHWAYS[ctype])]
        assert len(hits) == 1 and hits.fdr.iloc[0] < 0.05, f"{ctype}: {PROGRAM_PATHWAYS[ctype]} not enriched"
        top3 = table[table["query"] == ctype].sort_values("p_value").term.head(3).tolist()
        assert PROGRAM_PATHWAYS[ctype] in top3, f"{ctype}: top terms {top3}"


def test_figure_6_top_genes_separate_the_planted_types_better_than_random_genes(tiny_home: MaterializedHome) -> None:
    meta = tiny_home.metadata("out_indication_genes")
    assert "data:image/png;base64," in meta["figure_6_plot"].value
    ari = {row.split("|")[1].strip(): float(row.split("|")[2]) for row in meta["figure_6"].value.splitlines()[2:]}
    assert ari["top 30"] > ari["random 30"], ari


def test_exploration_reports_pca_and_clusterings(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_delta_exploration")
    assert set(table.method) == {"kmeans_euclidean", "kmedians_manhattan", "ward"}
    assert (table.ari > 0.2).all()
    meta = tiny_home.metadata("out_delta_exploration")
    assert "data:image/png;base64," in meta["pca_plot"].value and "data:image/png;base64," in meta["umap_plot"].value


def test_signature_probabilities_cover_every_signature_and_sum_to_one(tiny_home: MaterializedHome) -> None:
    proba = tiny_home.table("out_signature_class_probabilities", RELEASE)
    sigs = tiny_home.table("core_lincs_signatures", RELEASE)
    assert set(proba.index) == set(sigs.sig_id)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def _reverser_ranks(scores: pd.DataFrame, truth: dict, column: str) -> dict[str, list[int]]:
    ranks = {}
    for ctype, perts in truth["reversers"].items():
        of_type = scores[scores.cancer_type == ctype].set_index("pert_id")[column]
        ranks[ctype] = [int(of_type.rank(ascending=False, method="min")[p]) for p in perts]
    return ranks


def test_planted_reversers_rank_top5_under_median_and_tau(tiny_home: MaterializedHome) -> None:
    truth = tiny_home.manifest()["truth"]["universe"]
    median = _reverser_ranks(tiny_home.table("out_compound_scores", RELEASE), truth, "median")
    assert all(r <= 5 for ranks in median.values() for r in ranks), median
    connectivity = tiny_home.table("out_connectivity_scores", RELEASE)
    for column in ("tau", "wtcs_best"):
        ranks = _reverser_ranks(connectivity, truth, column)
        assert all(r <= 5 for per_type in ranks.values() for r in per_type), (column, ranks)


def test_median_wtcs_shows_the_planted_stad_coad_confusion(tiny_home: MaterializedHome) -> None:
    """Over the whole index's ranks, COAD's reversers out-score STAD's own on STAD's query (seed 000's confusion)."""
    truth = tiny_home.manifest()["truth"]["universe"]
    scores = tiny_home.table("out_connectivity_scores", RELEASE)
    stad = scores[scores.cancer_type == "STAD"].set_index("pert_id").wtcs_median
    reversers = truth["reversers"]
    assert stad[reversers["COAD"]].min() > stad[reversers["STAD"]].min()
    others = stad.drop([p for perts in reversers.values() for p in perts])
    assert stad[reversers["STAD"]].max() > others.max()


def test_compound_scores_carry_support_moa_scores_and_figure(tiny_home: MaterializedHome) -> None:
    scores = tiny_home.table("out_compound_scores", RELEASE)
    sigs = tiny_home.table("core_lincs_signatures", RELEASE)
    per_compound = sigs[sigs.pert_type == "trt_cp"].groupby("pert_id").size()
    support = scores.drop_duplicates("pert_id").set_index("pert_id").n_signatures
    assert (support.reindex(per_compound.index) == per_compound).all()
    assert (scores.best_shot >= scores["median"]).all() and (scores.global_best_shot >= scores.best_shot).all()
    meta = tiny_home.metadata("out_compound_scores", RELEASE)
    assert "data:image/png;base64," in meta["figure_8_best_shot"].value  # seed 000's Fig. 8 rule
    assert "data:image/png;base64," in meta["top5_per_type_median"].value
    assert "antagonist" in meta["moa_scores"].value  # the reversers' shared mechanism leads its type


@pytest.mark.parametrize(("release", "truth_key"), [("GSE92742", "lincs"), ("LINCS2020", "lincs2020")])
def test_knockdowns_of_the_strongest_reversal_are_never_ranked_as_drugs(
    tiny_home: MaterializedHome, release: str, truth_key: str
) -> None:
    """Each release mixes compounds with shRNAs (and CRISPR guides), ORFs and controls: a hairpin against a program's
    hub reverses it at least as strongly as any compound, yet compound scores hold compounds only, the knock-down
    is scored per target gene instead, and no control is ranked at all."""
    genetic = tiny_home.manifest()["truth"][truth_key]["genetic"]
    proba = tiny_home.table("out_signature_class_probabilities", release)
    sigs = tiny_home.table("core_lincs_signatures", release).set_index("sig_id")
    assert {"trt_sh", "trt_oe", "ctl_vehicle", "ctl_vector", "ctl_untrt"} <= set(sigs.pert_type)
    compounds = tiny_home.table("out_compound_scores", release)
    genes = tiny_home.table("out_genetic_scores", release)
    assert set(compounds.pert_type) == {"trt_cp"} and set(compounds.pert_id) <= set(sigs.pert_id[sigs.pert_type == "trt_cp"])
    assert not set(genes.pert_type) - {"trt_sh", "trt_xpr", "trt_oe"}
    for cancer_type, knockdowns in genetic["reversing_knockdowns"].items():
        strongest = proba.loc[sigs.index[sigs.pert_id.isin(knockdowns)], cancer_type].max()
        assert strongest >= proba.loc[sigs.index[sigs.pert_type == "trt_cp"], cancer_type].max() - 1e-9
        hub = genetic["hubs"][cancer_type]
        ranked = genes[(genes.cancer_type == cancer_type) & (genes.pert_type == "trt_sh")].sort_values("median", ascending=False)
        assert ranked.pert_iname.iloc[0] == hub
    meta = tiny_home.metadata("out_compound_scores", release)
    assert {"trt_sh", "ctl_vehicle"} <= set(meta["signatures_not_scored"].value)


def test_permutation_importance_is_held_out_on_every_outer_fold(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_indication_genes")
    permuted = table.dropna(subset=["permutation"])
    assert len(permuted) == 60 and set(permuted.index) == set(table.nsmallest(60, "rank").index)  # demo: the top 60 by impurity
    assert (permuted.permutation_folds == 5).all() and tiny_home.metadata("out_indication_genes")["permutation_folds"].value == 5
    assert permuted.permutation.nlargest(10).mean() > 0.0 and (permuted.permutation_fold_sd >= 0).all()
