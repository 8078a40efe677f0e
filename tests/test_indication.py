"""Method 1's parts on hand-made data: deltas, metrics, nested CV hygiene, WTCS, enrichment, scoring."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from l1k_assets.errors import DataError
from l1k_assets.genesets.enrichment import benjamini_hochberg, enrich
from l1k_assets.indication.classifier import CalibratedForest, ClassifierConfig, FoldResult, calibrate, nested_cv
from l1k_assets.indication.compounds import compound_scores, moa_scores, perturbagen_scores, shortlist
from l1k_assets.indication.deltas import consensus_query, tumor_normal_deltas
from l1k_assets.indication.exploration import cluster_scores, k_medians
from l1k_assets.indication.genes import held_out_permutation, permutation_importances
from l1k_assets.indication.metrics import expected_calibration_error, multiclass_brier
from l1k_assets.indication.scoring import stream_probabilities
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.lincs.levels import robust_zscore
from l1k_assets.lincs.metadata import read_moa_table
from l1k_assets.progress import Progress
from tests.oracles import normalized_scores, weighted_es, wtcs

FAST = ClassifierConfig(n_estimators=(30,), max_depth=(None,), min_samples_split=(2,), min_samples_leaf=(1, 2), outer_folds=3)


def _samples() -> pd.DataFrame:
    rows = [
        ("N1", "C1", "LUAD", "p1", "normal", 5.0, 7.0),
        ("T1", "C1", "LUAD", "p1", "tumor", 3.5, 8.0),
        ("N2", "C1", "LUAD", "p2", "normal", 6.0, 6.0),
        ("T2", "C1", "LUAD", "p2", "tumor", 6.5, 4.0),
    ]
    table = pd.DataFrame(rows, columns=["gsm", "cohort", "cancer_type", "patient_id", "tissue", "A", "B"]).set_index("gsm")
    return table.sample(frac=1.0, random_state=3)


def test_deltas_are_normal_minus_tumor_on_plain_values() -> None:
    deltas = tumor_normal_deltas(_samples())
    assert deltas.loc["C1:p1", ["A", "B"]].tolist() == [1.5, -1.0]
    assert deltas.loc["C1:p2", ["A", "B"]].tolist() == [-0.5, 2.0]
    assert deltas.loc["C1:p1", "normal_gsm"] == "N1" and deltas.loc["C1:p1", "tumor_gsm"] == "T1"


def test_deltas_refuse_nan_and_unpaired_patients() -> None:
    samples = _samples()
    samples.loc["T2", "B"] = np.nan
    with pytest.raises(DataError, match=r"missing delta values.*p2.*gene B"):
        tumor_normal_deltas(samples)
    extra = _samples()
    extra.loc["N3"] = ["C1", "LUAD", "p1", "normal", 1.0, 1.0]
    with pytest.raises(DataError, match="patient p1: 2 normal and 1 tumor"):
        tumor_normal_deltas(extra)


def test_brier_and_ece_match_hand_computation() -> None:
    classes = ["a", "b"]
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    y = ["a", "b", "b", "b"]
    # Brier: (0.01+0.01) + (0.36+0.36) + (0.09+0.09) + (0.04+0.04) = 1.0 over 4 samples
    assert multiclass_brier(y, proba, classes) == pytest.approx(0.25)
    # top probs 0.9 (right), 0.6 (wrong), 0.7 (right), 0.8 (right); 10 bins:
    # bin (0.5,0.6]: conf .6 acc 0; (0.6,0.7]: .7 acc 1; (0.7,0.8]: .8 acc 1; (0.8,0.9]: .9 acc 1
    expected = (0.6 + 0.3 + 0.2 + 0.1) / 4
    assert expected_calibration_error(y, proba, classes) == pytest.approx(expected)


def _blobs(n_per: int = 30, k: int = 3, genes: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(k, genes))
    x = np.vstack([centres[i] + rng.normal(0, 1, size=(n_per, genes)) for i in range(k)])
    y = np.repeat([f"T{i}" for i in range(k)], n_per)
    return x, y


def test_nested_cv_estimates_separable_classes_and_reports_calibration() -> None:
    x, y = _blobs()
    result = nested_cv(x, y, FAST)
    assert result.summary["balanced_accuracy_mean"] > 0.9
    assert np.allclose(result.oof_proba.sum(axis=1), 1.0)
    assert {f.forest.method for f in result.folds} <= {"isotonic", "sigmoid"}
    assert 0 <= result.summary["ece_pooled"] < 0.3 and 0 <= result.summary["brier_pooled"] < 0.3


def test_calibrated_fold_model_never_sees_its_test_labels() -> None:
    x, y = _blobs(seed=1)
    folds = [
        (np.setdiff1d(np.arange(len(y)), test), test) for test in np.array_split(np.random.default_rng(0).permutation(len(y)), 3)
    ]
    first = nested_cv(x, y, FAST, folds=folds)
    scrambled = y.copy()
    test0 = folds[0][1]
    scrambled[test0] = np.roll(y[test0], 7)  # wrong labels for fold 0's test rows only
    second = nested_cv(x, scrambled, FAST, folds=folds)
    train0 = folds[0][0]
    np.testing.assert_array_equal(first.folds[0].forest.predict_proba(x[train0]), second.folds[0].forest.predict_proba(x[train0]))
    np.testing.assert_array_equal(first.folds[0].proba, second.folds[0].proba)
    assert first.folds[0].metrics["accuracy"] != second.folds[0].metrics["accuracy"]


def test_calibration_falls_back_to_sigmoid_for_small_classes() -> None:
    x, y = _blobs(n_per=12)
    _, method = calibrate(x, y, {"n_estimators": 20}, FAST)
    assert method == "sigmoid"
    x, y = _blobs(n_per=60)
    _, method = calibrate(x, y, {"n_estimators": 20}, FAST)
    assert method == "isotonic"


def test_bad_label_sets_are_refused() -> None:
    x, _ = _blobs()
    with pytest.raises(DataError, match="only one cancer type"):
        nested_cv(x, np.repeat("LUAD", len(x)), FAST)
    y = np.repeat(["A", "B"], [len(x) - 2, 2])
    with pytest.raises(DataError, match="'B' has 2 samples, fewer than the 3 CV folds"):
        nested_cv(x, y, FAST)


def _loop_es(scores: list[float], genes: list[str], query: set[str]) -> float:
    """Direct transcription of CMap's weighted KS, one gene at a time."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits = [genes[i] in query for i in order]
    n, n_hits = len(scores), sum(hits)
    total = sum(abs(scores[i]) for i, h in zip(order, hits, strict=True) if h)
    p_hit = p_miss = 0.0
    best = 0.0
    for i, h in zip(order, hits, strict=True):
        if h:
            p_hit += abs(scores[i]) / total
        else:
            p_miss += 1.0 / (n - n_hits)
        if abs(p_hit - p_miss) > abs(best):
            best = p_hit - p_miss
    return best


