"""Seed 002's inference metrics: sample-level (metrics.py), gene-level (gene_metrics.py) and the benchmark row/table.

Expected values are worked out by hand in the comments; the streamed and sampled nulls are
checked against a naive full-matrix computation and against the DKW bound they promise.
"""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from l1k_assets.errors import DataError
from l1k_assets.inference import benchmark
from l1k_assets.inference.gene_metrics import (
    MAD_SCALE,
    dkw_sample_size,
    gene_correlations,
    gene_recall,
    null_correlations,
    null_percentiles,
    ranking_correlation,
    robust_z,
)
from l1k_assets.inference.metrics import overall_metrics, sample_errors, sample_pcc, sample_scc

# ---------------------------------------------------------------- sample-level metrics (metrics.py)


def test_sample_errors_are_root_summed_squares() -> None:
    # row 0: only the last gene is off by 2 -> sqrt(4) = 2; row 1: 3² + 4² = 25 -> 5
    errors = sample_errors(np.array([[1.0, 2, 3], [0, 0, 0]]), np.array([[1.0, 2, 5], [3, 4, 0]]))
    np.testing.assert_allclose(errors, [2.0, 5.0])


def test_sample_pcc_hand_values_and_constant_row() -> None:
    truth = np.array([[1.0, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]])
    pred = np.array([[1.0, 3, 2, 4], [8, 6, 4, 2], [5, 5, 5, 5]])
    # row 0: centred (-1.5,-.5,.5,1.5)·(-1.5,.5,-.5,1.5) = 4 over |a||b| = 5 -> 0.8; row 1 exact reverse -> -1; row 2 constant
    np.testing.assert_allclose(sample_pcc(truth, pred), [0.8, -1.0, np.nan])


def test_sample_scc_uses_average_ranks_for_ties() -> None:
    truth = np.array([[1.0, 2, 2, 3], [1, 2, 3, 4]])
    pred = np.array([[10.0, 20, 30, 40], [1, 8, 27, 64]])
    # row 0: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): centred dot 4.5, norms² 4.5 and 5 -> 4.5/sqrt(22.5) = 3/sqrt(10)
    # row 1: a monotone (cubic) transform keeps ranks -> 1
    np.testing.assert_allclose(sample_scc(truth, pred), [3 / math.sqrt(10), 1.0])


def test_overall_metrics_mean_sd_skip_undefined_correlations() -> None:
    truth = np.tile([1.0, 2, 3], (3, 1))
    pred = np.array([[1.0, 2, 3], [3, 2, 1], [5, 5, 5]])
    # errors 0, sqrt(4 + 0 + 4), sqrt(16 + 9 + 4); correlations 1, -1 and NaN (constant prediction, skipped)
    out = overall_metrics(truth, pred)
    errors = np.array([0.0, math.sqrt(8), math.sqrt(29)])
    assert out["error_mean"] == pytest.approx(errors.mean())
    assert out["error_sd"] == pytest.approx(errors.std(ddof=1))
    for name in ("scc", "pcc"):
        assert out[f"{name}_mean"] == pytest.approx(0.0)
        assert out[f"{name}_sd"] == pytest.approx(math.sqrt(2))  # values ±1: sum of squares 2 over n - 1 = 1


# ---------------------------------------------------------------- per-gene correlation


def test_gene_correlations_hand_values_ties_and_constant_genes() -> None:
    truth = np.array([[1.0, 1, 5, 1], [2, 2, 5, 2], [2, 3, 5, 3], [3, 4, 5, 4]])
    pred = np.array([[10.0, 4, 1, 7], [20, 3, 2, 7], [30, 2, 3, 7], [40, 1, 4, 7]])
    # gene 0: truth ties (1, 2.5, 2.5, 4) -> 3/sqrt(10); gene 1: reversed -> -1
    # gene 2: constant truth, gene 3: constant prediction -> NaN
    np.testing.assert_allclose(gene_correlations(truth, pred), [3 / math.sqrt(10), -1.0, np.nan, np.nan])


