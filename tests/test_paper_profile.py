"""The paper profile is the papers: every paper value sourced, applied as sourced, and printed in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from l1k_assets.errors import DataError
from l1k_assets.inference.benchmark import constant_model_row
from l1k_assets.inference.selection import rank_first_layer
from l1k_assets.paper_sources import Sourced, nested_settings, paper_overrides, source_problems
from l1k_jobs.asset_modules import DOMAIN_ASSETS
from l1k_jobs.profile_table import asset_configs, profile_markdown, profile_table
from resources.profile import RunProfile
from tests.conftest import PROJECT_ROOT

CONFIGS = asset_configs(DOMAIN_ASSETS)
SETTINGS = sorted({type(obj) for _, config in CONFIGS for _, obj in nested_settings(config())}, key=lambda c: c.__name__)
TABLE_MARKERS = ("<!-- profile-table -->\n", "<!-- /profile-table -->")


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda c: c.__name__)
def test_every_paper_entry_names_a_setting_with_a_value_of_its_type_and_a_source(settings: type[BaseModel]) -> None:
    assert source_problems(settings) == []


def test_the_check_catches_an_entry_for_a_setting_that_does_not_exist_and_a_value_of_the_wrong_type() -> None:
    class Bad(BaseModel):
        epochs: int = 5
        PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
            "epoch": Sourced(10, "paper §1"),
            "epochs": Sourced("ten", "paper §1"),
        }

    problems = source_problems(Bad)
    assert len(problems) == 2
    assert "Bad.PAPER_SOURCES['epoch'] names no setting" in problems[0]
    assert "Bad.PAPER_SOURCES['epochs'] = 'ten' is not a valid" in problems[1]


@pytest.mark.parametrize(("asset", "config"), CONFIGS, ids=[a for a, _ in CONFIGS])
def test_the_paper_profile_runs_exactly_the_sourced_values(asset: str, config: type[BaseModel]) -> None:
    applied = RunProfile(name="paper").apply(config())
    assert paper_overrides(applied) == [], f"{asset}: the paper profile leaves a sourced setting at another value"


def test_seed_values_that_used_to_differ_from_the_papers() -> None:
    rows = profile_table(DOMAIN_ASSETS).set_index(["asset", "setting"]).paper
    assert rows["core_landmark_selection", "SelectionSettings.retrain_kind"] == '"gnn"'  # seed 002 Table 4
    assert rows["model_csg2a_pretrained", "PretrainSettings.network.embed_dim"] == "64"
    assert rows["model_csg2a_finetuned", "FinetuneSettings.network.head_hidden"] == "[512, 64]"
    assert rows["model_csg2a_finetuned", "FinetuneSettings.network.patience"] == "20"
    assert rows["core_gene_graph", "GraphSettings.center"] == "false"  # seed 002's cosine, uncentred
    assert rows["core_singlecell_landmarks", "DiscoverySettings.ranking"] == '"max_min"'
    widths = {rows[a, s] for (a, s) in rows.index if s.endswith("dnn.hidden") or s.endswith("dnn_hidden")}
    assert widths == {"[1024, 1024]"}, "seed 001's DNN has one width wherever it is used"


def test_the_readme_prints_the_current_profile_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    start, end = readme.index(TABLE_MARKERS[0]) + len(TABLE_MARKERS[0]), readme.index(TABLE_MARKERS[1])
    assert readme[start:end] == profile_markdown(profile_table(DOMAIN_ASSETS)), "regenerate with `l1k profile`"


def test_the_cli_prints_one_assets_table_and_refuses_an_unknown_asset() -> None:
    command = [sys.executable, "-m", "l1k_jobs.cli", "profile", "--asset", "model_csg2a_pretrained"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "PretrainSettings.min_ppi_score" in shown and "seed 003 §3.3.4" in shown and "ModelSettings" not in shown
    refused = subprocess.run([*command[:-1], "out_nothing"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "no profiled settings for out_nothing" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_seed_001_max_min_rule_by_hand() -> None:
    weights = np.array(
        [
            [0.9, 0.1, -0.2, 0.0, 0.5],
            [0.0, 0.2, -0.8, -0.9, 0.1],
        ]
    )
    # maxima 0.9, 0.2, -0.2, 0.0, 0.5 → top 2: columns 0, 4; minima 0.0, 0.1, -0.8, -0.9, 0.1 → bottom 2: 3, 2
    chosen, scores = rank_first_layer(weights, 2, "max_min")
    assert set(chosen.tolist()) == {0, 4, 3, 2}
    assert chosen[:2].tolist() in ([0, 3], [3, 0]), "the first of each list ranks first"
    assert dict(zip(chosen.tolist(), scores.tolist(), strict=True))[3] == -0.9
    overlap, _ = rank_first_layer(np.array([[1.0, 0.0, 0.5], [-1.0, 0.0, 0.2]]), 1, "max_min")
    assert overlap.tolist() == [0], "a gene first in both lists counts once (the paper's 1,000 → 910)"
    by_norm, norms = rank_first_layer(weights, 2, "norm")
    assert by_norm.tolist() == [0, 3] and np.allclose(norms, [0.9, np.hypot(0.0, 0.9)])


def test_constant_model_row_by_hand() -> None:
    truth = np.array([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 1.0, 5.0]])
    row = constant_model_row(truth, "L1000 (1)")
    # sample means 3, 2 and 2: sqrt(4+1+0+9), sqrt(4+4+4+4) and sqrt(1+1+1+9)
    assert row["error_mean"] == pytest.approx((np.sqrt(14) + 4 + np.sqrt(12)) / 3)
    assert np.isnan(row["scc_mean"]) and np.isnan(row["pcc_mean"]), "a constant prediction has no correlation (N/D)"


def test_a_paper_run_that_overrides_a_setting_says_so_on_its_page() -> None:
    from l1k_assets.asset_utils import run_profile
    from l1k_assets.inference.training import SelectionSettings

    applied = RunProfile(name="paper").apply(SelectionSettings(retrain_kind="mlp"))
    recorded = run_profile(RunProfile(name="paper"), applied)
    assert recorded["paper_overrides"] == [
        {
            "setting": "retrain_kind",
            "paper": "gnn",
            "used": "mlp",
            "source": "seed 002 Table 4: the GNN retrained on the LASSO and greedy selections",
        }
    ]


def test_seed_000_table_2_is_sklearns_classification_report_of_the_pooled_predictions() -> None:
    from sklearn.metrics import classification_report

    from l1k_assets.indication.metrics import per_class_table, report_averages

    rng = np.random.default_rng(0)
    classes = ["BRCA", "COAD", "KIRC"]
    y, proba = rng.choice(classes, 60), rng.dirichlet([1, 1, 1], 60)
    table = report_averages(per_class_table(y, proba, classes))
    oracle = classification_report(y, np.asarray(classes)[proba.argmax(axis=1)], output_dict=True, zero_division=0)
    for row in ("macro avg", "weighted avg"):
        expected = [oracle[row]["precision"], oracle[row]["recall"], oracle[row]["f1-score"], oracle[row]["support"]]
        assert table.loc[row].tolist() == pytest.approx(expected)


def test_seed_000_figure_6_top_genes_cluster_the_cancer_types_and_random_genes_do_not() -> None:
    from l1k_assets.indication.genes import gene_set_clustering

    rng = np.random.default_rng(1)
    types = np.repeat(["BRCA", "COAD", "KIRC", "LIHC"], 25)
    programs = {t: rng.normal(0, 3, 30) for t in set(types)}
    informative = np.stack([programs[t] for t in types]) + rng.normal(0, 1, (100, 30))
    genes = [f"g{i}" for i in range(200)]
    deltas = pd.DataFrame(np.hstack([informative, rng.normal(0, 1, (100, 170))]), columns=genes).assign(cancer_type=types)
    table, trees = gene_set_clustering(deltas, genes, n=30, seed=0)
    ari = dict(zip(table.genes, table.ari, strict=True))
    assert ari["top 30"] > 0.9 and ari["random 30"] < 0.3, ari
    assert set(trees) == {"top 30", "random 30"} and trees["top 30"].shape == (99, 4)
    with pytest.raises(DataError, match="Figure 6 needs 60 genes"):
        gene_set_clustering(deltas, genes[:40], n=30)


def test_seed_003_figure_2_paired_t_test_by_hand() -> None:
    from l1k_assets.response.benchmark import paired_t_tests

    rmse = {"csg2a": [1.0, 1.1, 0.9, 1.0], "csg2a_unfrozen": [1.2, 1.2, 1.0, 1.3], "svm": [1.5, np.nan, 1.4, 1.6]}
    per_fold = pd.DataFrame(
        [{"scheme": "mixed", "fold": k, "model": m, "rmse": v[k]} for m, v in rmse.items() for k in range(4)]
    ).dropna()
    table = paired_t_tests(per_fold).set_index("model")
    differences = np.array([0.2, 0.1, 0.1, 0.3])  # unfrozen − csg2a, fold by fold
    t = differences.mean() / (differences.std(ddof=1) / 2)
    assert table.loc["csg2a_unfrozen", "t"] == pytest.approx(t)
    assert table.loc["csg2a_unfrozen", "difference"] == pytest.approx(0.175)
    assert table.loc["svm", "n_folds"] == 3, "only the folds both models ran are paired"
    assert 0 < table.loc["csg2a_unfrozen", "p"] < 0.05


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("ops: [unclosed", "not a readable YAML run config"),
        ("resources: {}\n", "expected one top-level key 'ops'"),
        ("ops:\n  model_csg2a_finetuned: {n_folds: 2}\n", "ops.model_csg2a_finetuned must hold exactly one key, 'config'"),
        ("ops:\n  model_csg2a_finetune: {config: {}}\n", "model_csg2a_finetune is not an asset"),
    ],
)
def test_a_bad_run_config_file_is_a_typed_error_naming_the_file(tmp_path: Path, body: str, message: str) -> None:
    from l1k_jobs.runner import RunConfigError, read_asset_config

    path = tmp_path / "run.yaml"
    path.write_text(body)
    with pytest.raises(RunConfigError, match=message) as caught:
        read_asset_config(path, DOMAIN_ASSETS)
    assert str(path) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"], "reading a config writes nothing"
