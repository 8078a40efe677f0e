"""Inputs constant in training but varying at test time (real HG-U95 landmarks floored to one value).

Before the scaler treated them explicitly, their training sd was floored at 1e-6, test samples
reached |z| ≈ 10^7, and the MLP and GNN errors ran to 10^5 and 10^6 against 145 for predicting
the training mean. Every model must now stay near the constant predictor or better.
"""

from __future__ import annotations

import numpy as np
import pytest

from l1k_assets.inference.assets import ModelSettings
from l1k_assets.inference.graph import build_gene_graph
from l1k_assets.inference.metrics import sample_errors
from l1k_assets.inference.models import MODEL_KINDS, StandardizedModel, make_model
from l1k_assets.inference.training import model_params
from l1k_assets.scaling import Scaler
from l1k_assets.torch_setup import TorchSetup

N_LANDMARKS, N_OTHER, CONSTANT = 24, 16, [3, 7, 11, 19]


def floored_set(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train/validation/test landmarks and all genes; four landmarks sit at the floor (5.0) in training only."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(0, 0.4, (N_LANDMARKS, N_OTHER))
    sets = {}
    for split, n in (("train", 80), ("validation", 20), ("test", 20)):
        x = rng.normal(8.0, 1.0, (n, N_LANDMARKS))
        if split != "test":
            x[:, CONSTANT] = 5.0  # below the detection floor in every training sample
            x[:, CONSTANT[-1]] += rng.normal(0, 1e-7, n)  # near-constant: float noise around the floor
        else:
            x[:, CONSTANT] = rng.normal(7.0, 1.5, (n, len(CONSTANT)))  # expressed in the new samples
        varying = np.delete(x, CONSTANT, axis=1) - 8.0
        others = 6.0 + np.tanh(varying @ mix[: varying.shape[1]]) + rng.normal(0, 0.1, (n, N_OTHER))
        sets[split] = (x, np.hstack([x + rng.normal(0, 0.1, x.shape), others]))
    return sets


def test_scaler_marks_constant_columns_and_feeds_them_as_their_mean() -> None:
    values = np.column_stack([np.arange(10.0), 2 * np.arange(10.0), np.full(10, 3.0), 3.0 + 1e-9 * np.arange(10)])
    scaler = Scaler.fit(values)
    assert scaler.constant.tolist() == [False, False, True, True]
    typical = np.median(values.std(axis=0)[[0, 1, 3]])  # the median over the columns with any spread
    np.testing.assert_allclose(scaler.sd, [values[:, 0].std(), values[:, 1].std(), typical, typical])
    z = scaler.forward(np.array([[0.0, 0.0, 9.0, 9.0]]))
    np.testing.assert_allclose(z, [[-4.5 / values[:, 0].std(), -9.0 / values[:, 1].std(), 0.0, 0.0]])
    np.testing.assert_allclose(scaler.inverse(np.zeros((1, 4)))[0, 2:], values[:, 2:].mean(axis=0))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_stays_near_the_constant_predictor_when_training_constant_inputs_vary(kind: str, one_torch_thread) -> None:
    data = floored_set()
    (x, y), (x_val, y_val), (x_test, y_test) = data["train"], data["validation"], data["test"]
    params = model_params(kind, ModelSettings(max_epochs=30, time_budget_seconds=None), TorchSetup())
    landmarks = list(range(N_LANDMARKS))
    graph = build_gene_graph(y, landmarks, k=4) if kind == "gnn" else None
    model = StandardizedModel(kind, make_model(kind, params, graph, y.shape[1], landmarks)).fit(x, y, x_val, y_val)
    assert np.flatnonzero(model.x_scaler_.constant).tolist() == CONSTANT
    error = float(sample_errors(y_test, model.predict(x_test)).mean())
    constant_predictor = float(sample_errors(y_test, np.broadcast_to(y.mean(axis=0), y_test.shape)).mean())
    assert np.isfinite(error) and error < 1.5 * constant_predictor, (kind, error, constant_predictor)


def test_csg2a_pretraining_feeds_a_gene_constant_in_training_as_its_mean(one_torch_thread) -> None:
    from l1k_assets.response.csg2a import CSG2APretrainer

    rng = np.random.default_rng(1)
    n, genes = 60, 8
    basal = rng.normal(0, 1, (n, genes))
    basal[:, 2] = -3.0  # floored in every training profile
    structure = rng.integers(0, 2, (n, 4)).astype(float)
    x = np.hstack([basal, structure, np.full((n, 2), 0.1)])
    y = basal + structure[:, :1] * 0.5 + rng.normal(0, 0.1, (n, genes))
    model = CSG2APretrainer(max_epochs=3, batch_size=16, seed=0).fit(x[:45], y[:45], x[45:], y[45:])
    assert model.scaler_.constant.tolist() == [False, False, True] + [False] * 5
    test = x[45:].copy()
    test[:, 2] = rng.normal(2.0, 1.0, len(test))  # expressed at test time
    restored = CSG2APretrainer.from_checkpoint(model.checkpoint_files())
    np.testing.assert_allclose(restored.predict(test), model.predict(x[45:]), atol=1e-5)