def test_wtcs_matches_loop_transcription_on_real_signatures(shared_data) -> None:
    gct = read_gct(shared_data / "l1000" / "cmappy_test_l1000.gct")
    data = gct.data.dropna()
    genes = data.index.tolist()
    # Level 4 of the real plate (robust z against the plate) gives real signatures to score.
    signatures = robust_zscore(data, np.zeros(data.shape[1]))
    scores = signatures.to_numpy(dtype=np.float64).T[:40]
    query = signatures.iloc[:, 0].sort_values()
    up, down = query.index[-30:].tolist(), query.index[:30].tolist()
    up_mask, down_mask = np.isin(genes, up), np.isin(genes, down)
    fast = wtcs(scores, up_mask, down_mask)
    for row, value in zip(scores, fast, strict=True):
        es_up = _loop_es(row.tolist(), genes, set(up))
        es_down = _loop_es(row.tolist(), genes, set(down))
        expected = (es_up - es_down) / 2 if np.sign(es_up) != np.sign(es_down) else 0.0
        assert value == pytest.approx(expected, abs=1e-9)
    assert np.count_nonzero(fast) > 5 and fast[0] > 0.5


def test_weighted_es_is_plus_one_when_the_set_tops_the_ranking() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 0.1, -1.0, -2.0]])
    assert weighted_es(scores, np.array([True, True, False, False, False, False]))[0] == pytest.approx(1.0)
    assert weighted_es(scores, np.array([False, False, False, False, True, True]))[0] == pytest.approx(-1.0)


