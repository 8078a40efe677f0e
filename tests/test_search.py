"""Signature search: the rank index and every query statistic against plain per-signature loops.

The references here are transcriptions of the published formulas, one signature at a time in
plain Python (CMap's weighted running sum, Chen et al.'s RGES, Cheng et al.'s XSum/XCos), so
they share nothing with the compiled peak/trough and bitmap code they check. Real signatures
come from signatureSearch's sample of 100 LINCS trt_cp signatures (values rounded to two
decimals, so ties abound).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import file_digest
from l1k_assets.lincs.gctx import read_gctx, write_gctx
from l1k_assets.search.connectivity import Rows, SignatureFilter, SignatureTable, score_rows, score_signatures, search
from l1k_assets.search.rank_index import RankIndex, build_rank_index, signature_ranks
from tests.oracles import normalized_scores, wtcs

EXTREME_N = 100
TOLERANCE = 1e-9
Built = tuple[Path, Path, pd.DataFrame]  # (GCTX, its rank index, the genes × signatures values)


# ---------------------------------------------------------------- plain per-signature transcriptions


def loop_order(z: list[float]) -> list[int]:
    """Genes from most up to most down; Python's sort is stable, so ties keep gene order."""
    return sorted(range(len(z)), key=lambda g: -z[g])


def loop_es(z: list[float], hits: set[int]) -> tuple[float, bool]:
    """CMap's weighted running sum walked gene by gene; also whether its two extremes tie (ambiguous sign)."""
    weights = {g: abs(z[g]) for g in hits}
    norm = sum(weights.values())
    if norm == 0:
        weights, norm = dict.fromkeys(hits, 1.0), float(len(hits))
    running, best, low, high = 0.0, 0.0, 0.0, 0.0
    for g in loop_order(z):
        running += weights[g] / norm if g in hits else -1.0 / (len(z) - len(hits))
        if abs(running) > abs(best):
            best = running
        low, high = min(low, running), max(high, running)
    return best, abs(high + low) < 1e-12


def loop_wtcs(z: list[float], up: set[int], down: set[int]) -> tuple[float, bool]:
    (es_up, tie_up), (es_down, tie_down) = loop_es(z, up), loop_es(z, down)
    score = (es_up - es_down) / 2 if np.sign(es_up) != np.sign(es_down) else 0.0
    return score, tie_up or tie_down


def loop_ks(z: list[float], hits: set[int]) -> float:
    """Chen et al. 2017 (cmap_score_new): a, b from the sorted positions of the hits, in exact fractions.

    a = b happens (positions are integers); exact arithmetic decides it as the formula says.
    """
    rank = {g: i + 1 for i, g in enumerate(loop_order(z))}
    positions = sorted(rank[g] for g in hits)
    t, n = len(positions), len(z)
    if t <= 1:
        return 0.0
    a = max(Fraction(j, t) - Fraction(positions[j - 1], n) for j in range(1, t + 1))
    b = max(Fraction(positions[j - 1], n) - Fraction(j - 1, t) for j in range(1, t + 1))
    return float(a) if a > b else -float(b)


def loop_rges(z: list[float], up: set[int], down: set[int]) -> float:
    ks_up, ks_down = loop_ks(z, up), loop_ks(z, down)
    if ks_up == 0 and ks_down != 0:
        return -ks_down
    if ks_up != 0 and ks_down == 0:
        return ks_up
    return ks_up - ks_down if np.sign(ks_up) + np.sign(ks_down) == 0 else 0.0


def extreme_genes(z: list[float], n: int) -> set[int]:
    order = loop_order(z)
    return set(order[:n]) | set(order[-n:])


def loop_xsum(z: list[float], up: set[int], down: set[int]) -> float:
    extreme = extreme_genes(z, EXTREME_N)
    return sum(z[g] for g in up & extreme) - sum(z[g] for g in down & extreme)


def loop_xcos(z: list[float], up: set[int], down: set[int]) -> float:
    """Cosine of the ±1 query and the signature, both over the signature's extreme genes only."""
    extreme = sorted(extreme_genes(z, EXTREME_N))
    query = [1.0 if g in up else -1.0 if g in down else 0.0 for g in extreme]
    values = [z[g] for g in extreme]
    dot = sum(q * v for q, v in zip(query, values, strict=True))
    norms = sum(q * q for q in query) ** 0.5 * sum(v * v for v in values) ** 0.5
    return dot / norms if norms else 0.0


