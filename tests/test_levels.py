"""CMap levels 4 and 5: hand-computed toy values, and a real LJP005 plate against CMap's own level 4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from l1k_assets.errors import DataError
from l1k_assets.lincs.derive import derive_level5, replicate_map
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.gctx import read_gctx, write_gctx
from l1k_assets.lincs.levels import level5_from_level3, level5_from_level4, modz, modz_weights, robust_zscore

K = 1.4826


def toy_level3() -> pd.DataFrame:
    return pd.DataFrame(
        [[1.0, 2.0, 3.0, 10.0], [1.0, 1.0, 1.0, 2.0], [2.0, 4.0, 6.0, 8.0]],
        index=["g1", "g2", "g3"],
        columns=["i1", "i2", "i3", "i4"],
    )


def test_robust_zscore_one_plate_by_hand() -> None:
    z = robust_zscore(toy_level3(), ["p"] * 4)
    # g1: median 2.5, |dev| 1.5 0.5 0.5 7.5 -> MAD 1.0; g2: median 1, MAD 0 -> floor 0.1; g3: median 5, MAD 2
    expected = np.array(
        [
            [-1.5 / K, -0.5 / K, 0.5 / K, 7.5 / K],
            [0.0, 0.0, 0.0, 1 / (0.1 * K)],
            [-3 / (2 * K), -1 / (2 * K), 1 / (2 * K), 3 / (2 * K)],
        ]
    )
    np.testing.assert_allclose(z.to_numpy(), expected, rtol=1e-12)
    assert z.index.tolist() == ["g1", "g2", "g3"] and z.columns.tolist() == ["i1", "i2", "i3", "i4"]


def test_mad_floor_only_acts_below_it() -> None:
    data = toy_level3()
    no_floor = robust_zscore(data.loc[["g1", "g3"]], ["p"] * 4, mad_floor=0.0)
    floored = robust_zscore(data.loc[["g1", "g3"]], ["p"] * 4, mad_floor=0.1)
    pdt.assert_frame_equal(no_floor, floored)  # MADs 1 and 2 exceed the floor
    high = robust_zscore(data, ["p"] * 4, mad_floor=1.5)
    np.testing.assert_allclose(high.loc["g1"], [-1.5 / (1.5 * K), -0.5 / (1.5 * K), 0.5 / (1.5 * K), 7.5 / (1.5 * K)])
    np.testing.assert_allclose(high.loc["g3"], [-3 / (2 * K), -1 / (2 * K), 1 / (2 * K), 3 / (2 * K)])  # MAD 2 > 1.5


def test_robust_zscore_per_plate() -> None:
    z = robust_zscore(toy_level3(), ["a", "b", "a", "b"])
    # g1 plate a: 1, 3 -> median 2, MAD 1; plate b: 2, 10 -> median 6, MAD 4
    np.testing.assert_allclose(z.loc["g1"], [-1 / K, -4 / (4 * K), 1 / K, 4 / (4 * K)])
    # g3 plate a: 2, 6 -> median 4, MAD 2; plate b: 4, 8 -> median 6, MAD 2
    np.testing.assert_allclose(z.loc["g3"], [-2 / (2 * K), -2 / (2 * K), 2 / (2 * K), 2 / (2 * K)])


def test_robust_zscore_ignores_missing_values() -> None:
    data = toy_level3()
    data.loc["g1", "i4"] = np.nan
    z = robust_zscore(data, ["p"] * 4)
    # g1 now 1, 2, 3: median 2, MAD 1
    np.testing.assert_allclose(z.loc["g1"].iloc[:3], [-1 / K, 0.0, 1 / K])
    assert np.isnan(z.loc["g1", "i4"])


def test_robust_zscore_checks_its_labels() -> None:
    with pytest.raises(DataError, match="3 plate labels for 4 instances"):
        robust_zscore(toy_level3(), ["a", "b", "c"])


def replicates() -> pd.DataFrame:
    # Spearman: r1~r2 0.8, r1~r3 0.8, r2~r3 0.6 (4 genes, 1 - 6 Σd² / 60)
    return pd.DataFrame({"r1": [1.0, 2.0, 3.0, 4.0], "r2": [1.0, 2.0, 4.0, 3.0], "r3": [2.0, 1.0, 3.0, 4.0]})


def test_modz_weights_three_replicates_by_hand() -> None:
    weights = modz_weights(replicates())
    np.testing.assert_allclose(weights.to_numpy(), [1.6 / 4.4, 1.4 / 4.4, 1.4 / 4.4])
    assert weights.index.tolist() == ["r1", "r2", "r3"]


def test_modz_weights_floor_a_discordant_replicate() -> None:
    block = replicates().assign(r4=[4.0, 3.0, 2.0, 1.0])  # rho with r1, r2, r3: -1, -0.8, -0.8
    weights = modz_weights(block)
    # CMap clips each negative rho to 0, then averages over the 3 siblings:
    # r1: (0.8 + 0.8 + 0) / 3; r2: (0.8 + 0.6 + 0) / 3; r3: the same; r4: 0 -> floored at 0.01
    raw = np.array([1.6 / 3, 1.4 / 3, 1.4 / 3, 0.01])
    np.testing.assert_allclose(weights.to_numpy(), raw / raw.sum())


def test_modz_is_the_weighted_sum() -> None:
    block = replicates()
    expected = (block.r1 * 1.6 + block.r2 * 1.4 + block.r3 * 1.4) / 4.4
    pdt.assert_series_equal(modz(block), expected, check_names=False)
    single = block[["r2"]]
    assert modz_weights(single).tolist() == [1.0]
    pdt.assert_series_equal(modz(single), block.r2, check_names=False)


def test_constant_replicate_gets_the_floor_weight() -> None:
    block = replicates().assign(r4=5.0)
    weights = modz_weights(block)
    assert weights["r4"] == pytest.approx(0.01 / ((1.6 + 1.4 + 1.4) / 3 + 0.01))


def test_level5_from_level4_groups_in_first_appearance_order() -> None:
    level4 = pd.DataFrame(
        np.column_stack([[9.0, 8, 7, 6], replicates().to_numpy()[:, :2], [0.5, 0, 1, 2], replicates().r3]),
        columns=["x1", "a1", "a2", "y1", "a3"],
    )
    groups = pd.Series({"a1": "A", "a2": "A", "a3": "A", "x1": "X", "y1": "Y", "unused": "Z"})
    level5 = level5_from_level4(level4, groups)
    assert level5.columns.tolist() == ["X", "A", "Y"]
    np.testing.assert_allclose(level5["A"], modz(replicates()))
    np.testing.assert_allclose(level5["X"], [9, 8, 7, 6])
    with pytest.raises(DataError, match="no signature"):
        level5_from_level4(level4, groups.drop("y1"))


def test_level5_from_level3_chains_both_levels() -> None:
    level3 = toy_level3()
    plates = ["a", "a", "b", "b"]
    groups = pd.Series({"i1": "s1", "i3": "s1", "i2": "s2", "i4": "s2"})
    pdt.assert_frame_equal(
        level5_from_level3(level3, plates, groups, mad_floor=0.2),
        level5_from_level4(robust_zscore(level3, plates, mad_floor=0.2), groups),
    )


# ---------------------------------------------------------------- a real plate


@pytest.fixture(scope="module")
def ljp005(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """LJP005 A375 24 h plate X1: level 3, CMap's level 4 of the same wells, and the wells' annotations."""
    level3 = read_gct(shared_data / "l1000" / "cmappy_test_l1000.gct")
    level4 = read_gct(shared_data / "l1000" / "cmappy_test_l1000_misnamed_gctx.gct")
    return level3.data, level4.data, level3.col_meta


def test_real_plate_level4_matches_cmap(ljp005: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    level3, cmap_level4, meta = ljp005
    assert meta.rna_plate.nunique() == 1 and level3.shape == (978, 377)
    z = robust_zscore(level3, meta.rna_plate.to_numpy())
    assert np.abs(np.median(z.to_numpy(), axis=1)).max() < 1e-12  # 377 wells: the median well is exactly 0
    assert (cmap_level4.index == z.index).all() and (cmap_level4.columns == z.columns).all()
    np.testing.assert_allclose(z.to_numpy(), cmap_level4.to_numpy(), atol=5.1e-5)  # CMap rounds to 4 decimals


def _hand_modz(wells: pd.DataFrame, clip: bool) -> pd.Series:
    """A plain loop over CMap's rule (cmapPy agg_wt_avg): mean of the siblings' Spearman rho, each clipped at 0
    when ``clip``, floored at 0.01, normalised; ``clip=False`` keeps the negative correlations."""
    corr = wells.corr(method="spearman").to_numpy()
    n = corr.shape[0]
    weights = []
    for i in range(n):
        others = [max(corr[i, j], 0.0) if clip else corr[i, j] for j in range(n) if j != i]
        weights.append(max(sum(others) / len(others), 0.01))
    return sum(wells.iloc[:, i] * (w / sum(weights)) for i, w in enumerate(weights))


def test_real_plate_modz_is_cmaps_clipped_weighting(ljp005: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    level3, _, meta = ljp005
    level4 = robust_zscore(level3, meta.rna_plate.to_numpy())
    groups = meta.pert_id.astype(str)  # 60 perturbagens: DMSO in 26 wells, compounds in 6 doses each
    level5 = level5_from_level4(level4, groups)
    assert level5.columns.tolist() == list(dict.fromkeys(groups))
    assert level5.shape == (978, 60)
    for pert in ["DMSO", "BRD-K76908866", groups.iloc[-1]]:
        wells = level4.loc[:, (groups == pert).to_numpy()]
        expected = _hand_modz(wells, clip=True)
        np.testing.assert_allclose(level5[pert].to_numpy(), expected.to_numpy(), rtol=1e-10, atol=1e-12)
    # the 26 DMSO wells include anti-correlated ones: keeping their negative rho changes the consensus visibly
    dmso = level4.loc[:, (groups == "DMSO").to_numpy()]
    unclipped = _hand_modz(dmso, clip=False)
    assert np.abs(level5["DMSO"].to_numpy() - unclipped.to_numpy()).max() > 0.1


def test_derive_level5_caller_matches_level5_from_level3(tmp_path: Path) -> None:
    """The streaming caller (plate family by family, through GctxAppender) gives the in-memory answer."""
    rng = np.random.default_rng(5)
    wells = [f"{plate}:{w}" for plate in ("A_X1", "A_X2", "B_X1") for w in range(6)]
    level3 = pd.DataFrame(rng.normal(8, 2, size=(7, len(wells))), index=[f"g{i}" for i in range(7)], columns=wells)
    instances = pd.DataFrame({"inst_id": wells, "rna_plate": [w.split(":")[0] for w in wells]})
    signatures = pd.DataFrame(
        {
            "sig_id": [f"A{w}" for w in range(6)] + [f"B{w}" for w in range(3)],
            "distil_id": [f"A_X1:{w}|A_X2:{w}" for w in range(6)] + [f"B_X1:{2 * k}|B_X1:{2 * k + 1}" for k in range(3)],
        }
    )
    source = write_gctx(tmp_path / "level3.gctx", level3, chunk_cols=4)
    derive_level5(source, instances, signatures, tmp_path / "level5.gctx")
    derived = read_gctx(tmp_path / "level5.gctx").data
    replicates = replicate_map(signatures)
    expected = level5_from_level3(level3, instances.rna_plate.to_numpy(), replicates)
    assert sorted(derived.columns) == sorted(expected.columns)
    np.testing.assert_allclose(derived[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-6, atol=1e-6)
