"""Inference baselines (LR, KNN, MLP), seed 001's DNN and the shared learning-rate grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor

from l1k_assets.errors import DataError
from l1k_assets.inference.baselines import (
    KNNInference,
    LinearRegressionInference,
    MLPInference,
    fit_with_lr_grid,
    inverse_distance_weights,
)
from l1k_assets.inference.dnn import DNNInference, group_lasso_penalty, weighted_mse
from l1k_assets.inference.metrics import sample_errors
from l1k_assets.inference.models import StandardizedModel
from tests.conftest import FakeClock


def nonlinear_set(n: int, seed: int, n_inputs: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and 12 targets: products, saturations, absolute values and linear terms, with distinct gene means."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_inputs))
    parts = [
        x[:, 0] * x[:, 1],
        np.tanh(2 * x[:, 2]),
        np.abs(x[:, 3]),
        x[:, 4] + x[:, 5],
        x[:, 0] ** 2,
        x[:, 1] - x[:, 2],
        np.maximum(x[:, 3], 0),
        x[:, 4] * x[:, 0],
        np.tanh(x[:, 5] + x[:, 1]),
        x[:, 2] * x[:, 3],
        np.abs(x[:, 0] - x[:, 4]),
        x[:, 5],
    ]
    y = np.column_stack(parts) + np.arange(12) * 0.5 + rng.normal(0, 0.05, (n, 12))
    return x, y


# ------------------------------------------------------------------------------------------ LR


@pytest.mark.parametrize(("n", "p"), [(80, 5), (12, 30)])
def test_linear_regression_equals_sklearn(n: int, p: int) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, 4)) + 3
    x_new = rng.normal(size=(7, p))
    ours = LinearRegressionInference().fit(x, y)
    reference = LinearRegression().fit(x, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_.T, atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-8)
    np.testing.assert_allclose(ours.predict(x_new), reference.predict(x_new), atol=1e-8)


def test_linear_regression_recovers_an_exact_linear_map() -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [4.0, 1.0]])
    y = np.column_stack([1 + 2 * x[:, 0] - x[:, 1], 5 - 3 * x[:, 1]])  # hand-made coefficients
    model = LinearRegressionInference().fit(x, y)
    np.testing.assert_allclose(model.coef_, [[2.0, 0.0], [-1.0, -3.0]], atol=1e-12)
    np.testing.assert_allclose(model.intercept_, [1.0, 5.0], atol=1e-12)


# ----------------------------------------------------------------------------------------- KNN

X_TINY = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
Y_TINY = np.array([[0.0, 10.0], [1.0, 20.0], [3.0, 40.0], [6.0, 70.0]])


def test_knn_is_the_inverse_manhattan_weighted_mean_by_hand() -> None:
    model = KNNInference(k_grid=(3,)).fit(X_TINY, Y_TINY)
    # query (1, 1): Manhattan distances 2, 1, 2, 4 → neighbours 1, 0, 2 (tie kept in training order)
    # weights 1/1, 1/2, 1/2 → normalised 0.5, 0.25, 0.25
    expected = 0.5 * Y_TINY[1] + 0.25 * Y_TINY[0] + 0.25 * Y_TINY[2]
    np.testing.assert_allclose(model.predict([[1.0, 1.0]]), [expected])
    assert model.k_ == 3 and model.grid_scores_ == {}


def test_knn_exact_match_returns_the_matching_profile_and_averages_duplicates() -> None:
    model = KNNInference(k_grid=(3,)).fit(X_TINY, Y_TINY)
    np.testing.assert_allclose(model.predict([[0.0, 2.0]]), [Y_TINY[2]])  # distance 0: that sample alone
    duplicated = KNNInference(k_grid=(3,)).fit(np.vstack([X_TINY, X_TINY[:1]]), np.vstack([Y_TINY, [[2.0, 30.0]]]))
    np.testing.assert_allclose(duplicated.predict([[0.0, 0.0]]), [[1.0, 20.0]])  # mean of the two exact matches
    np.testing.assert_allclose(
        inverse_distance_weights(np.array([[0.0, 0.0, 3.0], [1.0, 4.0, 4.0]])), [[0.5, 0.5, 0], [2 / 3, 1 / 6, 1 / 6]]
    )


def test_knn_equals_sklearn_with_bounded_blocks() -> None:
    rng = np.random.default_rng(3)
    x, y, queries = rng.normal(size=(60, 4)), rng.normal(size=(60, 5)), rng.normal(size=(25, 4))
    model = KNNInference(k_grid=(5,), block_elements=100).fit(x, y)  # one query row per distance block
    reference = KNeighborsRegressor(n_neighbors=5, weights="distance", metric="manhattan", algorithm="brute").fit(x, y)
    np.testing.assert_allclose(model.predict(queries), reference.predict(queries), atol=1e-12)


def test_knn_chooses_k_on_validation() -> None:
    rng = np.random.default_rng(4)
    x, x_val = rng.normal(size=(300, 3)), rng.normal(size=(80, 3))
    signal = np.array([[1.0, -1.0], [0.5, 0.5], [0.0, 1.0]])
    y = x @ signal + rng.normal(0, 3.0, (300, 2))  # very noisy targets: averaging more neighbours wins
    y_val = x_val @ signal + rng.normal(0, 3.0, (80, 2))
    model = KNNInference(k_grid=(1, 25), criterion="error").fit(x, y, x_val, y_val)
    assert model.k_ == 25
    for k, scores in model.grid_scores_.items():
        alone = KNNInference(k_grid=(k,)).fit(x, y)
        assert scores["error"] == pytest.approx(float(np.mean(sample_errors(y_val, alone.predict(x_val)))))
    assert model.grid_scores_[25]["error"] < model.grid_scores_[1]["error"]


def test_knn_scc_criterion_takes_the_best_scoring_k() -> None:
    x, y = nonlinear_set(200, 5)
    x_val, y_val = nonlinear_set(60, 6)
    model = KNNInference().fit(x, y, x_val, y_val)
    assert set(model.grid_scores_) == {3, 5, 7, 9}
    assert model.k_ == max(model.grid_scores_, key=lambda k: model.grid_scores_[k]["scc"])


def test_knn_input_errors() -> None:
    with pytest.raises(DataError, match="validation_fraction must be between 0 and 1"):
        KNNInference(validation_fraction=0.0).fit(np.tile(X_TINY, (3, 1)), np.tile(Y_TINY, (3, 1)))
    with pytest.raises(DataError, match="too few"):
        KNNInference(k_grid=(5,)).fit(X_TINY, Y_TINY)
    with pytest.raises(DataError, match="positive"):
        KNNInference(k_grid=(0, 3)).fit(X_TINY, Y_TINY, X_TINY, Y_TINY)
    with pytest.raises(DataError, match="criterion"):
        KNNInference(k_grid=(3,), criterion="mae").fit(X_TINY, Y_TINY)
    with pytest.raises(DataError, match="input columns"):
        KNNInference(k_grid=(3,)).fit(X_TINY, Y_TINY).predict([[1.0, 2.0, 3.0]])


# ------------------------------------------------------------------------- learning-rate grid


class _Recorder:
    """A stand-in estimator whose validation predictions are off by |lr − 0.01|: the grid must pick 0.01."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def fit(
        self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *, progress=None, score_scale=None
    ) -> _Recorder:
        self.target_ = y_val
        self.budget_ = None if progress is None else progress.budget_seconds
        if progress is not None:
            progress.clock.now += 10.0  # this rate took 10 s of the fake clock
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(0).normal(size=self.target_.shape)
        return self.target_ + abs(self.lr - 0.01) * 1000 * noise


