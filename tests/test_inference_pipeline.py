"""Methods 2 and 3 end to end on the tiny embedded universe, and a smoke run on the real NCI-60 matrix."""

from pathlib import Path

import numpy as np
import pandas as pd

from l1k_assets.inference.data import inference_arrays
from l1k_assets.inference.graph import build_gene_graph
from l1k_assets.inference.metrics import overall_metrics
from l1k_assets.inference.models import StandardizedModel, make_model
from l1k_assets.inference.selection import select_greedy, select_random
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.metadata import read_gene_info
from tests.conftest import MaterializedHome


def _models(tiny_home: MaterializedHome) -> pd.DataFrame:
    return pd.concat([tiny_home.table("model_expression_inference", k) for k in ("lr", "knn", "mlp", "gnn", "dnn")]).set_index(
        "model"
    )


def test_gnn_beats_lr_on_the_planted_relations(tiny_home: MaterializedHome) -> None:
    """At tiny scale the demo GNN (d = 12, two layers) beats least squares; it does not reach KNN or the MLP there."""
    models = _models(tiny_home)
    assert models.loc["gnn", "scc_mean"] > models.loc["lr", "scc_mean"], models[["scc_mean", "error_mean"]]
    assert models.loc["gnn", "error_mean"] < models.loc["lr", "error_mean"], models[["scc_mean", "error_mean"]]


def test_graph_uses_training_samples_only(tiny_home: MaterializedHome) -> None:
    pairs = tiny_home.table("core_inference_pairs")
    split = tiny_home.table("core_inference_split")
    graph = tiny_home.table("core_gene_graph")
    data = inference_arrays(pairs, split)
    k = int(graph[graph.kind == "similar"].groupby("dst").size().max())
    again = build_gene_graph(data.y["train"], data.landmark_positions, k=k)
    assert set(map(tuple, again[["src", "dst", "kind"]].to_numpy())) == set(map(tuple, graph[["src", "dst", "kind"]].to_numpy()))
    assert split.split.value_counts().to_dict().keys() == {"train", "validation", "test"}


def test_inference_runs_on_the_landmarks_both_files_hold_and_names_the_missing(tiny_home: MaterializedHome) -> None:
    """The pair set lacks 8 landmarks, as GSE92743 does: every model trains on the rest, the pages list the 8 by id."""
    missing = tiny_home.manifest()["truth"]["inference"]["missing_landmarks"]
    assert len(missing) == 8
    pairs_meta = tiny_home.metadata("core_inference_pairs")
    assert pairs_meta["landmarks_missing"].value == missing
    n_landmarks = len(tiny_home.table("core_landmark_genes"))
    assert pairs_meta["n_landmarks"].value == n_landmarks - 8
    assert not {f"l1000|{g}" for g in missing} & set(tiny_home.table("core_inference_pairs").columns)
    for kind in ("lr", "gnn"):
        meta = tiny_home.metadata("model_expression_inference", kind)
        assert meta["landmarks_missing"].value == missing and meta["landmarks_present"].value == n_landmarks - 8


def test_training_curves_and_models_are_in_mlflow(tiny_home: MaterializedHome) -> None:
    from mlflow.tracking import MlflowClient

    run_id = tiny_home.metadata("model_expression_inference", "gnn")["mlflow_run_id"].value
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_home.home / 'mlflow' / 'mlflow.db'}")
    params = client.get_run(run_id).data.params
    assert int(params["landmarks_total"]) - int(params["landmarks_present"]) == 8
    assert len(client.get_metric_history(run_id, "val_scc")) > 1
    assert client.get_run(run_id).data.metrics["scc_mean"] > 0
    assert client.search_model_versions("name='l1k.model_expression_inference.gnn'")


