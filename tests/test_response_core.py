"""CSG2A's Dagster-free core (method 4): pairing, structures, attention, splits, fine-tuning, planted truth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from l1k_assets.errors import DataError
from l1k_assets.lincs.gctx import read_gctx, write_gctx
from l1k_assets.lincs.metadata import read_lincs_table
from l1k_assets.response import benchmark as bm
from l1k_assets.response.conditions import featurise, parse_smiles, scale_conditions
from l1k_assets.response.csg2a import CSG2APretrainer, CSG2ARegressor, GeneGeneAttention, ppi_adjacency
from l1k_assets.response.pretraining import iter_pretraining_pairs, pretraining_pairs
from l1k_assets.response.readers import read_gdsc_smiles
from l1k_assets.response.splits import SCHEMES, assign_folds, fold_masks
from l1k_assets.sources.layout import GDSC_SMILES_FILE, gdsc_url
from l1k_assets.synthetic.lincs_writer import write_lincs_release
from l1k_assets.synthetic.response_writer import write_response_sources
from l1k_assets.synthetic.universe import build_universe

FAST = {"embed_dim": 4, "encoder_hidden": 16, "batch_size": 16, "lr": 1e-2, "max_epochs": 5, "patience": 5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- pairing


def _hand_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three genes; plate A1 (2 DMSO, 2 treated), A2 of the same batch (1 treated, no DMSO), B1 (1 DMSO, 1 treated)."""
    wells = ["a_d1", "a_d2", "a_t1", "a_t2", "a2_t1", "b_d1", "b_t1", "a_sh"]
    level3 = pd.DataFrame(
        [
            [1.0, 3.0, 10.0, 20.0, 30.0, 5.0, 50.0, 99.0],
            [2.0, 6.0, 11.0, 21.0, 31.0, 7.0, 51.0, 99.0],
            [0.0, 4.0, 12.0, 22.0, 32.0, 9.0, 52.0, 99.0],
            [8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0],  # not a landmark
        ],
        index=["101", "102", "103", "999"],
        columns=wells,
    )
    plate_a, plate_a2, plate_b = "CPC1_MCF7_24H_X1_B7", "CPC1_MCF7_24H_X2_B7", "CPC1_PC3_6H_X1_B2"
    inst = pd.DataFrame(
        {
            "inst_id": wells,
            "rna_plate": [plate_a, plate_a, plate_a, plate_a, plate_a2, plate_b, plate_b, plate_a],
            "pert_id": ["DMSO", "DMSO", "BRD-1", "BRD-2", "BRD-1", "DMSO", "BRD-2", "TRCN1"],
            "pert_type": ["ctl_vehicle", "ctl_vehicle", "trt_cp", "trt_cp", "trt_cp", "ctl_vehicle", "trt_cp", "trt_sh"],
            "cell_id": ["MCF7"] * 5 + ["PC3"] * 2 + ["MCF7"],
            "pert_dose": [np.nan, np.nan, 10.0, 500.0, 1.0, np.nan, 3.0, 1.0],
            "pert_dose_unit": [None, None, "µM", "nM", "um", None, "µM", "µL"],
            "pert_time": [24, 24, 24, 24, 24, 6, 6, 24],
        }
    )
    return level3, inst


def test_pairing_uses_the_plate_dmso_mean_and_batch_fallback() -> None:
    level3, inst = _hand_table()
    pairs = pretraining_pairs(level3, inst, ["103", "101"])  # gene order as given
    assert pairs.index.tolist() == ["a_t1", "a_t2", "a2_t1", "b_t1"]
    assert pairs.loc["a_t1", ["basal:103", "basal:101"]].tolist() == [2.0, 2.0]  # mean(0, 4), mean(1, 3)
    assert pairs.loc["a_t2", ["perturbed:103", "perturbed:101"]].tolist() == [22.0, 20.0]
    assert pairs.loc["b_t1", ["basal:103", "basal:101"]].tolist() == [9.0, 5.0]
    # A2 has no DMSO: it borrows its batch's (CPC1_MCF7_24H: plate A1's two wells)
    assert pairs.loc["a2_t1", "basal_source"] == "batch"
    assert pairs.loc["a2_t1", ["basal:103", "basal:101"]].tolist() == [2.0, 2.0]
    assert pairs.dose_um.tolist() == [10.0, 0.5, 1.0, 3.0]  # 500 nM -> 0.5 µM
    assert pairs.time_h.tolist() == [24.0, 24.0, 24.0, 6.0]
    assert "trt_sh" not in pairs.pert_id.tolist() and "TRCN1" not in pairs.pert_id.tolist()