def test_fit_with_lr_grid_keeps_the_best_validation_scc() -> None:
    y_val = np.random.default_rng(1).normal(size=(20, 30))
    best, scores = fit_with_lr_grid(_Recorder, y_val, y_val, y_val, y_val, [0.1, 0.01, 0.001])
    assert best.lr == 0.01
    assert list(scores) == [0.1, 0.01, 0.001]
    assert scores[0.01] == pytest.approx(1.0) and scores[0.1] < scores[0.001] < 1.0
    tied, _ = fit_with_lr_grid(_Recorder, y_val, y_val, y_val, y_val, [0.02, 0.0])  # equal distance: first wins
    assert tied.lr == 0.02
    with pytest.raises(DataError, match="empty"):
        fit_with_lr_grid(_Recorder, y_val, y_val, y_val, y_val, [])


def test_lr_grid_gives_each_rate_a_fair_share_of_the_budget_left() -> None:
    from l1k_assets.progress import Progress

    y_val = np.random.default_rng(1).normal(size=(20, 30))
    shares: list[float] = []

    def make(lr: float) -> _Recorder:
        recorder = _Recorder(lr)
        original = recorder.fit

        def fit(*args, **kwargs):
            fitted = original(*args, **kwargs)
            shares.append(fitted.budget_)
            return fitted

        recorder.fit = fit
        return recorder

    fit_with_lr_grid(make, y_val, y_val, y_val, y_val, [0.1, 0.01, 0.001], Progress("mlp", budget_seconds=90, clock=FakeClock()))
    assert shares == pytest.approx([30.0, 40.0, 70.0])  # 90/3, then (90−10)/2, then 90−20: unused time passes on