def test_gene_correlations_match_scipy_on_random_data() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, size=(9, 25)).astype(float)  # small integer range: many ties
    pred = truth + rng.integers(0, 3, size=truth.shape)
    expected = [spearmanr(truth[:, g], pred[:, g]).statistic for g in range(truth.shape[1])]
    np.testing.assert_allclose(gene_correlations(truth, pred), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("truth", "pred", "message"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "one shape"),
        (np.zeros(5), np.zeros(5), "2-D"),
        (np.zeros((2, 3)), np.zeros((2, 3)), "at least 3 test samples"),
        (np.full((4, 3), np.nan), np.zeros((4, 3)), "truth holds 12 NaN"),
        (np.zeros((4, 3)), np.array([[np.inf, 0, 0]] * 4), "prediction holds 4 NaN or infinite"),
    ],
)
def test_bad_input_is_a_data_error(truth: np.ndarray, pred: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        gene_correlations(truth, pred)


# ---------------------------------------------------------------- the null: exact, streamed, sampled

# Truth genes t0..t2 and predicted genes p0..p2 over 4 samples, chosen so every pair's Spearman is plain:
# t0 = p0 = p1 = (1,2,3,4), t1 = p2 = (4,3,2,1), t2 = (1,3,2,4) which correlates 0.8 with (1,2,3,4).
TINY_TRUTH = np.array([[1.0, 4, 1], [2, 3, 3], [3, 2, 2], [4, 1, 4]])
TINY_PRED = np.array([[1.0, 1, 4], [2, 2, 3], [3, 3, 2], [4, 4, 1]])
# non-matching pairs: (0,1) 1, (0,2) -1, (1,0) -1, (1,2) 1, (2,0) 0.8, (2,1) 0.8
TINY_NULL = [-1.0, -1.0, 0.8, 0.8, 1.0, 1.0]


def test_null_correlations_all_pairs_hand_values() -> None:
    np.testing.assert_allclose(np.sort(null_correlations(TINY_TRUTH, TINY_PRED)), TINY_NULL, atol=1e-6)


def test_exact_percentiles_hand_values() -> None:
    # linear interpolation over 6 sorted values: position 5p/100; 30th -> 1.5 -> (-1 + 0.8)/2 = -0.1; 50th -> 2.5 -> 0.8
    result = null_percentiles(TINY_TRUTH, TINY_PRED, percentiles=[0, 30, 50, 100], method="exact")
    np.testing.assert_allclose(result["thresholds"], [-1.0, -0.1, 0.8, 1.0], atol=1e-6)
    assert result["method"] == "exact"
    assert result["null_population"] == result["n_null_pairs"] == 6


def test_constant_genes_leave_the_null() -> None:
    # add gene 3: constant truth (its pairs are undefined), prediction (1,2,3,4) correlating 1, -1, 0.8 with t0, t1, t2
    truth = np.column_stack([TINY_TRUTH, np.full(4, 7.0)])
    pred = np.column_stack([TINY_PRED, [1.0, 2, 3, 4]])
    values = np.sort(null_correlations(truth, pred))
    np.testing.assert_allclose(values, np.sort([*TINY_NULL, 1.0, -1.0, 0.8]), atol=1e-6)  # 3 rows × 4 cols − 3 matching


def test_sampling_is_uniform_over_non_matching_pairs() -> None:
    # truth genes 0-3 valid, predicted genes 2-3 constant: the 6 valid pairs are (0,1) (1,0) (2,0) (2,1) (3,0) (3,1).
    # Only (0,1) correlates +1 (t0 with p1), so a uniform draw hits +1 with probability 1/6; redrawing just the
    # predicted gene of a matching pair would pick truth gene 0 a quarter of the time and give 1/4.
    truth = np.array([[1.0, 4, 1, 1], [2, 3, 3, 2], [3, 2, 2, 4], [4, 1, 4, 3]])
    pred = np.array([[1.0, 1, 5, 5], [2, 2, 5, 5], [3, 3, 5, 5], [4, 4, 5, 5]])
    values = null_correlations(truth, pred, n_pairs=60_000, seed=1)
    assert np.isclose(values, 1.0).mean() == pytest.approx(1 / 6, abs=0.01)
    assert np.isclose(values, -1.0).mean() == pytest.approx(1 / 6, abs=0.01)  # (1,0)
    assert np.isclose(values, 0.8).mean() == pytest.approx(4 / 6, abs=0.01)  # t2, t3 against p0, p1


def _naive_null(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The reference's definition, pair by pair in float64: every a ≠ b whose correlation is defined."""
    g = truth.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant genes, whose pairs are then NaN and dropped
        values = np.array([spearmanr(truth[:, a], pred[:, b]).statistic for a in range(g) for b in range(g) if a != b])
    return values[np.isfinite(values)]


@pytest.mark.parametrize("block_rows", [1, 7, None])
def test_exact_streaming_equals_full_matrix(block_rows: int | None) -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(size=(15, 60)).round(1)  # rounding makes ties
    pred = truth + rng.normal(scale=0.8, size=truth.shape)
    truth[:, 5] = 2.0  # a constant gene on each side
    pred[:, 9] = -1.0
    naive = _naive_null(truth, pred)
    np.testing.assert_allclose(np.sort(null_correlations(truth, pred)), np.sort(naive), atol=1e-6)
    wanted = [0, 1, 5, 25, 50, 75, 95, 99, 99.9, 100]
    result = null_percentiles(truth, pred, percentiles=wanted, method="exact", block_rows=block_rows)
    np.testing.assert_allclose(result["thresholds"], np.percentile(naive, wanted), atol=1e-6)
    assert result["null_population"] == len(naive) == 59 * 59 - 58


@settings(max_examples=30, deadline=None)
@given(
    n_samples=st.integers(3, 12),
    n_genes=st.integers(2, 30),
    levels=st.integers(2, 6),
    block_rows=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    percentile=st.floats(0, 100),
)
def test_exact_percentile_fuzz(n_samples: int, n_genes: int, levels: int, block_rows: int, seed: int, percentile: float) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, levels, size=(n_samples, n_genes)).astype(float)
    pred = rng.integers(0, levels, size=(n_samples, n_genes)).astype(float)
    naive = _naive_null(truth, pred)
    if naive.size == 0:
        with pytest.raises(DataError, match="null distribution is empty"):
            null_percentiles(truth, pred, method="exact")
        return
    result = null_percentiles(truth, pred, percentiles=[percentile], method="exact", block_rows=block_rows)
    np.testing.assert_allclose(result["thresholds"], [np.percentile(naive, percentile)], atol=1e-6)


def test_dkw_sample_size_meets_its_bound() -> None:
    for epsilon, delta in [(0.01, 0.01), (5e-4, 0.01), (0.05, 0.2)]:
        n = dkw_sample_size(epsilon, delta)
        band = [math.sqrt(math.log(2 / delta) / (2 * m)) + 1 / m for m in (n, n - 1)]
        assert band[0] <= epsilon < band[1]
    # c = sqrt(ln 200 / 2) = 1.627624; s = (−c + sqrt(c² + 0.04)) / 2 = 0.00612091; 1/s² = 26691.2 -> 26692
    assert dkw_sample_size(0.01, 0.01) == 26_692
    with pytest.raises(ValueError, match="epsilon and delta"):
        dkw_sample_size(0.0, 0.1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_sampled_percentiles_lie_within_the_dkw_bound_of_the_exact_ones(seed: int) -> None:
    """The sampled p-percentile must lie between the exact (p − ε) and (p + ε) percentiles.

    The exact side uses numpy's linear interpolation, which can sit up to one (lower) or two
    (upper) population order statistics from the inverse-CDF quantile the DKW bound speaks of:
    hence the extra 1/N and 2/N.
    """
    rng = np.random.default_rng(100 + seed)
    truth = rng.normal(size=(25, 300))
    pred = 0.5 * truth + rng.normal(size=truth.shape)
    epsilon, delta = 0.01, 0.01
    wanted = np.array([50.0, 95.0, 99.9])
    sampled = null_percentiles(truth, pred, percentiles=wanted, method="sample", epsilon=epsilon, delta=delta, seed=seed)
    assert sampled["method"] == "sample"
    assert sampled["n_null_pairs"] == dkw_sample_size(epsilon, delta) < sampled["null_population"] == 300 * 299
    population = sampled["null_population"]
    lower = np.clip(wanted - 100 * (epsilon + 1 / population), 0, 100)
    upper = np.clip(wanted + 100 * (epsilon + 2 / population), 0, 100)
    exact = null_percentiles(truth, pred, percentiles=np.concatenate([lower, upper]), method="exact")["thresholds"]
    low_bound, high_bound = exact[: len(wanted)], exact[len(wanted) :]
    assert np.all(low_bound - 1e-6 <= sampled["thresholds"])
    assert np.all(sampled["thresholds"] <= high_bound + 1e-6)
    assert np.all(high_bound[:2] - low_bound[:2] < 0.05)  # the band is informative, not vacuous


def test_sampling_falls_back_to_exact_when_the_population_is_small() -> None:
    result = null_percentiles(TINY_TRUTH, TINY_PRED, percentiles=[50], method="sample")
    assert result["method"] == "exact"
    assert result["thresholds"][0] == pytest.approx(0.8, abs=1e-6)


def test_exact_mode_never_holds_the_full_matrix() -> None:
    """Peak traced memory of the exact mode at G = 2000 against the dense G × G float64 the reference allocates."""
    rng = np.random.default_rng(11)
    g = 2000
    truth = rng.normal(size=(30, g))
    pred = truth + rng.normal(size=truth.shape)
    dense_bytes = g * g * 8
    tracemalloc.start()
    try:
        null_percentiles(truth, pred, method="exact")
        streamed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        null_correlations(truth, pred)  # holding every pair, 4 bytes each: proves the tracing sees numpy buffers
        all_pairs_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all_pairs_peak > dense_bytes / 2
    assert streamed_peak < dense_bytes / 4


def test_bad_null_arguments() -> None:
    with pytest.raises(ValueError, match="method must be"):
        null_percentiles(TINY_TRUTH, TINY_PRED, method="approximate")
    with pytest.raises(ValueError, match="percentiles must be"):
        null_percentiles(TINY_TRUTH, TINY_PRED, percentiles=[101])
    with pytest.raises(ValueError, match="n_pairs must be positive"):
        null_correlations(TINY_TRUTH, TINY_PRED, n_pairs=0)
    with pytest.raises(DataError, match="null distribution is empty"):
        null_percentiles(TINY_TRUTH[:, :1], TINY_PRED[:, :1])  # one gene: no non-matching pair


# ---------------------------------------------------------------- gene-level recall


def _planted(seed: int = 5, n_samples: int = 50, n_genes: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The first half of the genes predicted well (truth + small noise), the second half pure noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n_samples, n_genes))
    pred = rng.normal(size=truth.shape)
    half = n_genes // 2
    pred[:, :half] = truth[:, :half] + 0.3 * rng.normal(size=(n_samples, half))
    return truth, pred


@pytest.mark.parametrize("method", ["exact", "sample"])
def test_recall_finds_the_well_predicted_half(method: str) -> None:
    truth, pred = _planted()
    ids = [f"g{i}" for i in range(truth.shape[1])]
    recall = gene_recall(truth, pred, method=method, epsilon=0.01, delta=0.01, gene_ids=ids)
    assert recall["method"] == method
    # 50 samples: the null's sd is about 1/7, so its 95th percentile is near 1.645/7 = 0.235
    assert 0.18 < recall["thresholds"][95.0] < 0.30
    assert recall["thresholds"][99.9] > recall["thresholds"][95.0]
    for p, allowed_noise in ((95.0, 15), (99.9, 2)):  # noise genes pass with probability 5 % and 0.1 %
        mask = recall["well_inferred_mask"][p]
        assert mask[:100].all()
        assert mask[100:].sum() <= allowed_noise
        assert recall["n_well_inferred"][p] == mask.sum()
        assert recall["fraction_well_inferred"][p] == pytest.approx(mask.sum() / 200)
        assert recall["well_inferred_genes"][p][:100] == ids[:100]
    assert recall["constant_genes"] == []


def test_recall_reports_constant_genes_and_never_counts_them() -> None:
    truth, pred = _planted(n_genes=40)
    truth[:, 3] = 1.0
    pred[:, 4] = 0.0
    recall = gene_recall(truth, pred, percentiles=[95])
    assert recall["constant_genes"] == [3, 4]
    assert not recall["well_inferred_mask"][95.0][[3, 4]].any()
    assert np.isnan(recall["correlations"][[3, 4]]).all()
    with pytest.raises(DataError, match="3 gene ids for 40"):
        gene_recall(truth, pred, gene_ids=["a", "b", "c"])


# ---------------------------------------------------------------- robust z and the ranking correlation


def test_robust_z_hand_values_and_floor() -> None:
    y = np.column_stack([[1.0, 2, 3, 4, 100], [5.0] * 5, [0, 0, 0, 0.001, 1]])
    z = robust_z(y, mad_floor=0.01)
    # column 0: median 3, |deviations| (2,1,0,1,97) -> MAD 1
    np.testing.assert_allclose(z[:, 0], (np.array([1, 2, 3, 4, 100]) - 3) / MAD_SCALE)
    # column 1: constant, MAD 0 -> floor, every z is 0
    np.testing.assert_array_equal(z[:, 1], 0.0)
    # column 2: median 0, MAD 0 -> divided by 1.4826 · 0.01
    np.testing.assert_allclose(z[:, 2], y[:, 2] / (MAD_SCALE * 0.01))
    with pytest.raises(ValueError, match="mad_floor must be positive"):
        robust_z(y, mad_floor=0)


# Truth (samples × genes): g0 = (0,1,2), g1 = (2,0,1), g2 = (1,2,0); each has median 1 and MAD 1, so the
# robust z (× 1.4826) per sample is s0 (-1,1,0), s1 (0,-1,1), s2 (1,0,-1). Prediction: g0 the same, g1 × 10
# (same z), g2 = (1,0,2) -> z (0,-1,1); prediction z per sample: s0 (-1,1,0), s1 (0,-1,-1), s2 (1,0,1).
RANK_TRUTH = np.array([[0.0, 2, 1], [1, 0, 2], [2, 1, 0]])
RANK_PRED = np.array([[0.0, 20, 1], [1, 0, 0], [2, 10, 2]])


def test_ranking_correlation_hand_values() -> None:
    # s0 identical -> 1; s1 ranks (2,1,3) vs (3,1.5,1.5): centred dot 0 -> 0; s2 (3,2,1) vs (2.5,1,2.5): dot 0 -> 0
    mean, sd = ranking_correlation(RANK_TRUTH, RANK_PRED)
    assert mean == pytest.approx(1 / 3)
    assert sd == pytest.approx(math.sqrt(1 / 3))  # deviations (2/3, -1/3, -1/3): squares 6/9 over n - 1 = 2
    # on genes g0 and g1 only, every sample's z vectors agree exactly
    assert ranking_correlation(RANK_TRUTH, RANK_PRED, np.array([True, True, False])) == pytest.approx((1.0, 0.0))


def test_ranking_correlation_ignores_per_gene_affine_scaling() -> None:
    truth, _ = _planted(n_genes=30)
    pred = truth * np.linspace(1, 5, 30) + np.arange(30)  # positive scale and shift per gene: same robust z
    assert ranking_correlation(truth, pred) == pytest.approx((1.0, 0.0))


def test_ranking_correlation_bad_masks() -> None:
    with pytest.raises(DataError, match="expected \\(3,\\)"):
        ranking_correlation(RANK_TRUTH, RANK_PRED, np.ones(4, dtype=bool))
    with pytest.raises(DataError, match="at least 2 genes"):
        ranking_correlation(RANK_TRUTH, RANK_PRED, np.array([True, False, False]))


# ---------------------------------------------------------------- benchmark row, table and heatmap


def test_evaluate_row_combines_every_metric() -> None:
    truth, pred = _planted()
    landmarks = np.zeros(200, dtype=bool)
    landmarks[150:160] = True  # landmark genes join the ranking set even if not well inferred
    row = benchmark.evaluate("GNN", truth, pred, "108 greedy", landmark_mask=landmarks)
    recall = gene_recall(truth, pred)
    assert row["model"] == "GNN" and row["landmark_set"] == "108 greedy"
    assert (row["n_test"], row["n_genes"]) == (50, 200)
    for key, value in overall_metrics(truth, pred).items():
        assert row[key] == pytest.approx(value)
    assert row["well_inferred_95"] == recall["n_well_inferred"][95.0]
    assert row["well_inferred_99.9"] == recall["n_well_inferred"][99.9]
    ranked = recall["well_inferred_mask"][95.0] | landmarks
    assert row["n_ranking_genes"] == ranked.sum() >= 110
    assert (row["ranking_well_mean"], row["ranking_well_sd"]) == pytest.approx(ranking_correlation(truth, pred, ranked))
    assert (row["ranking_all_mean"], row["ranking_all_sd"]) == pytest.approx(ranking_correlation(truth, pred))
    assert row["ranking_well_mean"] > row["ranking_all_mean"]  # the noise half drags the all-gene ranking down
    with pytest.raises(DataError, match="landmark_mask has shape"):
        benchmark.evaluate("GNN", truth, pred, landmark_mask=np.ones(3, dtype=bool))


def test_evaluate_with_no_well_inferred_gene_reports_nan_ranking() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(size=(20, 30))
    pred = -truth  # every own correlation is -1: nothing beats the null
    row = benchmark.evaluate("reversed", truth, pred, percentiles=[95])
    assert row["well_inferred_95"] == 0
    assert math.isnan(row["ranking_well_mean"])
    assert row["ranking_all_mean"] == pytest.approx(-1.0)


def _row(model: str, landmark_set: str, error: float, scc: float, ranking: float) -> dict:
    return {
        "model": model,
        "landmark_set": landmark_set,
        "n_test": 176,
        "error_mean": error,
        "error_sd": 0.4514,
        "scc_mean": scc,
        "scc_sd": 0.00621,
        "pcc_mean": 0.97494,
        "pcc_sd": 0.0064,
        "well_inferred_95": 11237,
        "well_inferred_99.9": 10650,
        "ranking_well_mean": ranking,
        "ranking_well_sd": 0.0731,
        "ranking_all_mean": 0.7657,
        "ranking_all_sd": 0.0768,
    }


def test_benchmark_table_layout_and_formatting() -> None:
    rows = [
        _row("LR", "L1000", 3.6912, 0.97021, 0.79594),
        _row("LR", "108 random", 4.733, 0.9557, float("nan")),
        _row("GNN", "L1000", 2.809, 0.9836, 0.8673),
    ]
    table = benchmark.benchmark_table(rows)
    assert table[["Model", "Landmark set"]].values.tolist() == [["LR", "L1000"], ["GNN", "L1000"], ["LR", "108 random"]]
    assert table.loc[0, "Overall error"] == "3.691 ± 0.451"
    assert table.loc[0, "Overall SCC"] == "0.9702 ± 0.0062"
    assert table.loc[0, "Overall PCC"] == "0.9749 ± 0.0064"
    assert table.loc[0, "Well-inferred genes (> 95th null percentile)"] == 11237
    assert table.loc[0, "Well-inferred genes (> 99.9th null percentile)"] == 10650
    assert table.loc[0, "Gene ranking correlation (well-inferred genes)"] == "0.7959 ± 0.0731"
    assert table.loc[2, "Gene ranking correlation (well-inferred genes)"] == "N/D"
    assert table.loc[1, "error_mean"] == 2.809  # raw numbers kept beside the text
    assert "model" not in table.columns
    with pytest.raises(DataError, match="at least one"):
        benchmark.benchmark_table([])


def test_heatmap_shows_the_same_genes_and_samples_on_one_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(40, 100)) * np.linspace(0.1, 2, 100)  # later genes vary more
    pred = truth + 0.1 * rng.normal(size=truth.shape)
    png = benchmark.truth_vs_prediction_heatmap(truth, pred, n_samples=12, n_genes=20, model="GNN")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    captured = {}

    def capture(panels: dict, title: str, xlabel: str, ylabel: str) -> bytes:
        captured.update(panels)
        return b""

    monkeypatch.setattr(benchmark.plots, "shared_scale_heatmaps", capture)
    benchmark.truth_vs_prediction_heatmap(truth, pred, n_samples=12, n_genes=20, model="GNN")
    measured, inferred = captured["measured"], captured["GNN"]
    assert measured.shape == inferred.shape == (20, 12)  # genes × samples
    np.testing.assert_allclose(inferred, measured, atol=0.5)  # same cells in the same order
    # each shown row is one gene's measured values (random floats: found in exactly one column): the 20 most variable
    shown = [np.flatnonzero(np.isin(truth, row).any(axis=0)) for row in measured]
    assert all(len(found) == 1 for found in shown)
    assert {int(found[0]) for found in shown} == set(np.argsort(truth.var(axis=0))[-20:].tolist())
    with pytest.raises(DataError, match="one shape"):
        benchmark.truth_vs_prediction_heatmap(truth, pred[:, :5])