def test_plate_without_controls_is_an_error_or_dropped(caplog: pytest.LogCaptureFixture) -> None:
    level3, inst = _hand_table()
    with pytest.raises(DataError, match="no vehicle-control wells on the plate"):
        pretraining_pairs(level3, inst, ["101"], fallback="none")
    with caplog.at_level(logging.WARNING, logger="l1k.response"):
        pairs = pretraining_pairs(level3, inst, ["101"], fallback="none", on_missing="drop")
    assert "a2_t1" not in pairs.index and len(pairs) == 3
    assert "dropped 1 treated profiles on 1 plates" in caplog.text
    with pytest.raises(DataError, match="not rows of the level-3 matrix"):
        pretraining_pairs(level3, inst, ["101", "555"])


def test_streaming_pairs_equal_in_memory_pairs(tmp_path: Path) -> None:
    level3, inst = _hand_table()
    path = write_gctx(tmp_path / "l3.gctx", level3, pd.DataFrame(index=level3.index), pd.DataFrame(index=level3.columns))
    streamed = list(iter_pretraining_pairs(path, inst, ["101", "102", "103"], chunk_size=2))
    assert max(len(chunk) for chunk in streamed) <= 2
    expected = pretraining_pairs(read_gctx(path).data, inst, ["101", "102", "103"])
    pd.testing.assert_frame_equal(pd.concat(streamed).loc[expected.index], expected)


# ---------------------------------------------------------------- structures and conditions


def test_invalid_smiles_are_excluded_with_their_ids() -> None:
    smiles = pd.Series({"d1": "CCO", "d2": "c1ccccc1)", "d3": None, "d4": "F(F)(F)(F)C", "d5": "OC(=O)c1ccccc1"})
    parsed = parse_smiles(smiles)
    assert parsed.canonical.to_dict() == {"d1": "CCO", "d5": "O=C(O)c1ccccc1"}
    assert parsed.excluded.set_index("compound_id").reason.to_dict() == {
        "d2": "unparsable SMILES",
        "d3": "no SMILES",
        "d4": "unparsable SMILES",
    }
    with pytest.raises(DataError, match="none of the 2 SMILES parse"):
        parse_smiles(pd.Series({"x": "C1CC", "y": ""}))


