"""Single-cell landmark discovery end to end on the tiny embedded universe (seed 001's half of method 2)."""

import numpy as np
import pandas as pd
import pytest

from l1k_assets.synthetic.universe import build_universe
from tests.conftest import MaterializedHome

DATASETS = ("colon", "prostate")


def _symbols(ids: list[str]) -> set[str]:
    genes = build_universe("tiny").genes
    return set(genes.set_index(genes.pr_gene_id.astype(str)).loc[ids, "pr_gene_symbol"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_qc_drops_exactly_the_planted_low_quality_cells_and_rare_genes(tiny_home: MaterializedHome, dataset: str) -> None:
    truth = tiny_home.manifest()["truth"]["singlecell"]
    table = tiny_home.table("core_singlecell_expression", dataset)
    meta = tiny_home.metadata("core_singlecell_expression", dataset)
    planted_bad = set(truth["datasets"][dataset]["low_quality_cells"])
    assert planted_bad and not planted_bad & set(table.cell_id)
    assert meta["cells_before"].value - meta["cells_after"].value == len(planted_bad)
    rare = _symbols(truth["rare_genes"])
    assert rare and not rare & set(table.columns)
    assert set(table.split) == {"train", "validation", "test"}
    values = table.drop(columns=["cell_id", "cell_type", "split"]).to_numpy()
    assert (values >= 0).all() and (values == 0).mean() > 0.3  # log-normalised, still sparse
    assert "data:image/png;base64," in meta["qc_histograms"].value


@pytest.mark.parametrize("dataset", DATASETS)
def test_discovered_set_holds_more_planted_hubs_than_a_random_set(tiny_home: MaterializedHome, dataset: str) -> None:
    hubs = _symbols([g for module in tiny_home.manifest()["truth"]["singlecell"]["hub_genes"].values() for g in module])
    table = tiny_home.table("out_landmark_discovery", dataset)
    sets = table.drop_duplicates("gene_set").set_index("gene_set").genes.str.split(";")
    genes = tiny_home.table("core_singlecell_expression", dataset).columns[3:]
    m = len(sets["discovered"])
    expected_by_chance = m * len(hubs & set(genes)) / len(genes)
    found = len(hubs & set(sets["discovered"]))
    assert found > len(hubs & set(sets["random"])), (found, sets["random"])
    assert found > 2 * expected_by_chance, (found, expected_by_chance)


def test_sets_are_compared_by_lr_and_dnn_on_common_targets(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_landmark_discovery", "colon")
    assert set(zip(table.gene_set, table.model, strict=True)) == {
        (s, m) for s in ("L1000", "discovered", "random") for m in ("lr", "dnn")
    }
    assert table.n_targets.nunique() == 1
    assert np.isfinite(table[["val_mse", "test_mse", "scc_mean"]].to_numpy()).all()
    meta = tiny_home.metadata("out_landmark_discovery", "colon")
    assert "data:image/png;base64," in meta["per_cell_type_mse"].value
    assert meta["mlflow_run_id"].value
    ranking = tiny_home.table("core_singlecell_landmarks", "colon")
    assert ranking.gene.is_unique and pd.api.types.is_bool_dtype(ranking.in_l1000)


def test_pooled_tissues_discover_hubs_and_compare_the_sets(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_pooled_landmark_discovery")
    meta = tiny_home.metadata("out_pooled_landmark_discovery")
    shared = set.intersection(*(set(tiny_home.table("core_singlecell_expression", d).columns[3:]) for d in DATASETS))
    assert meta["datasets"].value == list(DATASETS) and meta["n_genes"].value == len(shared) and meta["split"].value == "kept"
    cells = sum(len(tiny_home.table("core_singlecell_expression", d)) for d in DATASETS)
    assert sum(meta["n_cells"].value.values()) == cells  # every cell of both tissues, each once
    assert set(zip(table.gene_set, table.model, strict=True)) == {
        (s, m) for s in ("L1000", "discovered", "random") for m in ("lr", "dnn")
    }
    sets = table.drop_duplicates("gene_set").set_index("gene_set").genes.str.split(";")
    hubs = _symbols([g for module in tiny_home.manifest()["truth"]["singlecell"]["hub_genes"].values() for g in module])
    assert len(hubs & set(sets["discovered"])) > len(hubs & set(sets["random"]))
    assert meta["run_profile"].value["profile"] == "demo"