# ----------------------------------------------------------------------------------- MLP, DNN


def test_mlp_beats_linear_regression_on_nonlinear_targets_and_picks_lr() -> None:
    x, y = nonlinear_set(600, 10)
    x_val, y_val = nonlinear_set(150, 11)
    x_test, y_test = nonlinear_set(200, 12)
    mlp = MLPInference(hidden=64, lr_grid=(1e-2, 1e-3), max_epochs=80, batch_size=32).fit(x, y, x_val, y_val)
    assert set(mlp.lr_scores_) == {1e-2, 1e-3}
    assert mlp.lr_ == max(mlp.lr_scores_, key=mlp.lr_scores_.get)
    assert mlp.history_ and {"epoch", "train_loss", "val_scc"} <= set(mlp.history_[0]) and mlp.training_seconds_ > 0
    assert mlp.get_params()["lr"] == 1e-3  # the hyperparameter is untouched; the chosen rate is lr_
    lr_error = np.mean(sample_errors(y_test, LinearRegressionInference().fit(x, y).predict(x_test)))
    mlp_error = np.mean(sample_errors(y_test, mlp.predict(x_test)))
    assert mlp_error < 0.7 * lr_error


def test_torch_models_are_deterministic_given_the_seed() -> None:
    x, y = nonlinear_set(120, 20)
    x_val, y_val = nonlinear_set(40, 21)
    first = MLPInference(hidden=16, max_epochs=3).fit(x, y, x_val, y_val).predict(x_val)
    second = MLPInference(hidden=16, max_epochs=3).fit(x, y, x_val, y_val).predict(x_val)
    other_seed = MLPInference(hidden=16, max_epochs=3, seed=1).fit(x, y, x_val, y_val).predict(x_val)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other_seed)


def test_weighted_mse_and_group_lasso_by_hand() -> None:
    prediction, target = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 3.0]])
    # weights (0 + 1, 3 + 1) = (1, 4); squared errors (1, 1) → mean (1 + 4) / 2
    assert float(weighted_mse(prediction, target)) == pytest.approx(2.5)
    weight = torch.tensor([[3.0, 0.0], [4.0, 1.0]])  # input columns (3, 4) and (0, 1): norms 5 and 1
    assert float(group_lasso_penalty(weight)) == pytest.approx(6.0)
    model = DNNInference(hidden=(2,), dropout=0.0, group_lasso=0.5)
    network = model._network(2, 2)
    with torch.no_grad():
        network[0].weight.copy_(weight)
    assert float(model._loss(prediction, target, network).detach()) == pytest.approx(2.5 + 0.5 * 6.0)
    unweighted = DNNInference(hidden=(2,), weighted=False)
    assert float(unweighted._loss(prediction, target, network)) == pytest.approx(1.0)