def test_consensus_query_and_ncs() -> None:
    up, down = consensus_query(pd.Series({"a": 3.0, "b": -2.0, "c": 0.5, "d": -4.0}), 1)
    assert (up, down) == (["a"], ["d"])
    table = pd.DataFrame({"wtcs": [0.4, 0.2, -0.3, 0.0], "cell_id": ["X"] * 4, "pert_type": ["trt_cp"] * 4})
    assert normalized_scores(table).tolist() == pytest.approx([0.4 / 0.3, 0.2 / 0.3, -1.0, 0.0])


def test_enrichment_p_values_and_fdr_are_hand_checkable() -> None:
    background = [f"G{i}" for i in range(100)]
    libraries = {"lib": {"A": [*background[:10], "NOT_IN_BACKGROUND"], "B": background[50:70], "C": background[90:95]}}
    query = background[:5] + background[50:52]
    table = enrich(query, libraries, background).set_index("term")
    assert table.loc["A", "p_value"] == pytest.approx(hypergeom.sf(4, 100, 10, 7))
    assert table.loc["B", "p_value"] == pytest.approx(hypergeom.sf(1, 100, 20, 7))
    # three sets tested (C with no overlap counts as p = 1)
    assert table.loc["A", "fdr"] == pytest.approx(
        benjamini_hochberg([table.loc["A", "p_value"], table.loc["B", "p_value"], 1.0])[0]
    )
    assert benjamini_hochberg([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.04, 0.04])
    with pytest.raises(DataError, match="shares no gene"):
        enrich(query, {"other": {"X": ["Z1", "Z2"]}}, background)


def test_a_library_background_is_every_library_gene_and_changes_the_p_value_by_hand() -> None:
    from l1k_assets.genesets.enrichment import enrichment_background

    measured = [f"G{i}" for i in range(100)]
    libraries = {"lib": {"A": [*measured[:10], *[f"X{i}" for i in range(40)]], "B": measured[50:70]}}
    assert enrichment_background(measured, libraries, "measured") == measured
    universe = enrichment_background(measured, libraries, "library")
    assert len(universe) == 140 and universe[:100] == measured
    query = measured[:5] + measured[50:52]
    table = enrich(query, libraries, universe).set_index("term")
    assert table.loc["A", "p_value"] == pytest.approx(hypergeom.sf(4, 140, 50, 7))  # A keeps its 40 unmeasured genes
    with pytest.raises(DataError, match="enrichment background 'genome'"):
        enrichment_background(measured, libraries, "genome")


def test_k_medians_recovers_separated_clusters() -> None:
    x, y = _blobs(n_per=20, k=3, seed=2)
    labels = k_medians(x, 3)
    assert pd.crosstab(labels, y).max(axis=1).sum() == len(y)
    table, _ = cluster_scores(x, y, 3)
    assert (table.ari > 0.9).all() and set(table.method) == {"kmeans_euclidean", "kmedians_manhattan", "ward"}


