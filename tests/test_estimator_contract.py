"""Every l1k estimator keeps scikit-learn's contract: ``fit(X, y)``, ``clone``, ``get_params``, pipelines, checks.

``parametrize_with_checks`` runs scikit-learn's estimator checks over each estimator. Two of
them are built around an input layout the checks' generated data cannot have, and the checks
that need that data are listed below with the reason; a second test runs the checks again and
asserts that exactly those fail, so the list can neither hide a new failure nor go stale.
Validation data comes through ``fit(x, y, x_val, y_val)`` or, fitted as ``fit(X, y)``, from a
seeded ``validation_fraction`` of the rows; wrong validation data is a typed error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from l1k_assets.errors import DataError, EstimatorInputError
from l1k_assets.estimators import hold_out
from l1k_assets.inference.baselines import KNNInference, LinearRegressionInference, MLPInference
from l1k_assets.inference.dnn import DNNInference
from l1k_assets.inference.gnn import GNNRegressor
from l1k_assets.inference.graph import build_gene_graph
from l1k_assets.inference.models import StandardizedModel
from l1k_assets.response.benchmark import DrugMeanRegressor
from l1k_assets.response.csg2a import CSG2APretrainer, CSG2ARegressor

FAST = {"lr": 1e-2, "max_epochs": 60, "patience": 5, "batch_size": 32}
N_LANDMARKS, N_GENES = 10, 14


def _gnn() -> GNNRegressor:
    profiles = np.random.default_rng(0).normal(size=(40, N_GENES))
    graph = build_gene_graph(profiles, list(range(N_LANDMARKS)), k=1)
    return GNNRegressor(graph, N_GENES, list(range(N_LANDMARKS)), hidden=4, layers=1, max_epochs=3)


def _estimators() -> list[Any]:
    return [
        LinearRegressionInference(),
        KNNInference(),
        MLPInference(hidden=16, **FAST),
        DNNInference(hidden=(16,), dropout=0.0, weighted=False, **FAST),
        _gnn(),
        StandardizedModel("lr", LinearRegressionInference()),
        StandardizedModel("mlp", MLPInference(hidden=16, **FAST)),
        CSG2APretrainer(embed_dim=4, encoder_hidden=8, dropout=0.0, **FAST),
        CSG2ARegressor(
            n_genes=1, use_ppi=False, freeze=False, embed_dim=4, encoder_hidden=8, head_hidden=(8, 8), dropout=0.0, **FAST
        ),
        DrugMeanRegressor(),
    ]


# The GNN's inputs are the landmark genes of its graph and its targets every gene of it: the checks'
# generated X (1 to 10 arbitrary columns) and y (1 or 5 targets) are not a graph's landmarks and genes,
# so every check that fits on them is refused with an EstimatorInputError naming the expected shape.
_GNN_DATA = "x must be the graph's 10 landmark columns and y its 14 genes; the generated data has other shapes"
GNN_EXPECTED = dict.fromkeys(
    [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_regressors_train",
        "check_regressor_data_not_an_array",
        "check_regressor_multioutput",
        "check_regressors_no_decision_function",
        "check_supervised_y_2d",
        "check_regressors_int",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ],
    _GNN_DATA,
)
# Pretraining reads x as [basal profile (one column per target gene) | structure features | dose, time],
# so X needs at least (targets + 3) columns; many checks generate 2 or 3. And with one target gene the
# gene-gene attention is a softmax over a single gene (always 1), so the compound cannot enter the
# prediction at all: check_regressors_train's one-target task has nothing the network can learn.
_PRETRAIN_LAYOUT = "x must hold the basal genes, structure features, dose and time: at least targets + 3 columns"
PRETRAINER_EXPECTED = dict.fromkeys(
    [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ],
    _PRETRAIN_LAYOUT,
) | {"check_regressors_train": "one target gene: the attention's softmax over one gene is 1, so the compound has no effect"}
EXPECTED_FAILURES = {"GNNRegressor": GNN_EXPECTED, "CSG2APretrainer": PRETRAINER_EXPECTED}


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The checks that cannot apply to ``estimator``, with the reason (none for most)."""
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(_estimators(), expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_exactly_the_listed_checks_fail(name: str) -> None:
    """The expected failures are the checks that do fail: none hidden, none stale."""
    estimator = next(e for e in _estimators() if type(e).__name__ == name)
    results = check_estimator(estimator, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed == set(EXPECTED_FAILURES[name])


def _regression(n: int = 60, targets: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6))
    return x, x[:, :targets] * 2.0 + 0.1 * rng.normal(size=(n, targets))


def test_torch_models_work_in_cross_val_score_without_validation_arguments() -> None:
    """``cross_val_score`` clones and calls ``fit(X, y)``: the model holds out its own validation rows."""
    x, y = _regression(n=300)
    scores = cross_val_score(MLPInference(hidden=16, **FAST), x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9  # R² of a near-linear task
    model = clone(StandardizedModel("dnn", DNNInference(hidden=(16,), dropout=0.0, weighted=False, **FAST))).fit(x, y)
    assert model.model_.history_ and model.predict(x).shape == y.shape


def test_a_held_out_share_is_seeded_and_disjoint() -> None:
    x, y = _regression(n=50)
    first, again = hold_out(x, y, 0.2, seed=3, min_samples=2), hold_out(x, y, 0.2, seed=3, min_samples=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    train_x, _, val_x, _ = first
    assert len(val_x) == 10 and len(train_x) == 40
    assert not {tuple(r) for r in train_x} & {tuple(r) for r in val_x}
    with pytest.raises(EstimatorInputError, match="validation_fraction must be between 0 and 1"):
        hold_out(x, y, 1.0, seed=0, min_samples=2)
    with pytest.raises(EstimatorInputError, match="too few to hold out"):
        hold_out(x[:3], y[:3], 0.5, seed=0, min_samples=2)


VALIDATING = {
    "knn": lambda: KNNInference(),
    "mlp": lambda: MLPInference(hidden=8, **FAST),
    "dnn": lambda: DNNInference(hidden=(8,), weighted=False, **FAST),
    "csg2a_regressor": lambda: CSG2ARegressor(n_genes=3, use_ppi=False, embed_dim=4, encoder_hidden=8, **FAST),
}


@pytest.mark.parametrize("name", sorted(VALIDATING))
def test_validation_data_of_the_wrong_shape_is_a_typed_error_naming_the_expectation(name: str) -> None:
    x, y = _regression()
    if name == "csg2a_regressor":
        y = y[:, 0]
    estimator = VALIDATING[name]()
    wrong_columns = np.hstack([x[:10], x[:10, :1]])
    with pytest.raises(EstimatorInputError, match=r"validation columns \(7 inputs.*differ from training \(6 inputs"):
        estimator.fit(x, y, wrong_columns, y[:10])
    with pytest.raises(EstimatorInputError, match="x_val has 10 samples and y_val 9: need the same number"):
        estimator.fit(x, y, x[:10], y[:9])
    with pytest.raises(EstimatorInputError, match="give both x_val and y_val"):
        estimator.fit(x, y, x[:10])
    assert issubclass(EstimatorInputError, DataError) and issubclass(EstimatorInputError, ValueError)