def test_dnn_refuses_targets_below_minus_one_for_the_weighted_loss() -> None:
    x, y = nonlinear_set(60, 30)
    low = y - y.mean() - 5
    with pytest.raises(DataError, match="target"):
        DNNInference(hidden=(8,)).fit(x, low, x, low)
    DNNInference(hidden=(8,), weighted=False, max_epochs=2).fit(x, low, x, low)  # unweighted accepts any scale


def test_group_lasso_shrinks_irrelevant_input_columns() -> None:
    rng = np.random.default_rng(40)

    def planted(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 20))  # only inputs 0–4 matter
        y = np.column_stack([x[:, 0] * x[:, 1], np.tanh(2 * x[:, 2]), np.abs(x[:, 3]), x[:, 4] + x[:, 0], x[:, 1] - x[:, 2]])
        return x, y

    x, y = planted(400)
    x_val, y_val = planted(100)
    floor = y.min(axis=0)  # targets from 0 up, like log expression, for the (target + 1) weights
    y, y_val = y - floor, y_val - floor

    def irrelevant_share(penalty: float) -> float:
        model = DNNInference(hidden=(64,), group_lasso=penalty, max_epochs=60).fit(x, y, x_val, y_val)
        importance = model.input_importance_()
        assert importance.shape == (20,)
        return float(importance[5:].mean() / importance[:5].mean())

    plain, penalised = irrelevant_share(0.0), irrelevant_share(0.3)
    assert penalised < plain / 2 and penalised < 0.15


# ------------------------------------------------------------------------- checkpoints, errors


def _fitted_models() -> list:
    x, y = nonlinear_set(100, 50)
    x_val, y_val = nonlinear_set(30, 51)
    return [
        LinearRegressionInference().fit(x, y),
        KNNInference(k_grid=(3, 5)).fit(x, y, x_val, y_val),
        MLPInference(hidden=16, max_epochs=3, lr_grid=(1e-3, 1e-2)).fit(x, y, x_val, y_val),
        DNNInference(hidden=(16, 8), max_epochs=3).fit(x, y + 5, x_val, y_val + 5),  # + 5: targets ≥ −1
    ]


def test_checkpoint_round_trip_predicts_identically() -> None:
    queries = nonlinear_set(25, 52)[0]
    for model in _fitted_models():
        files = model.checkpoint_files()
        assert "params.json" in files and all(isinstance(v, bytes) for v in files.values())
        restored = type(model).from_checkpoint(files)
        assert restored.get_params() == model.get_params()
        np.testing.assert_array_equal(restored.predict(queries), model.predict(queries))
        assert restored.predict(queries).dtype == np.float64
        for fitted in ("k_", "grid_scores_", "lr_", "lr_scores_", "history_", "training_seconds_"):
            if hasattr(model, fitted):
                assert getattr(restored, fitted) == getattr(model, fitted)


def test_checkpoint_errors() -> None:
    lr_model, knn = _fitted_models()[:2]
    with pytest.raises(DataError, match="KNNInference"):
        LinearRegressionInference.from_checkpoint(knn.checkpoint_files())
    with pytest.raises(DataError, match=r"arrays\.npz"):
        LinearRegressionInference.from_checkpoint({"params.json": lr_model.checkpoint_files()["params.json"]})


