"""Landmark selection: greedy forward (ridge surrogate), multi-task LASSO, group-lasso DNN, random."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import MultiTaskLasso

from l1k_assets.errors import DataError
from l1k_assets.inference.baselines import LinearRegressionInference
from l1k_assets.inference.selection import _standardise, select_greedy, select_group_lasso, select_lasso, select_random

TRUE = [2, 7, 11, 19, 23, 28]  # the candidates the planted targets depend on


def planted(n: int, rng: np.random.Generator, loadings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """30 correlated candidates (one shared factor) and 40 targets driven by the TRUE candidates."""
    x = rng.normal(size=(n, 30)) + 0.5 * rng.normal(size=(n, 1))
    y = x[:, TRUE] @ loadings + 0.3 * np.tanh(x[:, TRUE[:2]]).sum(axis=1, keepdims=True) + 0.3 * rng.normal(size=(n, 40))
    return x, y + 5.0


@pytest.fixture(scope="module")
def planted_split() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    loadings = rng.normal(size=(len(TRUE), 40))
    return (*planted(300, rng, loadings), *planted(150, rng, loadings))


def brute_force_greedy(x, y, x_val, y_val, m, ridge):
    """Forward selection refitting ridge from scratch for every candidate at every step."""
    xs, xs_val = _standardise(x, x_val)
    y_mean, lam = y.mean(axis=0), ridge * len(x)
    chosen, scores = [], []
    for _ in range(m):
        trials = {}
        for c in set(range(x.shape[1])) - set(chosen):
            cols = [*chosen, c]
            a = xs[:, cols]
            w = np.linalg.solve(a.T @ a + lam * np.eye(len(cols)), a.T @ (y - y_mean))
            trials[c] = float(((y_val - y_mean - xs_val[:, cols] @ w) ** 2).sum())
        best = min(trials, key=trials.get)
        chosen.append(best)
        scores.append(trials[best])
    return chosen, scores


def validation_sse(x, y, x_val, y_val, positions) -> float:
    model = LinearRegressionInference().fit(x[:, positions], y)
    return float(((y_val - model.predict(x_val[:, positions])) ** 2).sum())


def test_greedy_recovers_the_planted_subset_and_beats_random(planted_split) -> None:
    x, y, x_val, y_val = planted_split
    greedy = select_greedy(x, y, x_val, y_val, 6)
    assert greedy.method == "greedy" and len(greedy.positions) == 6 and greedy.seconds > 0
    assert len(set(greedy.positions) & set(TRUE)) >= 5
    assert all(a > b for a, b in zip([greedy.details["initial_sse"], *greedy.scores], greedy.scores, strict=False))
    greedy_sse = validation_sse(x, y, x_val, y_val, greedy.positions)
    for seed in range(5):
        assert greedy_sse < validation_sse(x, y, x_val, y_val, select_random(30, 6, seed).positions)


@pytest.mark.parametrize("ridge", [1e-3, 1.0])
def test_greedy_incremental_surrogate_equals_brute_force_refits(planted_split, ridge: float) -> None:
    x, y, x_val, y_val = planted_split
    fast = select_greedy(x, y, x_val, y_val, 10, ridge=ridge)
    chosen, scores = brute_force_greedy(x, y, x_val, y_val, 10, ridge)
    assert fast.positions == chosen
    np.testing.assert_allclose(fast.scores, scores, rtol=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(8, 40),
    p=st.integers(2, 12),
    t=st.integers(1, 6),
    ridge=st.sampled_from([1e-3, 0.1, 2.0]),
)
def test_greedy_equals_brute_force_on_random_shapes(seed: int, n: int, p: int, t: int, ridge: float) -> None:
    rng = np.random.default_rng(seed)
    x, y, x_val, y_val = rng.normal(size=(n, p)), rng.normal(size=(n, t)), rng.normal(size=(7, p)), rng.normal(size=(7, t))
    m = min(p, 5)
    fast = select_greedy(x, y, x_val, y_val, m, ridge=ridge)
    chosen, scores = brute_force_greedy(x, y, x_val, y_val, m, ridge)
    assert fast.positions == chosen
    np.testing.assert_allclose(fast.scores, scores, rtol=1e-7)


def test_greedy_positions_refer_to_x_columns_when_candidates_are_given(planted_split) -> None:
    x, y, x_val, y_val = planted_split
    candidates = [28, 0, 7, 1, 3, 19]
    chosen = select_greedy(x, y, x_val, y_val, 3, candidates=candidates)
    assert set(chosen.positions) == {28, 7, 19}


def test_lasso_recovers_the_planted_subset(planted_split) -> None:
    x, y, _, _ = planted_split
    selection = select_lasso(x, y, 6)
    assert selection.method == "lasso" and len(selection.positions) == 6
    assert len(set(selection.positions) & set(TRUE)) >= 5
    assert selection.scores == sorted(selection.scores, reverse=True) and selection.scores[-1] > 0
    assert selection.details["n_active"] >= 6 and selection.details["alpha"] < selection.details["alpha_max"]


@pytest.mark.parametrize("n_targets", [3, 25])  # fewer and more targets than candidates (the rotated case)
def test_lasso_solution_equals_sklearn_at_the_chosen_alpha(n_targets: int) -> None:
    rng = np.random.default_rng(n_targets)
    x = rng.normal(size=(80, 12)) + rng.normal(size=(80, 1))
    y = x[:, [1, 4, 9]] @ rng.normal(size=(3, n_targets)) + rng.normal(size=(80, n_targets))
    selection = select_lasso(x, y, 3, tol=1e-10, max_iter=100_000)
    (standardised,) = _standardise(x)
    reference = MultiTaskLasso(alpha=selection.details["alpha"], fit_intercept=False, tol=1e-12, max_iter=100_000)
    norms = np.linalg.norm(reference.fit(standardised, y - y.mean(axis=0)).coef_, axis=0)
    assert (norms > 1e-8).sum() == selection.details["n_active"]
    np.testing.assert_allclose(selection.scores, np.sort(norms)[::-1][:3], rtol=1e-5)
    assert selection.positions == np.argsort(-norms, kind="stable")[:3].tolist()


def test_group_lasso_dnn_ranks_the_planted_inputs_first(planted_split) -> None:
    x, y, x_val, y_val = planted_split
    floor = np.minimum(y.min(axis=0), y_val.min(axis=0))  # targets from 0 up, for the (target + 1) weights
    selection = select_group_lasso(x, y - floor, x_val, y_val - floor, 6, 0.3, hidden=(32,), max_epochs=60)
    assert selection.method == "group_lasso" and len(selection.positions) == 6
    assert len(set(selection.positions) & set(TRUE)) >= 5
    assert selection.scores == sorted(selection.scores, reverse=True)


def test_random_selection_is_seeded_and_distinct() -> None:
    first, again, other = select_random(50, 10, 3), select_random(50, 10, 3), select_random(50, 10, 4)
    assert first.positions == again.positions != other.positions
    assert len(set(first.positions)) == 10 and all(0 <= p < 50 for p in first.positions)
    assert len(first.scores) == 10


def test_selection_errors(planted_split) -> None:
    x, y, x_val, y_val = planted_split
    for m in (0, 31):
        with pytest.raises(DataError, match="1 ≤ m ≤ 30"):
            select_greedy(x, y, x_val, y_val, m)
        with pytest.raises(DataError, match="1 ≤ m ≤ 30"):
            select_lasso(x, y, m)
    with pytest.raises(DataError, match="1 ≤ m ≤ 5"):
        select_random(5, 6, 0)
    with pytest.raises(DataError, match="distinct"):
        select_lasso(x, y, 2, candidates=[1, 1, 2])
    with pytest.raises(DataError, match=r"\[0, 30\)"):
        select_lasso(x, y, 2, candidates=[1, 30])
    with pytest.raises(DataError, match="validation data"):
        select_greedy(x, y, None, None, 3)
    with pytest.raises(DataError, match="nothing to select"):
        select_lasso(x, np.ones_like(y), 3)


def test_reduced_sizes_are_the_papers_486_324_108_of_970() -> None:
    from l1k_assets.inference.training import reduced_size

    assert [reduced_size(970, d) for d in (2, 3, 9)] == [486, 324, 108]
    with pytest.raises(DataError, match="at least 2"):
        reduced_size(970, 1)
    with pytest.raises(DataError, match="too few landmarks"):
        reduced_size(2, 2)


def test_reduced_landmark_table_refuses_a_kind_it_does_not_know() -> None:
    import pandas as pd

    from l1k_assets.inference.training import ReductionSettings, reduced_landmark_table

    with pytest.raises(DataError, match="unknown model kinds \\['swinir'\\]"):
        reduced_landmark_table(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ReductionSettings(kinds=["swinir"]), None, None)