def test_streamed_scoring_equals_scoring_everything_at_once_and_names_missing_genes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    gene_ids = [str(100 + i) for i in range(8)]
    genes = pd.DataFrame({"gene_id": gene_ids, "gene_symbol": [f"S{i}" for i in range(8)]})
    matrix = pd.DataFrame(rng.normal(size=(8, 23)), index=gene_ids, columns=[f"sig{i}" for i in range(23)])
    path = write_gctx(tmp_path / "l5.gctx", matrix, chunk_cols=5)
    classifier_genes = ["S3", "S0", "S5"]

    def predict(x: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(x @ np.array([1.0, -2.0, 0.5]))))
        return np.column_stack([p, 1 - p])

    streamed = pd.concat(stream_probabilities(path, predict, ["a", "b"], classifier_genes, genes, chunk_size=4))
    direct = predict(matrix.loc[["103", "100", "105"]].to_numpy().T)
    np.testing.assert_allclose(streamed.to_numpy(), direct)
    assert streamed.index.tolist() == matrix.columns.tolist()
    with pytest.raises(DataError, match=r"S9"):
        list(stream_probabilities(path, predict, ["a", "b"], ["S3", "S9", "S5"], genes))
    with pytest.raises(DataError, match=r"only 2 of 3 landmarks \(66\.7%\).*below the required 90%"):
        list(stream_probabilities(path, predict, ["a", "b"], ["S3", "S9", "S5"], genes, imputation="zero"))
    imputed = pd.concat(
        stream_probabilities(path, predict, ["a", "b"], ["S3", "S9", "S5"], genes, imputation="zero", min_share=0.5)
    )
    expected = predict(np.column_stack([matrix.loc["103"], np.zeros(23), matrix.loc["105"]]))
    np.testing.assert_allclose(imputed.to_numpy(), expected)


def test_compound_aggregates_and_moa_scores(shared_data) -> None:
    proba = pd.DataFrame({"X": [0.9, 0.1, 0.2, 0.6], "Y": [0.1, 0.9, 0.8, 0.4]}, index=["s1", "s2", "s3", "s4"])
    sigs = pd.DataFrame(
        {
            "sig_id": ["s1", "s2", "s3", "s4"],
            "pert_id": ["P1", "P1", "P1", "P2"],
            "pert_iname": ["alpha", "alpha", "alpha", "beta"],
            "cell_id": ["A", "B", "B", "A"],
            "pert_type": "trt_cp",
        }
    )
    scores = compound_scores(proba, sigs, ["X", "Y"], trim=0.0).set_index(["pert_id", "cancer_type"])
    assert scores.loc[("P1", "X"), "best_shot"] == 0.9
    assert scores.loc[("P1", "X"), "median"] == pytest.approx(0.2)
    assert scores.loc[("P1", "X"), "trimmed_mean"] == pytest.approx(0.4)
    assert scores.loc[("P1", "X"), "n_signatures"] == 3 and scores.loc[("P1", "X"), "n_cell_lines"] == 2
    assert scores.loc[("P1", "X"), "global_best_shot"] == 0.9
    moa = pd.DataFrame({"pert_iname": ["alpha", "beta"], "moa": ["HDAC inhibitor|CDK inhibitor", "HDAC inhibitor"]})
    by_moa = moa_scores(scores.reset_index(), moa).set_index(["moa", "cancer_type"])
    assert by_moa.loc[("HDAC inhibitor", "X"), "n_compounds"] == 2
    real = read_moa_table(shared_data / "drugs" / "repohub_repurposing_drugs_20200324.txt")
    assert {"pert_iname", "moa", "target"} <= set(real.columns) and len(real) > 6000


def test_shrnas_and_controls_of_the_strongest_reversal_are_never_compound_scores() -> None:
    """A real release mixes types: the hairpin and the DMSO signature that reverse X best are not ranked as drugs."""
    proba = pd.DataFrame(
        {"X": [0.99, 0.98, 0.6, 0.2, 0.97], "Y": [0.01, 0.02, 0.4, 0.8, 0.03]}, index=[f"s{i}" for i in range(5)]
    )
    sigs = pd.DataFrame(
        {
            "sig_id": proba.index,
            "pert_id": ["TRCN0000012345", "DMSO", "BRD-K1", "BRD-K2", "TRCN0000067890"],
            "pert_iname": ["TP53", "DMSO", "alpha", "beta", "TP53"],
            "pert_type": ["trt_sh", "ctl_vehicle", "trt_cp", "trt_cp", "trt_sh"],
            "cell_id": ["A", "A", "A", "B", "B"],
        }
    )
    compounds = compound_scores(proba, sigs, ["X", "Y"])
    assert set(compounds.pert_id) == {"BRD-K1", "BRD-K2"} and set(compounds.pert_type) == {"trt_cp"}
    top_x = shortlist(compounds, "best_shot", 1)
    assert top_x.set_index("cancer_type").loc["X", "pert_id"] == "BRD-K1"
    genes = perturbagen_scores(proba, sigs, ["X", "Y"], ("trt_sh",), "pert_iname").set_index(["pert_iname", "cancer_type"])
    assert genes.loc[("TP53", "X"), "n_perturbagens"] == 2 and genes.loc[("TP53", "X"), "median"] == pytest.approx(0.98)
    with pytest.raises(DataError, match="controls never are"):
        perturbagen_scores(proba, sigs, ["X", "Y"], ("trt_cp", "ctl_vehicle"))