@pytest.mark.parametrize(
    "model",
    [LinearRegressionInference(), KNNInference(k_grid=(2,)), MLPInference(hidden=4, max_epochs=1), DNNInference(hidden=(4,))],
    ids=["lr", "knn", "mlp", "dnn"],
)
def test_bad_inputs_raise_data_error(model) -> None:
    x, y = nonlinear_set(20, 60)
    y = y + 5
    x_val, y_val = x[:5], y[:5]
    with_nan = x.copy()
    with_nan[3, 2] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite.*row 3, column 2"):
        model.fit(with_nan, y, x_val, y_val)
    with pytest.raises(DataError, match="paired"):
        model.fit(x, y[:-1], x_val, y_val)
    with pytest.raises(DataError, match="validation columns"):
        model.fit(x, y, x_val[:, :3], y_val)
    with pytest.raises(DataError, match="both"):
        model.fit(x, y, x_val, None)
    with pytest.raises(DataError, match="2-D"):
        model.fit(x[:, 0], y, x_val, y_val)
    with pytest.raises(DataError, match="too few"):
        model.fit(x[:1], y[:1], x_val, y_val)


def test_knn_without_validation_data_chooses_k_on_a_held_out_share() -> None:
    x, y = nonlinear_set(80, 5)
    model = KNNInference(validation_fraction=0.25).fit(x, y)
    assert set(model.grid_scores_) == {3, 5, 7, 9} and len(model.x_train_) == 60


@pytest.mark.parametrize(
    "model", [MLPInference(hidden=4, max_epochs=5), DNNInference(hidden=(4,), max_epochs=5)], ids=["mlp", "dnn"]
)
def test_torch_models_without_validation_data_stop_on_a_held_out_share(model) -> None:
    """``fit(X, y)`` (what clone and cross_val_score call) holds out validation_fraction of the rows, seeded."""
    x, y = nonlinear_set(20, 70)
    fitted = model.fit(x, y + 5)
    assert fitted.history_ and "val_scc" in fitted.history_[0]
    single = clone(model).fit(x, y[:, 0] + 5)  # one target: nothing to rank across, so validation MSE decides
    assert "val_neg_mse" in single.history_[0] and single.predict(x).shape == (len(x),)


def test_paper_profile_applies_the_seeds_settings_and_demo_keeps_the_cpu_sizes() -> None:
    from l1k_assets.inference.assets import ModelSettings, SelectionSettings
    from resources.profile import RunProfile

    paper = RunProfile(name="paper").apply(ModelSettings())
    assert paper.lr_grid == [1e-3, 5e-4, 1e-4]  # seed 002's learning-rate grid (MLP and GNN)
    assert (paper.gnn_hidden, paper.gnn_layers, paper.patience, paper.max_epochs) == (64, 4, 10, 200)
    assert paper.mlp_hidden is None and paper.dnn_hidden == [1024, 1024] and paper.dnn_lr == 1e-2  # seed 001's DNN
    assert paper.time_budget_seconds is None
    demo = RunProfile(name="demo", budget_scale=2.0).apply(ModelSettings())
    assert demo.gnn_hidden < 64 and demo.lr_grid == [1e-3]
    assert demo.time_budget_seconds == 2.0 * ModelSettings().time_budget_seconds
    chosen = RunProfile(name="paper").apply(ModelSettings(gnn_hidden=8))
    assert chosen.gnn_hidden == 8 and chosen.gnn_layers == 4, "a value the user set wins over the paper's"
    selection = RunProfile(name="paper").apply(SelectionSettings())
    assert selection.time_budget_seconds is None and selection.model.gnn_hidden == 64, "nested settings get paper values"


def test_the_gnn_takes_its_own_batch_size_and_paper_uses_the_shared_one() -> None:
    from l1k_assets.inference.assets import ModelSettings
    from l1k_assets.inference.training import model_params
    from l1k_assets.torch_setup import TorchSetup
    from resources.profile import RunProfile

    compute = TorchSetup()
    demo = ModelSettings()
    assert model_params("gnn", demo, compute)["batch_size"] == demo.gnn_batch_size != demo.batch_size
    assert model_params("mlp", demo, compute)["batch_size"] == demo.batch_size
    paper = RunProfile(name="paper").apply(ModelSettings())
    assert paper.gnn_batch_size is None and model_params("gnn", paper, compute)["batch_size"] == paper.batch_size
    with pytest.raises(ValueError, match="gnn_batch_size"):
        ModelSettings(gnn_batch_size=0)


