"""Tau, the reference null and CLUE's maximum-quantile summaries against hand computations.

The null is checked against an independent path: every reference query scored on the whole
matrix with the project's vectorised WTCS (not the rank index), normalised, and pooled by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.search.connectivity import SignatureTable
from l1k_assets.search.rank_index import RankIndex, build_rank_index
from l1k_assets.search.reference_null import ReferenceNull, ReferenceSetError
from l1k_assets.search.summary import max_quantile, summarize_mechanisms, summarize_perturbagens
from l1k_assets.search.tau import MIN_QUERIES_PER_TYPE, build_reference_null, pick_queries, reference_mask
from tests.oracles import normalized_scores, wtcs
from tests.test_search import generated_info, generated_matrix

# ---------------------------------------------------------------- maximum quantile


def test_max_quantile_equals_hand_computed_prctile() -> None:
    # n = 6: MATLAB's prctile puts the p-th percentile at 1-based position n·p/100 + 1/2.
    # 33rd: 2.48 -> 2 + 0.48·(3 − 2) = 2.48; 67th: 4.52 -> 4.52; the larger magnitude wins.
    assert max_quantile([6, 1, 5, 2, 4, 3]) == pytest.approx(4.52)
    # n = 4: 33rd at 1.82 -> −90 + 0.82·10 = −81.8; 67th at 3.18 -> −70 + 0.18·80 = −55.6.
    assert max_quantile([-90, -80, -70, 10]) == pytest.approx(-81.8)
    assert max_quantile([42.0]) == 42.0
    assert max_quantile([-5.0, 5.0]) == pytest.approx(3.4)  # 33rd −3.4, 67th 3.4: a tie keeps the 67th
    assert np.isnan(max_quantile([]))
    assert max_quantile([np.nan, 3.0]) == 3.0


def test_perturbagen_summary_collapses_doses_then_cell_lines() -> None:
    scores = pd.DataFrame(
        {
            "pert_id": ["a"] * 5 + ["b"] * 2,
            "pert_iname": ["alpha"] * 5 + ["beta"] * 2,
            "cell_id": ["A375", "A375", "MCF7", "PC3", "PC3", "A375", "MCF7"],
            "tau": [-90.0, -50.0, -80.0, 20.0, 10.0, 99.0, -10.0],
            "ncs": [-1.0, -2.0, -1.5, 0.5, 0.1, 2.0, -0.2],
        }
    )
    summary = summarize_perturbagens(scores, ("tau", "ncs")).set_index("pert_id")
    # a: per cell line A375 max_quantile(−90, −50): 33rd at 1.16 -> −90 + 0.16·40 = −83.6, 67th at 1.84
    # -> −56.4, so −83.6; MCF7 −80; PC3 (10, 20): 33rd 11.6, 67th 18.4 -> 18.4.
    # across lines (−83.6, −80, 18.4): 33rd at 1.49 -> −83.6 + 0.49·3.6 = −81.836; 67th at 2.51
    # -> −80 + 0.51·98.4 = −29.816, so −81.836.
    a_cells = [max_quantile([-90, -50]), -80.0, max_quantile([20, 10])]
    assert a_cells == pytest.approx([-83.6, -80.0, 18.4])
    assert summary.loc["a", "tau"] == pytest.approx(-81.836)
    assert summary.loc["a", "n_cell_lines"] == 3 and summary.loc["a", "n_signatures"] == 5
    assert summary.loc["a", "pert_iname"] == "alpha"
    # b: (99, −10): 33rd at 1.16 -> −10 + 0.16·109 = 7.44; 67th at 1.84 -> 81.56.
    assert summary.loc["b", "tau"] == pytest.approx(81.56)
    assert summary.index.tolist() == ["b", "a"]  # descending τ


def test_mechanism_summary_splits_multiple_moas() -> None:
    perturbagens = pd.DataFrame(
        {
            "pert_iname": ["x", "y", "z", "w"],
            "moa": ["HDAC inhibitor", "HDAC inhibitor|MTOR inhibitor", "MTOR inhibitor", None],
            "tau": [-95.0, -80.0, 30.0, -99.0],
        }
    )
    moa = summarize_mechanisms(perturbagens).set_index("moa")
    assert moa.loc["HDAC inhibitor", "tau"] == pytest.approx(max_quantile([-95, -80]))
    assert moa.loc["MTOR inhibitor", "n_perturbagens"] == 2
    assert moa.loc["HDAC inhibitor", "members"] == "x, y"  # strongest first
    assert "w" not in " ".join(moa.members)  # no mechanism, no class


# ---------------------------------------------------------------- tau


def test_tau_equals_hand_computed_percentiles() -> None:
    null = ReferenceNull({"trt_cp": np.array([0.5, 1.0, 1.5, 2.0]), "trt_sh": np.array([3.0])})
    ncs = np.array([1.2, -2.5, 0.0, 1.0, 1.0, 4.0, np.nan])
    types = np.array(["trt_cp", "trt_cp", "trt_cp", "trt_cp", "ctl_vehicle", "trt_sh", "trt_cp"])
    tau = null.tau(ncs, types)
    # 1.2 beats 0.5, 1.0 (2 of 4); −2.5 beats all four; 0 beats none; 1.0 beats only 0.5 (strictly smaller).
    np.testing.assert_allclose(tau[:4], [50.0, -100.0, 0.0, 25.0])
    assert np.isnan(tau[4]) and np.isnan(tau[6])  # no null for the type; no score
    assert tau[5] == 100.0
    assert ReferenceNull.from_table(null.to_table()).values.keys() == null.values.keys()


@pytest.fixture(scope="module")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RankIndex, SignatureTable, pd.DataFrame]]:
    matrix = generated_matrix(11, n_genes=120, n_sigs=60)
    info = generated_info(matrix).assign(is_touchstone=np.where(np.arange(60) % 3 == 0, "0", "1"))
    folder = tmp_path_factory.mktemp("tau")
    gctx = write_gctx(folder / "level5.gctx", matrix)
    index = RankIndex(build_rank_index(gctx, folder / "level5.rank.h5"))
    yield index, SignatureTable.align(index, info), matrix
    index.close()


def test_reference_null_equals_a_hand_pooled_null(small_release: tuple[RankIndex, SignatureTable, pd.DataFrame]) -> None:
    index, signatures, matrix = small_release
    meta = signatures.meta
    reference = reference_mask(meta)
    space = [g for g in matrix.index if int(g[1:]) % 5 != 0]  # a gene space smaller than the index
    null, summary = build_reference_null(index, signatures, reference, space, query_size=12, max_queries=8, seed=3)
    types = meta.pert_type.astype(str).to_numpy()
    picked = pick_queries(types, np.flatnonzero(reference), 8, np.random.default_rng(3))
    scores = matrix.to_numpy().T  # signatures × genes
    hand: dict[str, list[float]] = {"trt_cp": [], "trt_sh": []}
    for own in picked:
        z = matrix.iloc[:, own].loc[space]
        up = z.sort_values(ascending=False, kind="stable").index[:12]
        down = z.iloc[::-1].sort_values(kind="stable").index[:12]  # lowest; ties: the later gene first
        raw = wtcs(scores, matrix.index.isin(up), matrix.index.isin(down))
        ncs = normalized_scores(meta.reset_index(drop=True).assign(wtcs=raw)).to_numpy()
        for j in np.flatnonzero(reference):
            if j != own:
                hand[meta.pert_type.iloc[j]].append(abs(ncs[j]))
    for pert_type, values in hand.items():
        np.testing.assert_allclose(null.values[pert_type], np.sort(values), atol=1e-9)
    assert summary.set_index("pert_type").n_queries.sum() == len(picked)
    assert summary.attrs["query_size"] == 12


def test_query_picking_keeps_every_type_even_a_rare_one() -> None:
    """Proportional to each type's share, but at least MIN_QUERIES_PER_TYPE of a type (or all of a smaller one)."""
    types = np.array(["trt_cp"] * 900 + ["trt_sh"] * 30 + ["trt_oe"] * 4)
    picked = pick_queries(types, np.arange(len(types)), 100, np.random.default_rng(0))
    counts = pd.Series(types[picked]).value_counts().to_dict()
    assert counts == {"trt_cp": 96, "trt_sh": MIN_QUERIES_PER_TYPE, "trt_oe": 4}
    assert np.all(np.diff(picked) > 0) and len(set(picked)) == len(picked)


