"""The seed's single-cell QC: hand-computed filters and normalisation, balanced sampling, clear
errors when a threshold empties the matrix, and the embedded tissues' planted truth recovered."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from l1k_assets.errors import DataError
from l1k_assets.singlecell.qc import QCConfig, balanced_sample, expressed_genes, log_transform, normalize_total, run_qc
from l1k_assets.singlecell.readers import CountMatrix, read_10x, read_h5ad
from tests.test_singlecell_readers import singlecell_mirror  # noqa: F401  (a fixture)

# Seven cells × four genes. With min_reads=3, min_cells=2, min_library_size=5:
# c3 has 2 reads (dropped: library); g2 has ≥ 3 reads only in c6 (dropped: rare);
# c6's reads are all in g2, so it has none left (dropped: no reads in kept genes).
HAND = np.array(
    [
        [3, 0, 1, 6],
        [4, 3, 0, 3],
        [0, 5, 0, 5],
        [1, 0, 0, 1],
        [5, 3, 0, 2],
        [0, 0, 1, 11],
        [0, 0, 12, 0],
    ],
    dtype=np.float32,
)
HAND_CONFIG = QCConfig(min_reads=3, min_cells=2, min_library_size=5, target_sum=10, log_base=2)


def hand_matrix(cell_types: list[str] | None = None) -> CountMatrix:
    cells = pd.DataFrame(index=pd.Index([f"c{i}" for i in range(7)], name="barcode"))
    if cell_types is not None:
        cells["cell_type"] = pd.Categorical(cell_types)
    genes = pd.DataFrame({"symbol": ["A", "B", "C", "D"]}, index=pd.Index(["g0", "g1", "g2", "g3"], name="gene_id"))
    return CountMatrix(sp.csr_matrix(HAND), cells, genes, "hand.h5ad")


def test_qc_by_hand() -> None:
    expression, report = run_qc(hand_matrix(), HAND_CONFIG)
    assert expression.cells.index.tolist() == ["c0", "c1", "c2", "c4", "c5"]
    assert expression.genes.index.tolist() == ["g0", "g1", "g3"]
    # Library sizes over the kept genes: 9, 10, 10, 10, 11; scaled to 10 reads, then log2(1 + x).
    expected = np.log2(1 + np.array([[30 / 9, 0, 60 / 9], [4, 3, 3], [0, 5, 5], [5, 3, 2], [0, 0, 10]]))
    assert sp.issparse(expression.values) and expression.values.dtype == np.float32
    np.testing.assert_allclose(expression.values.toarray(), expected, rtol=1e-6)
    assert report.dropped_cells.to_dict() == {"c3": "library size < 5", "c6": "no reads in the kept genes"}
    assert report.dropped_genes.to_dict() == {"g2": "fewer than 2 cells with ≥ 3 reads"}
    np.testing.assert_array_equal(report.library_size, [10, 10, 10, 2, 10, 12, 12])
    np.testing.assert_array_equal(report.genes_per_cell, [3, 3, 2, 2, 3, 2, 1])
    assert report.summary() == {
        "cells_before": 7,
        "cells_after": 5,
        "genes_before": 4,
        "genes_after": 3,
        "cells_dropped": {"library size < 5": 1, "no reads in the kept genes": 1},
        "genes_dropped": {"fewer than 2 cells with ≥ 3 reads": 1},
        "target_sum": 10.0,
    }


def test_median_target_no_log_and_dense() -> None:
    config = QCConfig(min_reads=3, min_cells=2, min_library_size=5, target_sum="median", log_base=None)
    sparse, report = run_qc(hand_matrix(), config)
    assert report.target_sum == 10.0  # median of 9, 10, 10, 10, 11
    np.testing.assert_allclose(np.asarray(sparse.values.sum(axis=1)).ravel(), 10.0, rtol=1e-6)
    dense, _ = run_qc(hand_matrix(), config, dense=True)
    assert isinstance(dense.values, np.ndarray) and dense.values.dtype == np.float32
    np.testing.assert_array_equal(dense.values, sparse.values.toarray())
    np.testing.assert_allclose(log_transform(dense.values, 10.0), np.log10(1 + dense.values), rtol=1e-6)


def test_expressed_genes_sums_duplicate_entries() -> None:
    """Two stored entries of 2 reads for one cell and gene are 4 reads."""
    duplicated = sp.csr_matrix((np.array([2.0, 2.0, 3.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
    assert not duplicated.has_canonical_format
    np.testing.assert_array_equal(expressed_genes(duplicated, min_reads=3, min_cells=1), [True, True])
    np.testing.assert_array_equal(duplicated.data, [2.0, 2.0, 3.0]), "the caller's matrix is left alone"


def test_balanced_sample_counts_and_seed() -> None:
    labels = pd.Series(["A"] * 50 + ["B"] * 10 + ["C"] * 3 + [None] * 7)
    keep = balanced_sample(labels, max_per_type=8, seed=1)
    assert labels[keep].fillna("unlabelled").value_counts().to_dict() == {"A": 8, "B": 8, "C": 3, "unlabelled": 7}
    np.testing.assert_array_equal(keep, balanced_sample(labels, 8, seed=1))
    assert not np.array_equal(keep, balanced_sample(labels, 8, seed=2))


def test_run_qc_balances_after_the_library_filter() -> None:
    """c3 fails the library filter before sampling, so type 'x' keeps two good cells."""
    matrix = hand_matrix(["x", "x", "y", "x", "x", "y", "y"])
    expression, report = run_qc(matrix, QCConfig(min_reads=3, min_cells=1, min_library_size=5, max_cells_per_type=2))
    kept_types = expression.cells.cell_type.value_counts().to_dict()
    assert kept_types == {"x": 2, "y": 2}
    assert report.summary()["cells_dropped"] == {
        "library size < 5": 1,
        "balanced sampling (more than 2 cells of its type)": 2,
    }
    with pytest.raises(DataError, match="cell_type"):
        run_qc(hand_matrix(), QCConfig(min_library_size=5, max_cells_per_type=2))


def test_empty_after_qc_names_the_threshold() -> None:
    with pytest.raises(DataError, match=r"hand\.h5ad: min_library_size=1000 removed all 7 cells \(largest library size 12\)"):
        run_qc(hand_matrix())
    with pytest.raises(DataError, match="min_reads=3, min_cells=6 removed all 4 genes"):
        run_qc(hand_matrix(), QCConfig(min_cells=6, min_library_size=5))
    no_thresholds = QCConfig(min_cells=0, min_library_size=0)  # an empty cell passes both filters, then cannot be scaled
    with pytest.raises(DataError, match="no cell has a read"):
        run_qc(hand_matrix().subset(cells=np.array([6]), genes=np.array([0, 1, 3])), no_thresholds)


def test_config_and_normalisation_guards() -> None:
    for bad in (
        {"min_reads": 0},
        {"min_cells": -1},
        {"target_sum": -1},
        {"target_sum": "mean"},
        {"log_base": 1},
        {"max_cells_per_type": 0},
    ):
        with pytest.raises(ValueError):
            QCConfig(**bad)
    with pytest.raises(ValueError, match="no reads"):
        normalize_total(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])), 10.0)


# ---------------------------------------------------------------- the embedded tissues


def test_embedded_qc_removes_what_was_planted(singlecell_mirror: tuple[Path, dict]) -> None:  # noqa: F811
    """Exactly the low-quality cells fail the library filter and exactly the rare genes fail the gene filter."""
    root, truth = singlecell_mirror
    assert truth["qc_thresholds"] == {"min_reads": 3, "min_cells": 5, "min_library_size": 1000.0}
    assert truth["hub_gene_kind"] == "non-landmark"
    for dataset in truth["datasets"].values():
        matrix = read_10x(
            root / dataset["files"]["10x"], metadata=root / dataset["files"]["cell_metadata"], cell_type_column="cell_type"
        )
        expression, report = run_qc(matrix)
        assert set(report.dropped_cells.index) == set(dataset["low_quality_cells"])
        assert set(report.dropped_cells) == {"library size < 1000"}
        assert set(report.dropped_genes.index) == set(truth["rare_genes"])
        assert expression.values.shape == (dataset["n_cells"] - len(dataset["low_quality_cells"]), 400 - len(truth["rare_genes"]))
        library = report.library_size[~matrix.cells.index.isin(dataset["low_quality_cells"])]
        assert library.max() / library.min() > 8, "library sizes vary about tenfold"

        balanced, _ = run_qc(matrix, QCConfig(max_cells_per_type=100))
        expected = {t: min(n, 100) for t, n in pd.Series(expression.cells.cell_type).value_counts().items()}
        assert balanced.cells.cell_type.value_counts().to_dict() == expected


def test_embedded_hubs_drive_their_modules(singlecell_mirror: tuple[Path, dict]) -> None:  # noqa: F811
    """Each hub correlates with its own module's members far more than with any other module,
    and cell types with a module switched on express its members more."""
    root, truth = singlecell_mirror
    for name, dataset in truth["datasets"].items():
        expression, _ = run_qc(read_h5ad(root / dataset["files"]["h5ad"], cell_type_column="cell_type"), dense=True)
        values = pd.DataFrame(expression.values, columns=expression.genes.index)
        z = (values - values.mean()) / values.std()
        scores = pd.DataFrame(
            {m: z[[g for g in genes if g not in truth["hub_genes"][m]]].mean(axis=1) for m, genes in truth["modules"].items()}
        )
        for module, hubs in truth["hub_genes"].items():
            assert len(hubs) == 2
            for hub in hubs:
                corr = scores.corrwith(values[hub])
                assert corr[module] > 0.5, (name, module, hub, corr[module])
                assert corr[module] > corr.drop(module).max() + 0.1, (name, module, hub)
        by_type = scores.groupby(expression.cells.cell_type.to_numpy(), observed=True).mean()
        for cell_type, row in by_type.iterrows():
            on = truth["active_modules"][cell_type]
            off = [m for m in scores.columns if m not in on]
            if on and off:
                assert row[on].mean() > row[off].mean(), (name, cell_type)