LOOPS = {"wtcs": lambda z, u, d: loop_wtcs(z, u, d)[0], "rges": loop_rges, "xsum": loop_xsum, "xcos": loop_xcos}


def loop_scores(method: str, matrix: pd.DataFrame, up: list[str], down: list[str]) -> np.ndarray:
    """Score every signature (column) of a genes × signatures frame with the method's loop."""
    position = {g: i for i, g in enumerate(matrix.index)}
    up_set, down_set = {position[g] for g in up}, {position[g] for g in down}
    values = matrix.to_numpy(dtype=np.float64)
    return np.array([LOOPS[method](values[:, j].tolist(), up_set, down_set) for j in range(values.shape[1])])


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The 100 real signatures as a float32 level-5 GCTX (the LINCS precision) and its rank index."""
    with h5py.File(shared_data / "l1000" / "sigsearch_sample_db.h5", "r") as f:
        values = f["assay"][()]  # signatures × genes, as rhdf5 stores an R genes × signatures matrix
        names = [c.decode() for c in f["colnames"][0]]
        genes = [r.decode() for r in f["rownames"][0]]
    sig_ids = [f"{name}:{i}" for i, name in enumerate(names)]  # a few compounds appear twice
    matrix = pd.DataFrame(values.T.astype(np.float32), index=genes, columns=sig_ids)
    folder = tmp_path_factory.mktemp("real_search")
    gctx = write_gctx(folder / "sample.gctx", matrix)
    return gctx, build_rank_index(gctx, folder / "sample.rank.h5", chunk_size=32, extreme_n=EXTREME_N), matrix


def generated_matrix(seed: int, n_genes: int = 240, n_sigs: int = 90) -> pd.DataFrame:
    """float64 z-scores rounded to one decimal (many ties), one signature all zero, one with zero query genes."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.standard_normal((n_genes, n_sigs)) * 1.5, 1)
    values[:, 0] = 0.0
    values[:30, 1] = 0.0
    return pd.DataFrame(values, index=[f"g{i:03d}" for i in range(n_genes)], columns=[f"s{j:03d}" for j in range(n_sigs)])


