"""Choosing a small set of landmarks that still predicts the transcriptome (seeds 001 and 002).

Seed 002 shrinks the 970 landmarks to 108 at random, by LASSO and by greedy forward selection
(greedy wins); seed 001 ranks genes by the first-layer weights of a group-lasso DNN. Each
selector here picks ``m`` of the candidate columns of ``x`` (all columns by default) to
predict the targets ``y`` and returns a ``Selection``: the chosen column positions, best or
first chosen first, a score per position (what ranked it, see each selector) and the time it
took. Inputs are standardised with training statistics inside every selector, so no landmark
wins by its scale; targets are only centred, because the inference error sums squared errors
over genes on their own scale. All selectors are deterministic (the random one given its seed).
The lasso path, the greedy steps and the DNN's epochs report to an optional ``Progress``; only
the DNN stops on its budget (a path or a forward selection cut short would choose fewer than m).
The module imports torch (through the DNN): import it inside asset bodies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l1k_assets.errors import DataError
from l1k_assets.estimators import check_training_data
from l1k_assets.inference.dnn import DNNInference
from l1k_assets.progress import Progress

SELECTORS = ("lasso", "greedy", "group_lasso", "random")  # the selection partitions, by name


@dataclass
class Selection:
    """The chosen candidates (positions into x's columns, in rank order) and how they were chosen."""

    method: str
    positions: list[int]
    scores: list[float]  # one per position; NaN when the method has no score (random)
    seconds: float
    details: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # per-epoch curves of a trained selector


def _candidate_positions(n_columns: int, candidates: Sequence[int] | None, m: int) -> np.ndarray:
    """The candidate column positions, checked, and ``m`` checked against their number."""
    positions = np.arange(n_columns) if candidates is None else np.asarray(candidates, dtype=np.intp)
    if positions.ndim != 1 or len(np.unique(positions)) != len(positions):
        raise DataError("candidates must be a list of distinct column positions")
    if len(positions) and (positions.min() < 0 or positions.max() >= n_columns):
        raise DataError(f"candidate positions must lie in [0, {n_columns}), got {positions.min()}..{positions.max()}")
    if not 1 <= m <= len(positions):
        raise DataError(f"cannot choose m = {m} landmarks from {len(positions)} candidates: need 1 ≤ m ≤ {len(positions)}")
    return positions


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Centre and scale columns by the training mean and sd (constant columns are only centred)."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mean) / sd for a in (train, *others)]


def select_random(n_candidates: int, m: int, seed: int = 0) -> Selection:
    """``m`` of ``n_candidates`` positions drawn uniformly without replacement: the control selector."""
    started = time.perf_counter()
    _candidate_positions(n_candidates, None, m)
    positions = np.random.default_rng(seed).choice(n_candidates, m, replace=False)
    return Selection("random", positions.tolist(), [float("nan")] * m, time.perf_counter() - started, {"seed": seed})


# ---------------------------------------------------------------------------------------------
# Multi-task LASSO


WORKING_SET_GROWTH = 20  # most violating rows admitted to the working set per pass


def _group_soft_threshold(v: np.ndarray, threshold: float) -> np.ndarray:
    """Proximal map of threshold·Σ_j ||V_j||₂: each row shrunk towards 0 by ``threshold`` in norm, or set to 0."""
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.where(norms > threshold, (1 - threshold / np.where(norms > 0, norms, 1)) * v, 0.0)


def _fista(gram: np.ndarray, cross: np.ndarray, w: np.ndarray, alpha: float, tol: float, max_iter: int) -> np.ndarray:
    """Accelerated proximal gradient (FISTA with adaptive restart) for the problem of ``_multitask_lasso``.

    Vectorised over all rows and targets; the restart (momentum reset when it points uphill)
    keeps it fast on the strongly correlated inputs landmarks are. Stops when no entry moves by
    more than ``tol`` relative to the largest coefficient.
    """
    step = 1.0 / max(float(np.linalg.eigvalsh(gram)[-1]), 1e-300)
    z, momentum = w.copy(), 1.0
    for _ in range(max_iter):
        new = _group_soft_threshold(z - step * (gram @ z - cross), step * alpha)
        if ((new - w) * (z - new)).sum() > 0:
            momentum = 1.0
        next_momentum = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        z = new + (momentum - 1) / next_momentum * (new - w)
        moved = float(np.abs(new - w).max())
        w, momentum = new, next_momentum
        if moved <= tol * max(float(np.abs(w).max()), 1e-300):
            break
    return w


def _multitask_lasso(gram: np.ndarray, cross: np.ndarray, w: np.ndarray, alpha: float, tol: float, max_iter: int) -> np.ndarray:
    """Solve min_W ½ tr(WᵀGW) − tr(WᵀC) + alpha Σ_j ||W_j||₂, warm-started from ``w``.

    This is the multi-task LASSO (1/2n)||Y − XW||² + alpha Σ_j ||W_j|| written with G = XᵀX/n and
    C = XᵀY/n. A zero row j is optimal iff ||C_j − G_j W|| ≤ alpha; the solver works on the active
    rows plus the worst few violators, solves that small problem, and re-checks every row until
    none violates the condition, so the cost follows the active set, not the candidate count.
    """
    rows = np.flatnonzero(np.abs(w).sum(axis=1) > 0)
    solved = False  # the warm start's rows must be re-solved at this alpha at least once
    for _ in range(max_iter):
        gradient_norm = np.linalg.norm(cross - gram[:, rows] @ w[rows], axis=1)
        violating = (gradient_norm > alpha * (1 + tol)) & (np.diag(gram) > 0)
        violating[rows] = False
        if solved and not violating.any():
            break
        worst = np.flatnonzero(violating)
        working = np.union1d(rows, worst[np.argsort(-gradient_norm[worst], kind="stable")[:WORKING_SET_GROWTH]])
        if working.size == 0:  # nothing active and nothing violating: W = 0 is optimal
            break
        solution = _fista(gram[np.ix_(working, working)], cross[working], w[working], alpha, tol, max_iter)
        w = np.zeros_like(w)
        w[working] = solution
        rows, solved = working[np.abs(solution).sum(axis=1) > 0], True
    return w


def select_lasso(
    x: Any,
    y: Any,
    m: int,
    candidates: Sequence[int] | None = None,
    *,
    n_alphas: int = 100,
    alpha_min_ratio: float = 1e-4,
    tol: float = 1e-6,
    max_iter: int = 1000,
    progress: Progress | None = None,
) -> Selection:
    """Walk the multi-task LASSO path down from the empty model until at least ``m`` candidates are active.

    The penalty alpha runs over ``n_alphas`` geometric steps from the smallest alpha giving the
    empty model down to ``alpha_min_ratio`` of it, each step warm-started from the last. At the
    first alpha with ≥ m non-zero coefficient rows the m rows with the largest L2 norms win;
    ``scores`` are those norms (in target units per input sd). When there are more targets than
    candidates the targets are first rotated into the candidates' span (an exact reduction:
    row norms and the solution's fit are unchanged).
    """
    started = time.perf_counter()
    x, y, _, _ = check_training_data(x, y, need_validation=False)
    positions = _candidate_positions(x.shape[1], candidates, m)
    (inputs,) = _standardise(x[:, positions])
    targets = y - y.mean(axis=0)
    gram = inputs.T @ inputs / len(inputs)
    cross = inputs.T @ targets / len(inputs)
    if cross.shape[1] > cross.shape[0]:
        cross = np.linalg.qr(cross.T, mode="r").T  # C = Rᵀ Zᵀ with Z orthonormal: solve on Rᵀ instead
    alpha_max = float(np.linalg.norm(cross, axis=1).max())
    if alpha_max == 0:
        raise DataError("no candidate is correlated with the targets (constant inputs or targets): nothing to select")
    w = np.zeros_like(cross)
    for step, alpha in enumerate(np.geomspace(alpha_max, alpha_max * alpha_min_ratio, n_alphas)[1:], start=1):
        w = _multitask_lasso(gram, cross, w, float(alpha), tol, max_iter)
        norms = np.linalg.norm(w, axis=1)
        if progress is not None:
            progress.update(min(int((norms > 0).sum()), m), alpha_step=step, alpha=float(alpha))
        if (norms > 0).sum() >= m:
            order = np.argsort(-norms, kind="stable")[:m]
            details = {"alpha": float(alpha), "alpha_max": alpha_max, "n_active": int((norms > 0).sum())}
            return Selection("lasso", positions[order].tolist(), norms[order].tolist(), time.perf_counter() - started, details)
    raise DataError(
        f"only {(np.linalg.norm(w, axis=1) > 0).sum()} candidates entered the LASSO path by alpha = "
        f"{alpha_max * alpha_min_ratio:.3g}; lower alpha_min_ratio or m"
    )


# ---------------------------------------------------------------------------------------------
# Greedy forward selection with an incrementally updated ridge surrogate


def select_greedy(
    x: Any,
    y: Any,
    x_val: Any,
    y_val: Any,
    m: int,
    candidates: Sequence[int] | None = None,
    *,
    ridge: float = 1e-3,
    progress: Progress | None = None,
) -> Selection:
    """Forward selection: each step adds the candidate whose ridge refit most lowers the validation error.

    The surrogate is a ridge regression of all targets on the chosen inputs (penalty
    λ = ridge · n_train on standardised inputs, i.e. ``ridge`` relative to their unit variance;
    intercept unpenalised), scored by the summed squared validation error over samples and
    genes. Ridge is least squares on the inputs augmented with √λ·I, so adding a candidate adds
    the part of its augmented column orthogonal to the chosen ones (Gram–Schmidt). Keeping every
    candidate's orthogonalised training and validation columns, and their products with the
    targets and the current validation residual, lets one vectorised pass score all remaining
    candidates exactly as a full refit would, at O(candidates × (samples + genes)) per step.
    ``scores`` are the validation squared-error sums after each addition.
    """
    started = time.perf_counter()
    x, y, x_val, y_val = check_training_data(x, y, x_val, y_val, need_validation=True)
    assert x_val is not None and y_val is not None
    positions = _candidate_positions(x.shape[1], candidates, m)
    u, v = _standardise(x[:, positions], x_val[:, positions])  # orthogonalised training / validation columns
    y_mean = y.mean(axis=0)
    residual_val = y_val - y_mean  # the validation error of the intercept-only model
    lam = ridge * len(x)
    n_candidates = len(positions)
    b = np.zeros((n_candidates, m))  # each candidate's projection coefficients on the chosen columns
    p_mat = u.T @ (y - y_mean)  # u_cᵀ Y
    q_mat = v.T @ residual_val  # v_cᵀ E_val
    sse = initial_sse = float((residual_val**2).sum())
    chosen: list[int] = []
    scores: list[float] = []
    for step in range(m):
        d = (u**2).sum(axis=0) + lam * (1 + (b[:, :step] ** 2).sum(axis=1))  # squared norm of each augmented column
        new_sse = sse - 2 * (p_mat * q_mat).sum(axis=1) / d + (v**2).sum(axis=0) * (p_mat**2).sum(axis=1) / d**2
        new_sse[chosen] = np.inf
        s = int(np.argmin(new_sse))
        beta = p_mat[s] / d[s]  # the new column's coefficients for every target
        u_s, v_s, b_s = u[:, s].copy(), v[:, s].copy(), b[s, :step].copy()
        gamma = (u.T @ u_s + lam * (b[:, :step] @ b_s)) / d[s]  # projections of the other columns on the new one
        q_mat += -np.outer(gamma, q_mat[s]) - np.outer(v.T @ v_s, beta) + (v_s @ v_s) * np.outer(gamma, beta)
        p_mat -= np.outer(gamma, p_mat[s])
        u -= np.outer(u_s, gamma)
        v -= np.outer(v_s, gamma)
        b[:, :step] -= np.outer(gamma, b_s)
        b[:, step] = gamma
        sse = float(new_sse[s])
        chosen.append(s)
        scores.append(sse)
        if progress is not None:
            progress.update(step + 1, val_sse=sse)
    details = {"ridge": ridge, "initial_sse": initial_sse}
    return Selection("greedy", positions[chosen].tolist(), scores, time.perf_counter() - started, details)


# ---------------------------------------------------------------------------------------------
# Group-lasso DNN (seed 001)


RANKINGS = ("norm", "max_min")


def rank_first_layer(weights: np.ndarray, m: int, ranking: str = "norm") -> tuple[np.ndarray, np.ndarray]:
    """Input columns chosen from a first layer's weights (hidden × inputs), in rank order, with their scores.

    ``norm``: the m columns with the largest L2 norm (what the group lasso shrinks; score the norm).
    ``max_min``: seed 001's rule (§2.2.2, "the top five hundred and bottom five hundred genes"):
    the m columns with the largest maximum weight and the m with the smallest minimum, united, so
    fewer than 2m where they overlap (910 of 1,000 in the paper). Ranked by their better place in
    the two lists; the score is the extreme weight that chose them.
    """
    if ranking == "norm":
        norms = np.linalg.norm(weights, axis=0)
        order = np.argsort(-norms, kind="stable")[:m]
        return order, norms[order]
    if ranking == "max_min":
        highest, lowest = weights.max(axis=0), weights.min(axis=0)
        by_max = np.argsort(-highest, kind="stable")[:m]
        by_min = np.argsort(lowest, kind="stable")[:m]
        place = np.full(weights.shape[1], np.iinfo(np.int64).max)
        score = np.zeros(weights.shape[1])
        for order, extreme in ((by_min, lowest), (by_max, highest)):
            better = np.arange(len(order)) <= place[order]
            place[order[better]] = np.arange(len(order))[better]
            score[order[better]] = extreme[order[better]]
        chosen = np.union1d(by_max, by_min)
        chosen = chosen[np.argsort(place[chosen], kind="stable")]
        return chosen, score[chosen]
    raise DataError(f"unknown first-layer ranking {ranking!r}; expected one of {', '.join(RANKINGS)}")


def select_group_lasso(
    x: Any,
    y: Any,
    x_val: Any,
    y_val: Any,
    m: int,
    penalty: float,
    candidates: Sequence[int] | None = None,
    progress: Progress | None = None,
    ranking: str = "norm",
    **model_params: Any,
) -> Selection:
    """Train seed 001's DNN with a group-lasso first layer and keep inputs by their first-layer weights.

    ``ranking`` is ``rank_first_layer``'s rule: the m largest column norms, or seed 001's union of
    the m largest maxima and m smallest minima. ``model_params`` go to ``DNNInference`` (hidden,
    dropout, weighted, lr, max_epochs, seed, ...); ``penalty`` is its ``group_lasso``. Epochs
    report to ``progress`` and stop when its budget is spent (``details`` says so).
    """
    started = time.perf_counter()
    x, y, x_val, y_val = check_training_data(x, y, x_val, y_val, need_validation=True)
    assert x_val is not None and y_val is not None
    positions = _candidate_positions(x.shape[1], candidates, m)
    inputs, inputs_val = _standardise(x[:, positions], x_val[:, positions])
    model = DNNInference(group_lasso=penalty, **model_params).fit(inputs, y, inputs_val, y_val, progress=progress)
    order, scores = rank_first_layer(model.first_layer_weights_(), m, ranking)
    best = model.history_[model.best_epoch_]
    details = {"penalty": penalty, "stopped_by_budget": float(model.stopped_by_budget_)}
    details |= {f"best_{name}": float(value) for name, value in best.items() if name.startswith("val_")}
    seconds = time.perf_counter() - started
    return Selection("group_lasso", positions[order].tolist(), scores.tolist(), seconds, details, model.history_)