def test_controls_are_never_reference_signatures() -> None:
    meta = pd.DataFrame({"pert_type": ["trt_cp", "ctl_vehicle", "trt_sh", "ctl_untrt"], "is_exemplar_sig": ["1", "1", "1", "1"]})
    assert reference_mask(meta, "is_exemplar_sig").tolist() == [True, False, True, False]
    with pytest.raises(ReferenceSetError, match=r"no 'is_exemplar_sig' column.*--no-tau"):
        reference_mask(meta.drop(columns="is_exemplar_sig"), "is_exemplar_sig")
    with pytest.raises(ReferenceSetError, match="no treatment signature"):
        reference_mask(meta.iloc[[1, 3]], "is_exemplar_sig")


def test_a_large_null_keeps_an_even_quantile_grid(small_release: tuple[RankIndex, SignatureTable, pd.DataFrame]) -> None:
    index, signatures, matrix = small_release
    reference, genes = reference_mask(signatures.meta), list(matrix.index)
    full, _ = build_reference_null(index, signatures, reference, genes, max_queries=6)
    grid, summary = build_reference_null(index, signatures, reference, genes, max_queries=6, max_values=11)
    for pert_type, values in full.values.items():
        assert len(grid.values[pert_type]) == 11
        assert grid.values[pert_type][0] == values[0] and grid.values[pert_type][-1] == values[-1]
    assert (summary.n_kept == 11).all() and (summary.n_null_values > 11).all()


def test_a_release_without_a_reference_is_refused(small_release: tuple[RankIndex, SignatureTable, pd.DataFrame]) -> None:
    meta = small_release[1].meta
    with pytest.raises(ReferenceSetError, match="no 'is_touchstone' column"):
        reference_mask(meta.drop(columns="is_touchstone"))
    with pytest.raises(ReferenceSetError, match="reference set is empty"):
        reference_mask(meta.assign(is_touchstone="0"))


def test_too_small_a_gene_space_is_refused(small_release: tuple[RankIndex, SignatureTable, pd.DataFrame]) -> None:
    index, signatures, matrix = small_release
    meta = signatures.meta
    with pytest.raises(ReferenceSetError, match="too few"):
        build_reference_null(index, signatures, reference_mask(meta), list(matrix.index[:30]))