@pytest.mark.parametrize("select_on", ["z", "original"])
def test_knn_chooses_k_by_validation_scc_on_the_scale_asked_for(select_on: str) -> None:
    """Seed 002 selects on the RNA-seq values themselves: there SCC ranks genes by level, on z-scores by deviation."""
    from l1k_assets.inference.baselines import KNNInference
    from l1k_assets.inference.metrics import sample_scc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5))
    y = rng.normal(0, 3, size=12) + x @ rng.normal(size=(5, 12)) + rng.normal(size=(90, 12))  # genes at their own levels
    grid = (1, 3, 9)
    model = StandardizedModel("knn", KNNInference(k_grid=grid), select_on=select_on).fit(x[:60], y[:60], x[60:], y[60:])
    for k in grid:
        single = StandardizedModel("knn", KNNInference(k_grid=(k,))).fit(x[:60], y[:60])
        prediction, truth = single.predict(x[60:]), y[60:]
        if select_on == "z":
            prediction, truth = single.y_scaler_.forward(prediction), single.y_scaler_.forward(truth)
        assert model.model_.grid_scores_[k]["scc"] == pytest.approx(float(np.mean(sample_scc(truth, prediction))))
    restored = StandardizedModel.from_checkpoint(model.checkpoint_files())
    assert restored.select_on == select_on
    with pytest.raises(DataError, match="select_on 'raw'"):
        StandardizedModel("knn", KNNInference(), select_on="raw").fit(x, y)


def test_dnn_can_stop_on_validation_mse_as_seed_001_evaluates() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((120, 6))
    y = np.abs(x @ rng.normal(size=(6, 4)))  # non-negative, like seed 001's normalised log expression
    params = {"hidden": (8,), "max_epochs": 12, "patience": 3, "lr": 1e-2}
    model = DNNInference(stop_on="mse", **params).fit(x[:90], y[:90], x[90:], y[90:])
    losses = [-epoch["val_neg_mse"] for epoch in model.history_]
    assert "val_scc" not in model.history_[0] and model.best_epoch_ == int(np.argmin(losses))
    best = np.mean((model.predict(x[90:]) - y[90:]) ** 2)
    assert best == pytest.approx(min(losses), rel=1e-5)  # the restored weights are the lowest-MSE epoch's
    with pytest.raises(DataError, match="stop_on 'loss'"):
        DNNInference(stop_on="loss", **params).fit(x[:90], y[:90], x[90:], y[90:])


def test_knn_on_the_landmark_values_themselves_matches_scikit_learn() -> None:
    """Seed 002's KNN: Manhattan distances between raw L1000 vectors, inverse-distance weights."""
    from l1k_assets.inference.baselines import KNNInference

    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 4)) * np.array([1.0, 10.0, 0.1, 3.0])  # scales that z-scores would equalise
    y = x @ rng.normal(size=(4, 6)) + rng.normal(size=(80, 6))
    raw = StandardizedModel("knn", KNNInference(k_grid=(3,)), scale_inputs=False).fit(x[:60], y[:60])
    reference = KNeighborsRegressor(3, weights="distance", metric="manhattan").fit(x[:60], y[:60])
    np.testing.assert_allclose(raw.predict(x[60:]), reference.predict(x[60:]), atol=1e-9)
    scaled = StandardizedModel("knn", KNNInference(k_grid=(3,))).fit(x[:60], y[:60])
    assert np.abs(scaled.predict(x[60:]) - raw.predict(x[60:])).max() > 1e-3  # z-scored distances pick other neighbours
    assert StandardizedModel.from_checkpoint(raw.checkpoint_files()).scale_inputs is False
