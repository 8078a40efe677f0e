"""Bad input to the inference set: missing landmarks, samples out of step between platforms, constant genes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError
from l1k_assets.inference.data import inference_arrays
from l1k_assets.inference.models import StandardizedModel, make_model
from l1k_assets.inference.pairs import load_inference_pairs, sample_tissues
from l1k_assets.lincs.gctx import write_gctx

GENES = ["1", "2", "3", "4", "5"]
SAMPLES = [f"s{i}" for i in range(8)]


def _write(path: Path, genes: list[str], samples: list[str], seed: int = 0) -> Path:
    values = np.random.default_rng(seed).normal(5.0, 1.0, (len(genes), len(samples))).astype(np.float32)
    write_gctx(path, pd.DataFrame(values, index=genes, columns=samples))
    return path


def test_pairs_join_landmark_inputs_and_all_gene_targets(tmp_path: Path) -> None:
    l1000 = _write(tmp_path / "l1000.gctx", GENES, SAMPLES, 1)
    rnaseq = _write(tmp_path / "rnaseq.gctx", GENES, SAMPLES, 2)
    table, coverage = load_inference_pairs(l1000, rnaseq, ["2", "1"])
    assert coverage.missing == [] and coverage.share == 1.0
    assert list(table.columns) == ["l1000|2", "l1000|1"] + [f"rnaseq|{g}" for g in GENES]
    assert list(table.index) == SAMPLES


def test_landmarks_missing_from_either_file_are_left_out_and_reported(tmp_path: Path) -> None:
    """GSE92743 holds 970 of the 978 landmarks: inference runs on those, in landmark order, and names the rest."""
    l1000 = _write(tmp_path / "l1000.gctx", ["1", "2", "3", "4"], SAMPLES)
    rnaseq = _write(tmp_path / "rnaseq.gctx", ["1", "2", "3", "5"], SAMPLES)
    table, coverage = load_inference_pairs(l1000, rnaseq, ["3", "4", "1", "5", "2"], min_landmark_share=0.5)
    assert coverage.present == ["3", "1", "2"] and coverage.missing == ["4", "5"]
    assert [c for c in table.columns if c.startswith("l1000|")] == ["l1000|3", "l1000|1", "l1000|2"]
    assert coverage.describe()["landmarks_missing"] == ["4", "5"] and coverage.describe()["landmark_share"] == 0.6


def test_too_few_landmarks_is_an_error_naming_both_files(tmp_path: Path) -> None:
    l1000 = _write(tmp_path / "l1000.gctx", GENES[:3], SAMPLES)
    rnaseq = _write(tmp_path / "rnaseq.gctx", GENES, SAMPLES)
    message = r"l1000\.gctx and rnaseq\.gctx: only 1 of 3 landmarks \(33\.3%\) are present, below the required 90%"
    with pytest.raises(DataError, match=message):
        load_inference_pairs(l1000, rnaseq, ["1", "4", "5"])


def test_the_real_gse92743_gene_set_keeps_the_papers_970_landmarks(shared_data: Path) -> None:
    """On the real files' gene ids: the 12,320 genes hold exactly lmid_970 of geneinfo_beta's 978 landmarks."""
    from l1k_assets.landmarks import landmark_coverage
    from l1k_assets.lincs.metadata import landmark_gene_ids, read_gene_info

    folder = shared_data / "GeneExpressionGNN"
    landmarks = landmark_gene_ids(read_gene_info(folder / "geneinfo_beta.txt"))
    genes_12320 = (folder / "geneid_12320.txt").read_text().split()
    coverage = landmark_coverage(genes_12320, landmarks).require(0.9, "GSE92743")
    assert len(landmarks) == 978 and len(coverage.present) == 970 and len(coverage.missing) == 8
    assert set(coverage.present) == set((folder / "lmid_970.txt").read_text().split())


@pytest.mark.parametrize(
    ("rna_samples", "detail"),
    [
        (SAMPLES[::-1], "same samples, different order"),
        ([*SAMPLES[:-1], "other"], r"only in L1000: \['s7'\], only in RNA-seq: \['other'\]"),
    ],
)
def test_sample_order_must_match_between_platforms(tmp_path: Path, rna_samples: list[str], detail: str) -> None:
    l1000 = _write(tmp_path / "l1000.gctx", GENES, SAMPLES)
    rnaseq = _write(tmp_path / "rnaseq.gctx", GENES, rna_samples)
    with pytest.raises(DataError, match=detail):
        load_inference_pairs(l1000, rnaseq, ["1"])


def test_landmark_without_rnaseq_target_is_an_error() -> None:
    pairs = pd.DataFrame(np.ones((2, 3)), columns=["l1000|9", "rnaseq|1", "rnaseq|2"], index=["a", "b"])
    with pytest.raises(DataError, match=r"landmarks \['9'\]"):
        inference_arrays(pairs, pd.DataFrame({"sample_id": ["a", "b"], "split": ["train", "test"]}))


def test_unassigned_samples_are_an_error() -> None:
    pairs = pd.DataFrame(np.ones((2, 2)), columns=["l1000|1", "rnaseq|1"], index=["a", "b"])
    with pytest.raises(DataError, match=r"samples \['b'\] have no split"):
        inference_arrays(pairs, pd.DataFrame({"sample_id": ["a"], "split": ["train"]}))


@pytest.mark.parametrize("kind", ["lr", "knn", "mlp"])
def test_constant_genes_and_landmarks_pass_through_at_their_value(kind: str) -> None:
    """A zero-spread gene (zero MAD) is predicted at its constant; a constant landmark input carries no signal."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    x[:, 3] = 7.0  # constant landmark
    y = np.column_stack([x[:, 0] + x[:, 1], np.full(60, 3.25), x[:, 2] ** 2])
    params = {"mlp": {"hidden": 16, "max_epochs": 20, "patience": 5, "lr_grid": (1e-3,)}}.get(kind, {})
    model = StandardizedModel(kind, make_model(kind, params)).fit(x[:40], y[:40], x[40:50], y[40:50])
    prediction = model.predict(x[50:])
    assert np.isfinite(prediction).all()
    np.testing.assert_allclose(prediction[:, 1], 3.25, atol=1e-12)  # constant in training: predicted at its constant


def test_tissues_come_from_the_instance_table_and_become_one_hot_inputs(tmp_path: Path) -> None:
    info = tmp_path / "inst_info.txt"
    info.write_text("inst_id\tSMTS\ns0\tLung\ns1\tBrain\ns2\tLung\n")
    tissue = sample_tissues(info, ["s2", "s0", "s1"])
    assert tissue.tolist() == ["Lung", "Lung", "Brain"]
    with pytest.raises(DataError, match=r"inst_info\.txt: samples \['s9'\] \(1 in all\) have no SMTS"):
        sample_tissues(info, ["s0", "s9"])

    pairs = pd.DataFrame(
        {"l1000|1": [1.0, 2.0, 3.0], "rnaseq|1": [1.0, 2.0, 3.0], "tissue": tissue.to_numpy()}, index=["a", "b", "c"]
    )
    data = inference_arrays(pairs, pd.DataFrame({"sample_id": ["a", "b", "c"], "split": ["train", "train", "test"]}))
    covariates = data.with_tissue_covariates(["Brain", "Lung"])
    np.testing.assert_array_equal(covariates.x["train"], [[1.0, 0.0, 1.0], [2.0, 0.0, 1.0]])
    np.testing.assert_array_equal(covariates.x["test"], [[3.0, 1.0, 0.0]])
    with pytest.raises(DataError, match=r"tissues \['Lung'\] are not among"):
        data.with_tissue_covariates(["Brain"])