def test_permutation_importance_finds_the_only_informative_gene() -> None:
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.where(x[:, 1] > 0, "A", "B")
    model = DecisionTreeClassifier(max_depth=1).fit(x, y)
    drops = permutation_importances(model, x, y, ["g0", "g1", "g2"], ["g1", "g2"], repeats=3)
    assert drops["g1"] > 0.3 and drops["g2"] == 0.0 and "g0" not in drops


def _tree_folds(x: np.ndarray, y: np.ndarray, n_folds: int = 3) -> list[FoldResult]:
    """Fully grown trees on n_folds unequal folds, as nested CV would hand them over."""
    from sklearn.tree import DecisionTreeClassifier

    bounds = [0, 50, 110, len(y)][: n_folds + 1]
    folds = []
    for i in range(n_folds):
        test = np.arange(bounds[i], bounds[i + 1])
        train = np.setdiff1d(np.arange(len(y)), test)
        tree = DecisionTreeClassifier(random_state=0).fit(x[train], y[train])
        folds.append(FoldResult(i, train, test, CalibratedForest(tree, {}, "none", {}), np.empty(0), {}))
    return folds


def test_held_out_permutation_is_each_folds_test_drop_weighted_by_test_size() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(180, 3))
    y = np.where(x[:, 0] + 0.3 * rng.normal(size=180) > 0, "A", "B")
    folds = _tree_folds(x, y)
    genes = ["g0", "g1", "g2"]
    table = held_out_permutation(folds, x, y, genes, ["g0", "g1"], repeats=2, seed=5)
    per_fold = [permutation_importances(f.forest.model, x[f.test], y[f.test], genes, ["g0", "g1"], 2, 5 + f.fold) for f in folds]
    expected = sum(len(f.test) * d for f, d in zip(folds, per_fold, strict=True)) / len(y)  # 50, 60 and 70 test pairs
    np.testing.assert_allclose(table.permutation, expected.reindex(table.index))
    np.testing.assert_allclose(table.permutation_fold_sd, pd.DataFrame(per_fold).std(ddof=1).reindex(table.index))
    assert (table.permutation_folds == 3).all() and table.permutation["g0"] > 0.3


def test_held_out_permutation_does_not_credit_a_memorised_noise_gene() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(180, 2))
    y = rng.choice(["A", "B"], 180)  # labels unrelated to either gene: a grown tree memorises them
    folds = _tree_folds(x, y)
    in_sample = permutation_importances(folds[0].forest.model, x[folds[0].train], y[folds[0].train], ["g0", "g1"], ["g0"], 5)
    held_out = held_out_permutation(folds, x, y, ["g0", "g1"], ["g0"], repeats=5)
    assert in_sample["g0"] > 0.2 and abs(held_out.permutation["g0"]) < 0.1


def test_held_out_permutation_stops_between_folds_when_the_budget_is_spent() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(180, 2))
    y = np.where(x[:, 0] > 0, "A", "B")
    budget = Progress("permutation", 3, lambda report: None, budget_seconds=1e-6)
    table = held_out_permutation(_tree_folds(x, y), x, y, ["g0", "g1"], ["g0"], progress=budget)
    assert budget.stopped_by_budget and (table.permutation_folds == 1).all()
