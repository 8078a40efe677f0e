"""Landmark discovery on single-cell expression: catalog, set comparison and the group-lasso ranking."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.singlecell.catalog import DEFAULT_DATASETS, load_datasets
from l1k_assets.singlecell.discovery import cell_arrays, common_targets, compare_sets, discover_landmarks, random_set

HEADER = "dataset,tissue,format,path,metadata,cell_type_column,description\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_default_catalog_lists_one_dataset_per_format() -> None:
    datasets = {d.dataset: d for d in load_datasets(DEFAULT_DATASETS)}
    assert {d.format for d in datasets.values()} == {"h5ad", "10x"}
    assert datasets["prostate"].files() == {
        "matrix": "prostate/10x/matrix.mtx.gz",
        "features": "prostate/10x/features.tsv.gz",
        "barcodes": "prostate/10x/barcodes.tsv.gz",
        "metadata": "prostate/cell_metadata.tsv.gz",
    }
    assert datasets["colon"].files() == {"h5ad": "colon/colon.h5ad"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,T,loom,a/x.loom,,ct,d\n", r"line 2, field 'format': expected one of \('h5ad', '10x'\), found loom"),
        ("a,T,h5ad,../x.h5ad,,ct,d\n", r"line 2, field 'path': expected a relative path without '\.\.'"),
        ("a b,T,h5ad,x.h5ad,,ct,d\n", r"line 2, field 'dataset'"),
        ("a,T,h5ad,x.h5ad,,ct,d\na,T,h5ad,y.h5ad,,ct,d\n", r"unique dataset ids, found \['a'\] more than once"),
    ],
)
def test_bad_catalog_rows_name_the_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "datasets.csv"
    path.write_text(HEADER + row)
    with pytest.raises(FormatError, match=message):
        load_datasets(path)


def planted_cells(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two hub genes drive twelve members; four sparse noise genes; two cell types; log1p counts.

    Hubs are highly expressed (little Poisson noise), members are lower, noisier reads of their
    hub, and noise genes are mostly zero, as in scRNA-seq: the hubs are the genes that best
    predict the rest.
    """
    rng = np.random.default_rng(seed)
    activity = rng.gamma(2.0, 1.0, (n, 2))
    hubs = {f"h{j}": np.log1p(rng.poisson(20.0 * activity[:, j])) for j in range(2)}
    members = {f"m{i}": np.log1p(rng.poisson(2.0 * (1 + i % 3) * activity[:, i % 2])) for i in range(12)}
    noise = {f"x{i}": np.log1p(rng.poisson(0.1, n)) for i in range(4)}
    genes = pd.DataFrame(hubs | members | noise).astype(float)
    n_train, n_val = int(0.7 * n), int(0.15 * n)
    split = np.array(["train"] * n_train + ["validation"] * n_val + ["test"] * (n - n_train - n_val))
    cell_type = np.where(activity[:, 0] > activity[:, 1], "A", "B")
    front = pd.DataFrame({"cell_id": [f"c{i}" for i in range(n)], "cell_type": cell_type, "split": split})
    return pd.concat([front, genes], axis=1)


def test_common_targets_leave_out_every_compared_set() -> None:
    data = cell_arrays(planted_cells(40))
    targets = common_targets(data, {"a": ["h0", "m0"], "b": ["h1", "m0"]})
    assert [data.genes[i] for i in targets] == [g for g in data.genes if g not in {"h0", "h1", "m0"}]
    with pytest.raises(DataError, match="leaving < 2 targets"):
        common_targets(data, {"all": data.genes[:-1]})


def test_random_set_avoids_the_excluded_genes_and_is_seeded() -> None:
    genes = [f"g{i}" for i in range(20)]
    drawn = random_set(genes, 5, genes[:10], seed=3)
    assert len(set(drawn)) == 5 and not set(drawn) & set(genes[:10])
    assert drawn == random_set(genes, 5, genes[:10], seed=3)
    with pytest.raises(DataError, match="cannot draw 11 random genes"):
        random_set(genes, 11, genes[:10], seed=0)


def test_hub_set_predicts_members_better_than_noise_genes() -> None:
    data = cell_arrays(planted_cells())
    table, per_type = compare_sets(data, {"hubs": ["h0", "h1"], "noise": ["x0", "x1"]}, {"lr": {}})
    mse = table.set_index("gene_set").val_mse
    assert mse["hubs"] < 0.5 * mse["noise"], mse
    assert set(per_type.cell_type) == {"A", "B"} and len(per_type) == 4
    assert (table.n_targets == len(data.genes) - 4).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_group_lasso_ranks_the_hubs_first(seed: int) -> None:
    data = cell_arrays(planted_cells(seed=seed))
    params = {"hidden": (32,), "dropout": 0.0, "lr": 1e-2, "max_epochs": 100, "patience": 10, "weighted": True, "seed": 0}
    table, chosen = discover_landmarks(data, 6, 1e-2, params)
    # both hubs in the top 4 of 18 genes (3.9 % by chance) and no sparse noise gene in the top 6
    assert {"h0", "h1"} <= set(table.gene[:4]) and not table.gene.str.startswith("x").any(), table
    assert list(table["rank"]) == list(range(1, 7)) and len(chosen.history) > 1


def test_split_needs_cells_in_every_part() -> None:
    cells = planted_cells(20)
    cells.loc[cells.split == "test", "split"] = "train"
    with pytest.raises(DataError, match="the test split has 0 cells"):
        cell_arrays(cells)


def _tissue(name: str, genes: list[str], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    front = pd.DataFrame(
        {
            "cell_id": [f"{name}{i}" for i in range(n)],
            "cell_type": ["a", "b"] * (n // 2),
            "split": ["train", "validation", "test"] * (n // 3),
        }
    )
    return pd.concat([front, pd.DataFrame(rng.random((n, len(genes))), columns=genes)], axis=1)


def test_pooled_cells_join_the_tissues_on_their_shared_genes() -> None:
    from l1k_assets.singlecell.discovery import pooled_cells

    tables = {"colon": _tissue("c", ["G1", "G2", "G3"], 30, 0), "prostate": _tissue("p", ["G3", "G2", "G4"], 60, 1)}
    kept = pooled_cells(tables)
    assert kept.genes == ["G2", "G3"] and sum(len(v) for v in kept.values.values()) == 90
    assert {t.split("/")[0] for t in kept.cell_types["train"]} == {"colon", "prostate"}
    np.testing.assert_array_equal(kept.values["train"][:10], tables["colon"].loc[tables["colon"].split == "train", ["G2", "G3"]])
    paper = pooled_cells(tables, "80_20", 0.2, seed=0)
    n_train, n_val = len(paper.values["train"]), len(paper.values["validation"])
    assert n_train + n_val == 90 and 8 <= n_val <= 28  # the paper's 80/20, seeded
    np.testing.assert_array_equal(
        paper.values["test"], paper.values["validation"]
    )  # no test split: test metrics are validation's
    with pytest.raises(DataError, match="at least two data sets"):
        pooled_cells({"colon": tables["colon"]})
    with pytest.raises(DataError, match="pooled split 'half'"):
        pooled_cells(tables, "half")
    with pytest.raises(DataError, match="share 0 genes"):
        pooled_cells({"a": _tissue("a", ["G1"], 30, 0), "b": _tissue("b", ["G9"], 30, 0)})