def generated_info(matrix: pd.DataFrame) -> pd.DataFrame:
    j = np.arange(matrix.shape[1])
    return pd.DataFrame(
        {
            "sig_id": matrix.columns,
            "pert_id": [f"BRD-{k % 11:03d}" for k in j],
            "pert_iname": [f"drug{k % 11}" for k in j],
            "pert_type": np.where(j % 4 == 0, "trt_sh", "trt_cp"),
            "cell_id": np.asarray(["A375", "MCF7", "PC3"])[j % 3],
            "pert_dose": np.asarray([0.1, 1.0, 10.0])[(j // 3) % 3],
            "pert_time": np.where(j % 2 == 0, 6.0, 24.0),
        }
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return generated_index(tmp_path_factory.mktemp("generated_search"), 7)


def generated_index(folder: Path, seed: int) -> Built:
    """A generated matrix's GCTX (odd chunks) and rank index (odd blocks) in ``folder``."""
    matrix = generated_matrix(seed)
    gctx = write_gctx(folder / "generated.gctx", matrix, chunk_cols=16)
    return gctx, build_rank_index(gctx, folder / "generated.rank.h5", chunk_size=13, extreme_n=EXTREME_N), matrix


def random_query(genes: pd.Index, n_up: int, n_down: int, seed: int) -> tuple[list[str], list[str]]:
    shuffled = np.random.default_rng(seed).permutation(genes.to_numpy())
    return shuffled[:n_up].tolist(), shuffled[n_up : n_up + n_down].tolist()


# ---------------------------------------------------------------- statistics against the loops


@pytest.mark.parametrize("method", ["wtcs", "rges", "xsum", "xcos"])
@pytest.mark.parametrize("dataset", ["real", "generated"])
def test_scores_equal_loop_transcriptions(method: str, dataset: str, request: pytest.FixtureRequest) -> None:
    _, index_path, matrix = request.getfixturevalue(dataset)
    with RankIndex(index_path) as index:
        for seed, (n_up, n_down) in enumerate([(50, 70), (2, 1), (1, 40)]):
            up, down = random_query(matrix.index, n_up, n_down, seed)
            fast = score_signatures(index, up, down, method, block_size=23)
            np.testing.assert_allclose(fast, loop_scores(method, matrix, up, down), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("dataset", ["real", "generated"])
def test_wtcs_equals_the_projects_connectivity_wtcs(dataset: str, request: pytest.FixtureRequest) -> None:
    _, index_path, matrix = request.getfixturevalue(dataset)
    up, down = random_query(matrix.index, 100, 100, 11)
    reference = wtcs(matrix.to_numpy(dtype=np.float64).T, matrix.index.isin(up), matrix.index.isin(down))
    with RankIndex(index_path) as index:
        np.testing.assert_allclose(score_signatures(index, up, down, "wtcs"), reference, rtol=0, atol=TOLERANCE)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_genes=st.integers(3, 14),
    n_sigs=st.integers(1, 5),
)
def test_ranks_and_wtcs_with_ties(data: st.DataObject, n_genes: int, n_sigs: int) -> None:
    """Ranks break ties by gene order and WTCS from them equals connectivity.wtcs, with heavy ties and zeros."""
    levels = st.sampled_from([-2.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0])
    values = np.array(data.draw(st.lists(st.lists(levels, min_size=n_genes, max_size=n_genes), min_size=n_sigs, max_size=n_sigs)))
    genes = data.draw(st.permutations(range(n_genes)))
    n_up = data.draw(st.integers(1, n_genes - 1))
    n_down = data.draw(st.integers(1, n_genes - n_up))
    up, down = sorted(genes[:n_up]), sorted(genes[n_up : n_up + n_down])
    ranks = signature_ranks(values)
    for row, row_ranks in zip(values.tolist(), ranks, strict=True):
        expected = np.empty(n_genes, dtype=int)
        expected[loop_order(row)] = np.arange(1, n_genes + 1)
        np.testing.assert_array_equal(row_ranks, expected)
    assume(not any(loop_wtcs(row, set(up), set(down))[1] for row in values.tolist()))

    def rows(genes: list[int]) -> Rows:
        return Rows(np.ascontiguousarray(ranks.T[genes]), np.ascontiguousarray(values.T[genes]))

    fast = score_rows("wtcs", rows(up), rows(down), n_genes, 1, np.ones(n_sigs))
    up_mask, down_mask = np.isin(np.arange(n_genes), up), np.isin(np.arange(n_genes), down)
    np.testing.assert_allclose(fast, wtcs(values, up_mask, down_mask), rtol=0, atol=TOLERANCE)


def test_float32_ranks_equal_a_stable_descending_sort(tmp_path: Path) -> None:
    """float32 scores are ranked through packed integer keys; the order must be the stable sort's exactly.

    Rows mix heavy ties, both zeros (which compare equal), subnormals and the extremes of float32,
    so every branch of the key (sign, zero, magnitude order, gene tie-break) is exercised.
    """
    rng = np.random.default_rng(12)
    tiny, huge = np.float32(1e-45), np.finfo(np.float32).max
    special = np.array([0.0, -0.0, tiny, -tiny, huge, -huge, 1.0, -1.0, 0.5, -0.5], dtype=np.float32)
    values = np.concatenate(
        [
            rng.choice(special, size=(40, 301)),
            np.round(rng.standard_normal((40, 301)), 1).astype(np.float32),
            rng.standard_normal((40, 301), dtype=np.float32),
        ]
    )
    expected = np.empty(values.shape, dtype=np.int64)
    np.put_along_axis(expected, np.argsort(-values, axis=1, kind="stable"), np.arange(1, 302)[None, :], axis=1)
    np.testing.assert_array_equal(signature_ranks(values), expected)
    for row, ranks in zip(values[:5].tolist(), signature_ranks(values[:5]), strict=True):
        np.testing.assert_array_equal(np.argsort(ranks), loop_order(row))

    values[57, 3] = np.nan  # a build names the signature with a missing score
    matrix = pd.DataFrame(values.T, index=[f"g{i}" for i in range(301)], columns=[f"s{j}" for j in range(120)])
    gctx = write_gctx(tmp_path / "nan.gctx", matrix)
    with pytest.raises(DataError, match=r"\['s57'\] have missing or infinite"):
        build_rank_index(gctx, tmp_path / "nan.rank.h5", chunk_size=50)
    assert not (tmp_path / "nan.rank.h5").exists()


# ---------------------------------------------------------------- the index


def test_index_round_trips_ranks_scores_and_header(generated: Built) -> None:
    gctx, index_path, _ = generated
    data = read_gctx(gctx).data
    with RankIndex(index_path) as index:
        assert index.gene_ids.tolist() == data.index.tolist() and index.sig_ids.tolist() == data.columns.tolist()
        ranks, scores = index.read_rows(np.arange(index.n_genes), 0, index.n_signatures)
        assert ranks.dtype == np.int16 and scores.dtype == np.float64  # a float64 source keeps its precision
        for j, sig in enumerate(data.columns):
            recomputed = np.empty(len(data), dtype=int)
            recomputed[loop_order(data[sig].tolist())] = np.arange(1, len(data) + 1)
            np.testing.assert_array_equal(ranks[:, j], recomputed)
        np.testing.assert_array_equal(scores, data.to_numpy())
        assert index.header["source_sha256"] == file_digest(gctx) and index.header["source_name"] == gctx.name
        assert index.extreme_n == EXTREME_N and index.header["built_at"]
        index.check_source(gctx)
        block_ranks, _ = index.read_rows(np.array([5, 2]), 17, 40)
        np.testing.assert_array_equal(block_ranks, ranks[[5, 2], 17:40])


def test_real_index_stores_float32_and_landmark_restriction(real: Built, tmp_path: Path) -> None:
    gctx, index_path, matrix = real
    with RankIndex(index_path) as index:
        assert index.score_dtype == np.float32
        assert index.header["source_shape"] == [matrix.shape[0], matrix.shape[1]]
    subset = matrix.index[::7].tolist()[::-1]  # any order in, the file's order out
    restricted = build_rank_index(gctx, tmp_path / "subset.rank.h5", genes=subset, extreme_n=20)
    kept = matrix.loc[matrix.index[::7]]
    with RankIndex(restricted) as index:
        assert index.gene_ids.tolist() == kept.index.tolist() and index.header["landmark_restricted"]
        ranks, _ = index.read_rows(np.arange(index.n_genes), 0, index.n_signatures)
        np.testing.assert_array_equal(ranks.T, signature_ranks(kept.to_numpy().T))
        up, down = random_query(kept.index, 30, 30, 3)
        reference = wtcs(kept.to_numpy(dtype=np.float64).T, kept.index.isin(up), kept.index.isin(down))
        np.testing.assert_allclose(score_signatures(index, up, down), reference, rtol=0, atol=TOLERANCE)


def test_an_index_is_replaced_atomically_and_checked_on_open(generated: Built, tmp_path: Path) -> None:
    gctx, _, matrix = generated
    dest = build_rank_index(gctx, tmp_path / "idx.h5")
    with pytest.raises(DataError, match="not rows of the file"):
        build_rank_index(gctx, dest, genes=["g001", "nope"])
    with RankIndex(dest) as index:  # the failed rebuild left the earlier index in place
        assert index.n_signatures == matrix.shape[1]
    assert [p.name for p in tmp_path.iterdir()] == ["idx.h5"]
    with pytest.raises(FormatError, match="l1k-rank-index"):
        RankIndex(gctx)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FormatError, match="HDF5"):
        RankIndex(tmp_path / "text.h5")
    short = tmp_path / "short.h5"  # the matrices are mapped: a cut-off file must fail on open, not fault on a read
    short.write_bytes(dest.read_bytes()[:-64])
    with pytest.raises(FormatError, match="truncated"):
        RankIndex(short)
    with RankIndex(dest) as index:
        ranks = index.ranks
    assert ranks.shape == (matrix.shape[0], matrix.shape[1]) and not ranks.flags.writeable  # a held view outlives close
    with pytest.raises(DataError, match="closed"):
        index.read_rows(np.array([0]), 0, 1)


# ---------------------------------------------------------------- queries: filters, top-N, NCS, p-values


def test_search_top_n_filters_and_ncs(generated: Built) -> None:
    _, index_path, matrix = generated
    info = generated_info(matrix)
    up, down = random_query(matrix.index, 40, 40, 5)
    with RankIndex(index_path) as index:
        raw = score_signatures(index, up, down, "wtcs")
        expected_ncs = normalized_scores(info.assign(wtcs=raw)).to_numpy()
        found = search(index, up, down, "wtcs", sig_info=info, top=10)
        aligned = SignatureTable.align(index, info)  # aligned once, for many queries: the same table
        pd.testing.assert_frame_equal(search(index, up, down, "wtcs", sig_info=aligned, top=10), found)
        order = np.argsort(expected_ncs, kind="stable")[:10]
        assert found.sig_id.tolist() == matrix.columns[order].tolist()
        np.testing.assert_allclose(found.ncs, expected_ncs[order], atol=TOLERANCE)
        np.testing.assert_allclose(found.wtcs, raw[order], atol=TOLERANCE)
        assert found["rank"].tolist() == list(range(1, 11)) and {"pert_iname", "cell_id", "pert_dose"} <= set(found.columns)

        keep = SignatureFilter(cell_ids=["MCF7"], pert_types=["trt_cp"], dose_range=(0.5, 10.0), times=[24.0])
        filtered = search(index, up, down, "wtcs", sig_info=info, filters=keep, top=100, direction="mimic")
        chosen = info.query("cell_id == 'MCF7' and pert_type == 'trt_cp' and 0.5 <= pert_dose <= 10 and pert_time == 24")
        assert sorted(filtered.sig_id) == sorted(chosen.sig_id)
        # NCS still normalises by the whole cell line × perturbagen type group, not the dose/time subset
        by_id = dict(zip(matrix.columns, expected_ncs, strict=True))
        np.testing.assert_allclose(filtered.ncs, [by_id[s] for s in filtered.sig_id], atol=TOLERANCE)
        assert filtered.ncs.is_monotonic_decreasing

        for method in ("rges", "xsum", "xcos"):
            scores = score_signatures(index, up, down, method)
            best = search(index, up, down, method, top=5, direction="mimic")
            assert best.sig_id.tolist() == matrix.columns[np.argsort(-scores, kind="stable")[:5]].tolist()
            assert "ncs" not in best.columns


def test_permutation_p_values_are_seeded_and_find_a_planted_reverser(tmp_path: Path) -> None:
    matrix = generated_matrix(3, n_genes=120, n_sigs=40)
    up, down = random_query(matrix.index, 15, 15, 1)
    matrix.loc[up, "s010"] = -4.0 - np.arange(15) / 10  # s010 reverses the query strongly
    matrix.loc[down, "s010"] = 4.0 + np.arange(15) / 10
    index_path = build_rank_index(write_gctx(tmp_path / "m.gctx", matrix), tmp_path / "m.rank.h5", extreme_n=20)
    with RankIndex(index_path) as index:
        for method in ("wtcs", "rges", "xsum", "xcos"):
            first = search(index, up, down, method, top=5, permutations=199, seed=4)
            again = search(index, up, down, method, top=5, permutations=199, seed=4)
            pd.testing.assert_frame_equal(first, again)
            assert first.sig_id.iloc[0] == "s010" and first.p_value.iloc[0] == pytest.approx(1 / 200)
            assert first.p_value.between(1 / 200, 1).all()
            assert first.p_value.iloc[1:].gt(0.01).any()


# ---------------------------------------------------------------- bad input


def test_bad_queries_raise_typed_errors(generated: Built, real: Built) -> None:
    _, index_path, matrix = generated
    genes = matrix.index.tolist()
    with RankIndex(index_path) as index:
        with pytest.raises(DataError, match=r"2 query genes are not in the rank index.*'TP53'.*'nope'"):
            score_signatures(index, [genes[0], "TP53"], [genes[1], "nope"])
        with pytest.raises(DataError, match="non-empty up and down"):
            search(index, [], [])
        with pytest.raises(DataError, match="non-empty up and down"):
            search(index, genes[:3], [])
        with pytest.raises(DataError, match="in both the up and the down set"):
            search(index, genes[:3], genes[2:5])
        with pytest.raises(ValueError, match="method"):
            search(index, genes[:3], genes[3:6], method="cosine")  # type: ignore[arg-type]
        with pytest.raises(DataError, match="sig_info"):
            search(index, genes[:3], genes[3:6], filters=SignatureFilter(cell_ids=["A375"]))
        with pytest.raises(DataError, match="select none"):
            search(index, genes[:3], genes[3:6], sig_info=generated_info(matrix), filters=SignatureFilter(cell_ids=["HeLa"]))
        real_gctx, _, real_matrix = real
        other_info = pd.DataFrame({"sig_id": real_matrix.columns, "cell_id": "SKB", "pert_type": "trt_cp"})
        with pytest.raises(DataError, match=r"does not describe 90 of the 90 signatures.*another release"):
            search(index, genes[:3], genes[3:6], sig_info=other_info)
        with RankIndex(real[1]) as other_index:
            elsewhere = SignatureTable.align(other_index, other_info)
        with pytest.raises(DataError, match=r"aligned to .* used with"):
            search(index, genes[:3], genes[3:6], sig_info=elsewhere)
        with pytest.raises(DataError, match=r"was built from generated\.gctx"):
            index.check_source(real_gctx)