def test_fingerprints_are_deterministic_and_descriptors_standardised() -> None:
    parsed = parse_smiles(pd.Series({"a": "CCO", "b": "c1ccccc1O", "c": "CC(=O)Nc1ccc(O)cc1"}))
    first, again = (
        featurise(parsed),
        featurise(parse_smiles(pd.Series({"a": "OCC", "b": "Oc1ccccc1", "c": "CC(=O)Nc1ccc(O)cc1"}))),
    )
    assert first.shape == (3, 2048) and set(np.unique(first.to_numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(first.to_numpy(), again.to_numpy())  # same molecule, other spelling
    assert featurise(parsed, "morgan", n_bits=64).shape == (3, 64)
    descriptors = featurise(parsed, "descriptors").to_numpy()
    np.testing.assert_allclose(descriptors.mean(axis=0), 0.0, atol=1e-6)
    with pytest.raises(DataError, match="unknown featuriser"):
        featurise(parsed, "mat")
    np.testing.assert_allclose(scale_conditions([10.0, 100.0], 72.0), [[0.1, 1.0], [1.0, 1.0]])


# ---------------------------------------------------------------- attention


def test_attention_is_a_true_matrix_vector_product_not_the_row_sum_shortcut() -> None:
    torch.manual_seed(0)
    n_genes, embed_dim, batch = 7, 3, 4
    ppi = (np.random.default_rng(0).random((n_genes, n_genes)) < 0.3).astype(np.float32)
    layer = GeneGeneAttention(n_genes, embed_dim, ppi).double()
    g0, d = torch.randn(batch, n_genes, dtype=torch.float64), torch.randn(batch, n_genes, dtype=torch.float64)
    output = layer(g0, d).detach().numpy()
    w_gene, w_comp, prior = layer.w_gene.detach().numpy(), layer.w_comp.detach().numpy(), ppi.astype(np.float64)
    expected, row_sum = [], []
    for s in range(batch):
        q = g0[s].numpy()[:, None] * w_gene + d[s].numpy()[:, None] * w_comp
        a = q @ q.T / np.sqrt(embed_dim) + prior
        np.testing.assert_allclose(layer.attention(g0, d)[s].detach().numpy(), a, atol=1e-10)
        expected.append(a @ g0[s].numpy())
        row_sum.append(g0[s].numpy() * a.sum(axis=1))  # the public code's einsum('ij,ijk->ij')
    np.testing.assert_allclose(output, np.array(expected), atol=1e-6)
    assert np.abs(output - np.array(row_sum)).max() > 1e-2


# ---------------------------------------------------------------- splits


def test_blind_splits_hold_out_whole_cell_lines_and_drugs() -> None:
    rng = np.random.default_rng(3)
    grid = pd.MultiIndex.from_product([[f"c{i}" for i in range(30)], [f"d{j}" for j in range(12)]]).to_frame(index=False)
    responses = grid.set_axis(["cell_line", "drug"], axis=1).sample(frac=0.8, random_state=1).reset_index(drop=True)
    responses["ln_ic50"] = rng.normal(size=len(responses))
    for scheme in SCHEMES:
        folds = assign_folds(responses, scheme, n_folds=5, seed=7)
        pd.testing.assert_frame_equal(folds, assign_folds(responses, scheme, n_folds=5, seed=7))
        tested = np.zeros(len(responses), dtype=int)
        for k in range(5):
            train, test = fold_masks(folds, k)
            assert test.any() and train.any() and not (train & test).any()
            tested += test
            cells_train, drugs_train = set(responses.cell_line[train]), set(responses.drug[train])
            cells_test, drugs_test = set(responses.cell_line[test]), set(responses.drug[test])
            if scheme in ("cell_blind", "disjoint"):
                assert not cells_test & cells_train
            if scheme in ("drug_blind", "disjoint"):
                assert not drugs_test & drugs_train
        if scheme == "disjoint":
            assert tested.max() == 1
        else:
            assert (tested == 1).all()  # every pair in exactly one test fold
    with pytest.raises(DataError, match="cannot fill 13 folds"):
        assign_folds(responses, "drug_blind", n_folds=13)


# ---------------------------------------------------------------- fine-tuning


def _pretrained(n_genes: int = 6, n_structure: int = 5, ppi: bool = True) -> tuple[CSG2APretrainer, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.hstack([rng.normal(size=(80, n_genes)), rng.integers(0, 2, (80, n_structure)), rng.random((80, 2))])
    y = x[:, :n_genes] + 0.5 * x[:, n_genes : n_genes + 1]
    adjacency = np.eye(n_genes, k=1, dtype=np.float32) + np.eye(n_genes, k=-1, dtype=np.float32)
    model = CSG2APretrainer(**FAST).fit(x[:60], y[:60], x[60:], y[60:], ppi=adjacency if ppi else None)
    return model, x


def test_frozen_fine_tuning_changes_only_the_scaling_layer_and_heads() -> None:
    pretrainer, x = _pretrained()
    files = pretrainer.checkpoint_files()
    before = {k: v.clone() for k, v in pretrainer.network_.state_dict().items()}
    features = x[:, :11]
    y = features[:, 0] - features[:, 6]
    frozen = CSG2ARegressor(pretrained=files, freeze=True, **FAST).fit(features[:60], y[:60], features[60:], y[60:])
    for name, value in frozen.module_.network.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    fresh = CSG2ARegressor(pretrained=files, freeze=True, max_epochs=0).fit(features[:60], y[:60], features[60:], y[60:])
    initial = fresh.module_.state_dict()
    for name in ("mu", "log_sigma", "head.0.weight", "head.3.weight"):
        assert not torch.equal(frozen.module_.state_dict()[name], initial[name]), name
    unfrozen = CSG2ARegressor(pretrained=files, freeze=False, **FAST).fit(features[:60], y[:60], features[60:], y[60:])
    assert not torch.equal(unfrozen.module_.network.attention.w_gene, before["attention.w_gene"])
    restored = CSG2ARegressor.from_checkpoint(frozen.checkpoint_files())
    np.testing.assert_allclose(restored.predict(features[60:]), frozen.predict(features[60:]), atol=1e-6)
    with torch.no_grad():  # the map from Gram matrices equals the mean of the rows' attention matrices
        scaled, structure, conditions = frozen.module_.network_inputs(torch.as_tensor(features[:10], dtype=torch.float32))
        d = frozen.module_.network.encoder(structure, conditions)
        direct = frozen.module_.network.attention.attention(scaled, d).double().mean(dim=0).numpy()
    assert frozen.module_.network.attention.ppi.any()  # the prior's term is in both
    np.testing.assert_allclose(frozen.mean_attention(features[:10], batch_size=3), direct, rtol=1e-5, atol=1e-5)


def test_fine_tuning_options_are_checked() -> None:
    pretrainer, x = _pretrained(ppi=False)
    features, y = x[:, :11], x[:, 0]
    with pytest.raises(DataError, match="trained without a PPI prior"):
        CSG2ARegressor(pretrained=pretrainer.checkpoint_files(), use_ppi=True).fit(features, y, features, y)
    no_ppi = CSG2ARegressor(pretrained=pretrainer.checkpoint_files(), use_ppi=False, **FAST).fit(features, y, features, y)
    assert not no_ppi.module_.network.attention.ppi.any()
    with pytest.raises(DataError, match="n_genes"):
        CSG2ARegressor(pretrained=None, use_ppi=False).fit(features, y, features, y)
    with pytest.raises(DataError, match="NaN or infinite"):
        CSG2ARegressor(pretrained=pretrainer.checkpoint_files(), use_ppi=False).fit(features, np.full(80, np.nan), features, y)


def test_plain_linear_model_is_the_output_layer_of_basal_plus_condition() -> None:
    """Seed 003's plain linear model: no attention, "just adds the chemical condition representation and the basal"."""
    from l1k_assets.response.csg2a import CSG2ANetwork, NetworkConfig

    torch.manual_seed(0)
    network = CSG2ANetwork(NetworkConfig(6, 5, 4, 16, 0.0, plain=True)).double().eval()
    assert network.attention is None and not any("attention" in name for name in network.state_dict())
    g0, structure, conditions = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64), torch.rand(3, 2)
    profile, d = network(g0, structure, conditions.double())
    weight = network.feed_forward.weight.detach()
    torch.testing.assert_close(profile, (g0 + d) @ weight.T)  # linear in g0 + D, nothing else
    with pytest.raises(DataError, match="no attention for a PPI prior"):
        CSG2ANetwork(NetworkConfig(6, 5, 4, 16, 0.0, plain=True), np.zeros((6, 6)))

    rng = np.random.default_rng(0)
    x = np.hstack([rng.normal(size=(80, 6)), rng.integers(0, 2, (80, 5)), rng.random((80, 2))])
    pretrainer = CSG2APretrainer(**FAST, plain=True).fit(x[:60], x[:60, :6], x[60:], x[60:, :6])
    files = pretrainer.checkpoint_files()
    restored = CSG2APretrainer.from_checkpoint(files)
    np.testing.assert_allclose(restored.predict(x[60:]), pretrainer.predict(x[60:]), atol=1e-6)
    features, y = x[:, :11], x[:, 0]
    with pytest.raises(DataError, match="trained without a PPI prior"):
        CSG2ARegressor(pretrained=files, use_ppi=True).fit(features, y, features, y)
    plain = CSG2ARegressor(pretrained=files, use_ppi=False, **FAST).fit(features[:60], y[:60], features[60:], y[60:])
    assert np.isfinite(plain.predict(features[60:])).all()
    with pytest.raises(DataError, match="no attention to average"):
        plain.mean_attention(features[:5])


# ---------------------------------------------------------------- bad input


def test_unusable_pairs_are_excluded_with_counts_or_refused(caplog: pytest.LogCaptureFixture) -> None:
    responses = pd.DataFrame(
        {"cell_line": ["1", "1", "2", "3", "2"], "drug": ["10", "11", "10", "10", "12"], "ln_ic50": [0.5, 1.0, np.inf, 2.0, 1.5]}
    )
    expression = pd.DataFrame({"G1": [1.0, 2.0], "G2": [3.0, 5.0]}, index=["1", "2"])
    structures = featurise(parse_smiles(pd.Series({"10": "CCO", "11": "C1CC", "12": "CCN"})), n_bits=16)
    with caplog.at_level(logging.WARNING, logger="l1k.response"):
        data = bm.response_data(responses, expression, structures, ["G2", "G1", "G9"])
    assert data.excluded == {"non-finite log IC50": 1, "cell line without expression": 1, "drug without a usable structure": 1}
    assert data.responses[["cell_line", "drug"]].values.tolist() == [["1", "10"], ["2", "12"]]
    assert data.expression.columns.tolist() == ["G2", "G1", "G9"] and (data.expression.G9 == 0).all()
    assert "lacks 1 of 3 model genes" in caplog.text
    with pytest.raises(DataError, match="no usable"):
        bm.response_data(responses[responses.cell_line == "3"], expression, structures, ["G1"])
    edges = pd.DataFrame({"a": ["G1", "G1", "X"], "b": ["G2", "G2", "G1"], "score": [950, 950, 990]})
    np.testing.assert_array_equal(ppi_adjacency(edges, ["G1", "G2"]), [[0, 1], [1, 0]])
    with pytest.raises(DataError, match="no PPI edge"):
        ppi_adjacency(edges.assign(score=500), ["G1", "G2"])


# ---------------------------------------------------------------- planted truth


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    universe = build_universe("tiny")
    root = tmp_path_factory.mktemp("response")
    truth = write_response_sources(universe, root)
    write_lincs_release(universe, root)
    return root, truth


def test_screened_drugs_are_lincs_compounds_with_addiction_along_their_l1000_effect(
    tiny_sources: tuple[Path, dict],
) -> None:
    root, truth = tiny_sources
    release = root / "geo/series/GSE92nnn/GSE92742/suppl"
    lincs_smiles = read_lincs_table(release / "GSE92742_Broad_LINCS_pert_info.txt.gz", "pert_info").set_index("pert_id")
    gdsc_smiles = read_gdsc_smiles(gdsc_url(str(root / "gdsc"), GDSC_SMILES_FILE))
    planted = truth["gdsc"]
    compounds = pd.Series(planted["lincs_compounds"])
    assert compounds.is_unique and compounds.isin(lincs_smiles.index).all()
    valid = [d for d in compounds.index if int(d) not in truth["invalid_smiles"]]
    assert gdsc_smiles.loc[valid].tolist() == lincs_smiles.canonical_smiles.loc[compounds[valid]].tolist()
    cids = pd.read_csv(gdsc_url(str(root / "gdsc"), GDSC_SMILES_FILE), dtype=str).set_index("DRUG_ID").PUBCHEM_CID
    assert cids.loc[compounds.index].astype(float).tolist() == lincs_smiles.pubchem_cid.astype(float).loc[compounds].tolist()
    programs = build_universe("tiny").programs
    assert planted["reverses"]  # the link pretraining can carry
    for drug_id, ctype in planted["reverses"].items():  # more potent where the reversed program is high
        weights = pd.Series(planted["sensitivity"][drug_id])
        program = programs[ctype]
        assert (np.sign(weights.loc[program.index]) == -np.sign(program)).all()