def test_benchmark_lists_every_model_and_selection(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_inference_benchmark")
    assert {"lr", "knn", "mlp", "gnn", "dnn"} <= set(table["Model"])
    assert len(table) == 1 + 5 + 4
    constant = table[table["Model"] == "constant"].iloc[0]
    assert table["Model"].iloc[0] == "constant" and constant["Overall SCC"] == "N/D" and constant["Overall PCC"] == "N/D"
    assert constant.error_mean > table[table["Model"] != "constant"].error_mean.max(), "every model beats the constant"
    meta = tiny_home.metadata("out_inference_benchmark")
    assert "data:image/png;base64," in meta["heatmap"].value
    selections = [tiny_home.table("core_landmark_selection", m) for m in ("lasso", "greedy", "group_lasso", "random")]
    assert all(len(s) == len(selections[0]) and s.gene_id.is_unique for s in selections)


def test_greedy_selection_beats_random_at_equal_m(tiny_home: MaterializedHome) -> None:
    data = inference_arrays(tiny_home.table("core_inference_pairs"), tiny_home.table("core_inference_split"))
    m = 20

    def test_error(positions: list[int]) -> float:
        subset = data.restrict_landmarks(positions)
        model = StandardizedModel("lr", make_model("lr", {})).fit(
            subset.x["train"], subset.y["train"], subset.x["validation"], subset.y["validation"]
        )
        return overall_metrics(subset.y["test"], model.predict(subset.x["test"]))["error_mean"]

    greedy = test_error(
        list(select_greedy(data.x["train"], data.y["train"], data.x["validation"], data.y["validation"], m).positions)
    )
    randoms = [test_error(list(select_random(len(data.landmark_ids), m, seed).positions)) for seed in range(5)]
    assert greedy < min(randoms), (greedy, randoms)


def test_smoke_on_the_real_nci60_matrix(shared_data: Path) -> None:
    gct = read_gct(shared_data / "gdsc" / "ccal_P53_collapsed_symbols_NCI60.gct")
    values = np.log2(gct.data.clip(lower=0).astype(float) + 1).dropna()
    genes = read_gene_info(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt")
    landmarks = [g for g in genes.loc[genes.is_landmark, "gene_symbol"] if g in values.index]
    others = [g for g in values.index if g not in set(landmarks)][:1500]
    targets = landmarks + others
    pairs = pd.concat([values.loc[landmarks].T.add_prefix("l1000|"), values.loc[targets].T.add_prefix("rnaseq|")], axis=1)
    labels = np.array(["train"] * 34 + ["validation"] * 8 + ["test"] * (len(pairs) - 42))
    data = inference_arrays(pairs, pd.DataFrame({"sample_id": pairs.index, "split": labels}))
    graph = build_gene_graph(data.y["train"], data.landmark_positions, k=5)
    results = {}
    for kind, params in (
        ("lr", {}),
        ("knn", {"k_grid": (3, 5)}),
        ("gnn", {"hidden": 16, "layers": 2, "max_epochs": 30, "patience": 5, "lr": 1e-3}),
    ):
        model = StandardizedModel(kind, make_model(kind, params, graph, len(targets), data.landmark_positions))
        model.fit(data.x["train"], data.y["train"], data.x["validation"], data.y["validation"])
        results[kind] = overall_metrics(data.y["test"], model.predict(data.x["test"]))
    assert len(landmarks) > 500
    for kind, metrics in results.items():
        assert np.isfinite(metrics["error_mean"]) and 0.5 < metrics["scc_mean"] <= 1.0, (kind, metrics)
    print({k: {m: round(v, 4) for m, v in r.items()} for k, r in results.items()})


def test_no_model_marks_every_gene_well_inferred_and_none_is_broken(tiny_home: MaterializedHome) -> None:
    """The generator plants pure-noise genes: no model can infer them, so well-inferred < gene count for all."""
    models = _models(tiny_home)
    n_genes = models["n_genes"]
    assert (models["well_inferred_95"] < n_genes).all(), models[["well_inferred_95", "n_genes"]]
    assert (models["well_inferred_95"] > 0.3 * n_genes).all(), models[["well_inferred_95", "n_genes"]]


def test_linear_regression_is_well_posed_and_below_the_nonlinear_models(tiny_home: MaterializedHome) -> None:
    models = _models(tiny_home)
    for better in ("knn", "mlp", "gnn"):
        assert models.loc["lr", "scc_mean"] < models.loc[better, "scc_mean"], models[["scc_mean", "error_mean"]]
    assert models.loc["lr", "scc_mean"] > 0.75, "LR is a weaker baseline, not a broken one"
    condition = tiny_home.metadata("model_expression_inference", "lr")["condition_number"].value
    assert 1 < condition < 1e6, "more training samples than landmarks: the OLS design has full rank"


def test_random_landmarks_infer_fewer_genes_than_greedy_ones(tiny_home: MaterializedHome) -> None:
    greedy = tiny_home.table("core_landmark_selection", "greedy").iloc[0]
    random = tiny_home.table("core_landmark_selection", "random").iloc[0]
    assert random["retrained_well_inferred_95"] < greedy["retrained_well_inferred_95"]
    assert random["retrained_scc_mean"] < greedy["retrained_scc_mean"]


def test_training_progress_reaches_mlflow_and_the_profile_is_recorded(tiny_home: MaterializedHome) -> None:
    from mlflow.tracking import MlflowClient

    meta = tiny_home.metadata("model_expression_inference", "gnn")
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_home.home / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(meta["mlflow_run_id"].value)
    assert run.data.params["profile"] == "demo"
    assert meta["run_profile"].value["profile"] == "demo" and "stopped_by_budget" in meta
    progress = [key for key in run.data.metrics if key.startswith("progress/inference/gnn/")]
    assert progress, sorted(run.data.metrics)
    assert "inference · gnn" in tiny_home.output, "epochs reach the console as they happen"


def test_table_3_retrains_each_model_on_the_random_ninth_of_the_landmarks(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_reduced_landmarks")
    assert table.Model.tolist() == ["constant", "lr", "knn"]  # demo: the 1/9 variant with the two quick models
    reduced = table.iloc[1:]
    full = _models(tiny_home)
    pairs = tiny_home.table("core_inference_pairs")
    n_landmarks = sum(c.startswith("l1000|") for c in pairs.columns)
    assert (reduced.n_landmarks == n_landmarks // 9 + 1).all()
    arrays = inference_arrays(pairs, tiny_home.table("core_inference_split"))
    drawn = [arrays.landmark_ids[p] for p in select_random(n_landmarks, n_landmarks // 9 + 1, 0).positions]
    assert (reduced.landmark_ids == ",".join(drawn)).all()
    assert (reduced.error_mean < table.error_mean.iloc[0]).all()  # every model beats the constant row
    # the planted relations need more than a ninth of the landmarks (LR, with 112 inputs for 240 samples, overfits them)
    assert reduced.set_index("Model").error_mean["knn"] > full.error_mean["knn"]
    meta = tiny_home.metadata("out_reduced_landmarks")
    assert meta["variants"].value == ["1/9"] and "Overall error" in meta["table_3"].value
    assert meta["run_profile"].value["profile"] == "demo"
