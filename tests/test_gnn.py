"""Gene graph construction, the edge-attentive layer, and the GNN regressor (seed 002)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LinearRegression

from l1k_assets.errors import DataError
from l1k_assets.inference.gnn import EdgeAttentiveLayer, GNNModule, GNNRegressor, GraphTopology
from l1k_assets.inference.graph import build_gene_graph, graph_stats
from l1k_assets.inference.metrics import overall_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------
# Graph

ANGLES = {2: 0.0, 3: 40.0, 4: 100.0, 5: 170.0, 6: 250.0}  # non-landmark genes as 2-D directions


def hand_matrix() -> np.ndarray:
    """2 samples × 7 genes: landmarks 0 and 1, non-landmark g at angle ANGLES[g], so cos = cos(Δangle)."""
    values = np.zeros((2, 7))
    values[:, 0], values[:, 1] = (1.0, 1.0), (2.0, -1.0)
    for gene, angle in ANGLES.items():
        values[:, gene] = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
    return values


def incoming(edges: pd.DataFrame, dst: int, kind: str) -> list[int]:
    return edges.loc[(edges.dst == dst) & (edges.kind == kind), "src"].tolist()


def test_hand_made_graph_has_exact_neighbours_and_landmark_edges():
    edges = build_gene_graph(hand_matrix(), [0, 1], k=2, center=False)
    # gene 2 at 0°: cos to 3, 4, 5, 6 = cos 40° (.766), cos 100° (−.174), cos 170° (−.985), cos 250° (−.342)
    assert incoming(edges, 2, "similar") == [3, 4]
    assert incoming(edges, 2, "dissimilar") == [5, 6]
    # gene 5 at 170°: cos to 2, 3, 4, 6 = cos 170°, cos 130° (−.643), cos 70° (.342), cos 80° (.174)
    assert incoming(edges, 5, "similar") == [4, 6]
    assert incoming(edges, 5, "dissimilar") == [2, 3]
    to_two = edges[(edges.dst == 2) & (edges.kind != "landmark")]
    expected = [math.cos(math.radians(a)) for a in (40, 100, 170, 250)]
    np.testing.assert_allclose(to_two.cosine, expected, atol=1e-6)

    landmark = edges[edges.kind == "landmark"]
    assert len(landmark) == 7 * 2
    assert set(zip(landmark.src, landmark.dst, strict=True)) == {(s, d) for s in (0, 1) for d in range(7)}
    assert landmark.loc[(landmark.src == 0) & (landmark.dst == 0), "cosine"].item() == pytest.approx(1.0)

    similarity = edges[edges.kind != "landmark"]
    assert len(similarity) == 5 * 2 * 2
    assert (similarity.src != similarity.dst).all()
    assert not similarity.src.isin([0, 1]).any() and not similarity.dst.isin([0, 1]).any()
    assert edges.src.dtype == np.int32 and edges.cosine.dtype == np.float32


def test_self_neighbour_puts_each_gene_first_among_its_own_most_similar():
    edges = build_gene_graph(hand_matrix(), [0, 1], k=2, center=False, self_neighbour=True)
    assert incoming(edges, 2, "similar") == [2, 3]  # itself (cos 1), then gene 3 at 40°
    assert incoming(edges, 2, "dissimilar") == [5, 6]  # never its own least similar
    assert incoming(edges, 5, "similar") == [5, 4]
    to_two = edges[(edges.dst == 2) & (edges.kind == "similar")]
    np.testing.assert_allclose(to_two.cosine, [1.0, math.cos(math.radians(40))], atol=1e-6)
    similarity = edges[edges.kind != "landmark"]
    assert len(similarity) == 5 * 2 * 2 and (similarity.src == similarity.dst).sum() == 5  # the same 2k per gene


def test_graph_stats_counts_degrees_per_kind():
    stats = graph_stats(build_gene_graph(hand_matrix(), [0, 1], k=2, center=False), 7)
    assert stats["n_edges"] == 14 + 20
    assert stats["landmark_edges"] == 14 and stats["similar_edges"] == 10 and stats["dissimilar_edges"] == 10
    assert stats["landmark_in_degree_min"] == stats["landmark_in_degree_max"] == 2
    assert stats["landmark_senders"] == 2 and stats["landmark_out_degree_median"] == 7.0
    assert stats["similar_receivers"] == 5 and stats["similar_in_degree_max"] == 2
    assert stats["dissimilar_in_degree_min"] == 2


def test_k_too_large_is_an_error_naming_k_and_the_count():
    with pytest.raises(DataError, match=r"k = 3 .* 5 non-landmark genes"):
        build_gene_graph(hand_matrix(), [0, 1], k=3)
    with pytest.raises(DataError, match="k = 0"):
        build_gene_graph(hand_matrix(), [0, 1], k=0)


@pytest.mark.parametrize(
    ("values", "landmarks", "message"),
    [
        (np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]]), [0], "NaN"),
        (np.ones(5), [0], "at least 2 samples"),
        (hand_matrix(), [0, 0], "more than once"),
        (hand_matrix(), [0, 9], "outside the 7 genes"),
    ],
)
def test_bad_graph_inputs_are_data_errors(values, landmarks, message):
    with pytest.raises(DataError, match=message):
        build_gene_graph(values, landmarks, k=1)


def naive_neighbours(values: np.ndarray, landmarks: list[int], k: int) -> dict[int, tuple[list[int], list[int]]]:
    """Full correlation matrix and a full sort per gene: what the blocked argpartition must reproduce."""
    corr = np.corrcoef(values.T)
    others = [g for g in range(values.shape[1]) if g not in landmarks]
    out = {}
    for gene in others:
        candidates = sorted((g for g in others if g != gene), key=lambda g: corr[gene, g])
        out[gene] = (candidates[::-1][:k], candidates[:k])
    return out


def test_blocked_graph_equals_a_naive_full_computation():
    rng = np.random.default_rng(3)
    values = 6.0 + rng.normal(size=(30, 40))
    landmarks = sorted(rng.choice(40, 8, replace=False).tolist())
    edges = build_gene_graph(values, landmarks, k=4, block=3)
    corr = np.corrcoef(values.T)
    for gene, (top, bottom) in naive_neighbours(values, landmarks, 4).items():
        assert incoming(edges, gene, "similar") == top
        assert incoming(edges, gene, "dissimilar") == bottom
    sparse = edges[edges.kind != "landmark"]
    np.testing.assert_allclose(sparse.cosine, corr[sparse.dst, sparse.src], atol=1e-6)  # centred cosine = Pearson
    # without centring, positive log-scale values all look alike: every cosine is near 1
    assert build_gene_graph(values, landmarks, k=4, center=False).cosine.min() > 0.9


def test_graph_uses_only_the_rows_it_is_given():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(40, 30))
    train = slice(0, 30)
    before = build_gene_graph(data[train], [0, 5, 9], k=3)
    changed_validation = data.copy()
    changed_validation[30:] = rng.normal(size=(10, 30)) * 5
    pd.testing.assert_frame_equal(build_gene_graph(changed_validation[train], [0, 5, 9], k=3), before)
    changed_training = data.copy()
    changed_training[:5] = rng.normal(size=(5, 30)) * 5
    assert not build_gene_graph(changed_training[train], [0, 5, 9], k=3).equals(before)


def test_constant_gene_has_zero_similarity_not_nan():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(20, 15))
    values[:, 7] = 3.0
    edges = build_gene_graph(values, [0, 1], k=3)
    assert edges.cosine.notna().all()
    touching = edges[((edges.src == 7) | (edges.dst == 7))]
    assert len(touching) > 0 and (touching.cosine == 0).all()


# ---------------------------------------------------------------------------------------------
# Layer


def tiny_topology(n: int = 12, landmarks: tuple[int, ...] = (0, 4, 9), k: int = 2) -> GraphTopology:
    edges = build_gene_graph(np.random.default_rng(0).normal(size=(20, n)), list(landmarks), k=k)
    sparse = edges[edges.kind != "landmark"]
    return GraphTopology(n, list(landmarks), sparse.src.to_numpy(), sparse.dst.to_numpy())


def test_layer_equals_dense_masked_and_per_edge_computations():
    torch.manual_seed(0)
    layer = EdgeAttentiveLayer(tiny_topology(), hidden=4).double()
    with torch.no_grad():
        layer.bias.normal_()
    h = torch.randn(12, 3, 4, dtype=torch.float64)
    out = layer(h).detach()
    src, dst, weight = layer.edge_list()
    assert len(src) == 12 * 3 + 9 * 4  # landmark block + top/bottom-2 of each of the 9 non-landmarks

    dense = torch.zeros(12, 12, dtype=torch.float64)
    dense[dst, src] = weight
    mask = dense != 0
    masked = torch.relu(torch.einsum("ij,jbd->ibd", dense * mask, h) + layer.bias[:, None, :]).detach()
    loop = torch.zeros_like(h)
    for s, d, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True):
        loop[d] += w * h[s]
    per_edge = torch.relu(loop + layer.bias[:, None, :]).detach()
    torch.testing.assert_close(out, masked, atol=1e-9, rtol=0)
    torch.testing.assert_close(out, per_edge, atol=1e-9, rtol=0)


def test_layer_gradients_match_finite_differences():
    torch.manual_seed(1)
    layer = EdgeAttentiveLayer(tiny_topology(), hidden=2, activation="tanh").double()
    params = {name: p.detach().clone().requires_grad_() for name, p in layer.named_parameters()}
    h = torch.randn(12, 2, 2, dtype=torch.float64, requires_grad=True)

    def run(landmark_weight, edge_weight, bias, states):
        values = {"landmark_weight": landmark_weight, "edge_weight": edge_weight, "bias": bias}
        return torch.func.functional_call(layer, values, (states,))

    assert torch.autograd.gradcheck(run, (params["landmark_weight"], params["edge_weight"], params["bias"], h))


def test_edge_weights_are_free_and_learn_both_signs():
    """Fit the layer (no activation) to a planted signed weighting: the learned weights recover it, signs included."""
    torch.manual_seed(2)
    topology = tiny_topology()
    truth = EdgeAttentiveLayer(topology, hidden=3, activation="identity").double()
    layer = EdgeAttentiveLayer(topology, hidden=3, activation="identity").double()
    with torch.no_grad():
        for p in (layer.landmark_weight, layer.edge_weight):
            p.zero_()
    h = torch.randn(12, 64, 3, dtype=torch.float64)
    target = truth(h).detach()
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = ((layer(h) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    learned, planted = layer.edge_list()[2], truth.edge_list()[2]
    assert (planted < 0).any() and (planted > 0).any()
    np.testing.assert_allclose(learned.numpy(), planted.numpy(), atol=0.02)


def test_layer_runs_in_bfloat16_through_a_float32_sparse_product():
    torch.manual_seed(3)
    layer = EdgeAttentiveLayer(tiny_topology(), hidden=4)
    h = torch.randn(12, 2, 4)
    reference = layer(h).detach()
    low = layer.to(torch.bfloat16)
    hb = h.to(torch.bfloat16).requires_grad_()
    out = low(hb)
    out.sum().backward()
    assert out.dtype == torch.bfloat16 and low.edge_weight.grad is not None
    torch.testing.assert_close(out.float(), reference, atol=0.1, rtol=0.05)


def test_a_fresh_module_carries_each_landmark_on_its_own_node():
    """At the start every layer's landmark node reads only its own landmark: moving one input moves no other landmark node."""
    torch.manual_seed(4)
    topology = tiny_topology()
    module = GNNModule(topology, hidden=3, layers=3, activation="tanh", dropout=0.0, n_covariates=0).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    moved = x.clone()
    moved[:, 1] += 1.0  # the second landmark, node 4
    change = (module(moved) - module(x)).abs().amax(dim=0)
    landmark_nodes = topology.landmarks.tolist()
    assert change[landmark_nodes[1]] > 1e-3
    assert change[[landmark_nodes[0], landmark_nodes[2]]].amax() == 0.0
    assert change[[i for i in range(12) if i not in landmark_nodes]].amax() > 1e-3  # other genes still read every landmark


def test_module_parameter_count_is_the_edges_plus_node_terms():
    topology = tiny_topology()
    module = GNNModule(topology, hidden=5, layers=3, activation="relu", dropout=0.0, n_covariates=2)
    n, n_lm, n_sparse = 12, 3, 9 * 4
    expected = n * 5 + 5 + 5 + 2 * 5 + 3 * (n * n_lm + n_sparse + n * 5) + n * 5 + n
    assert sum(p.numel() for p in module.parameters()) == expected


@pytest.mark.parametrize("n_covariates", [0, 2])
def test_factored_first_layer_equals_the_layer_on_the_built_node_inputs(n_covariates):
    """The module's first layer propagates d + B (+ 1) columns; it must be the layer applied to h⁰ = c + x·v (+ cov)."""
    torch.manual_seed(3)
    topology = tiny_topology()
    module = GNNModule(topology, hidden=4, layers=2, activation="relu", dropout=0.0, n_covariates=n_covariates).double()
    with torch.no_grad():
        module.input_bias.normal_()
        module.layers[0].bias.normal_()
    x = torch.randn(5, 3 + n_covariates, dtype=torch.float64)
    node_values = torch.zeros(12, 5, dtype=torch.float64)
    node_values[list(topology.landmarks.tolist())] = x[:, :3].T
    h0 = module.node_embedding[:, None, :] + node_values[:, :, None] * module.value_vector + module.input_bias
    if n_covariates:
        h0 = h0 + module.covariates(x[:, 3:])[None, :, :]
    torch.testing.assert_close(module._first_layer(x), module.layers[0](h0), atol=1e-12, rtol=0)
    gradient = torch.autograd.grad(module(x).sum(), module.layers[0].landmark_weight)[0]
    assert gradient.abs().sum() > 0  # the factored path trains the first layer's weights


# ---------------------------------------------------------------------------------------------
# Regressor on planted data


def planted(seed: int = 0, n: int = 400, n_genes: int = 60, n_landmarks: int = 10, tissue_effect: float = 0.0):
    """Landmarks with shared factors; every other gene a product of two landmark parents, an |parent| term
    and a module factor (tanh of a landmark) shared by its module, plus noise; optionally a tissue offset."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)) @ rng.normal(0, 0.6, (3, n_landmarks)) + rng.normal(size=(n, n_landmarks))
    z = (z - z.mean(0)) / z.std(0)
    landmarks = np.sort(rng.choice(n_genes, n_landmarks, replace=False))
    others = np.setdiff1d(np.arange(n_genes), landmarks)
    parents = rng.integers(0, n_landmarks, (len(others), 2))
    module = rng.integers(0, 5, len(others))
    sign = rng.choice([-1.0, 1.0], (len(others), 4))
    tissue = rng.integers(0, 2, n)
    y = np.empty((n, n_genes))
    y[:, landmarks] = z
    y[:, others] = (
        sign[:, 0] * z[:, parents[:, 0]] * z[:, parents[:, 1]]
        + sign[:, 1] * np.abs(z[:, parents[:, 1]])
        + sign[:, 2] * np.tanh(z[:, module])
        + tissue_effect * sign[:, 3] * tissue[:, None]
        + rng.normal(0, 0.2, (n, len(others)))
    )
    x = z + rng.normal(0, 0.1, z.shape)
    covariates = np.eye(2)[tissue]
    return x, y, landmarks.tolist(), covariates


TRAIN, VALID = slice(0, 300), slice(300, 400)
SMALL = {"hidden": 16, "layers": 2, "lr": 1e-2, "batch_size": 32, "max_epochs": 30, "patience": 10}


@pytest.fixture(scope="module")
def fitted(one_torch_thread: None):
    x, y, landmarks, _ = planted()
    edges = build_gene_graph(y[TRAIN], landmarks, k=5)
    model = GNNRegressor(edges, 60, landmarks, **SMALL).fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    return model, x, y, edges, landmarks


def test_gnn_beats_linear_regression_on_nonlinear_planted_targets(fitted):
    model, x, y, _, _ = fitted
    linear = LinearRegression().fit(x[TRAIN], y[TRAIN]).predict(x[VALID])
    gnn, lr = overall_metrics(y[VALID], model.predict(x[VALID])), overall_metrics(y[VALID], linear)
    assert gnn["scc_mean"] > lr["scc_mean"] + 0.05
    assert gnn["error_mean"] < 0.8 * lr["error_mean"]
    assert model.training_seconds_ > 0 and len(model.history_) >= 1
    assert {"epoch", "train_loss", "val_scc"} <= set(model.history_[0])


def test_checkpoint_round_trip_predicts_identically(fitted):
    model, x, _, _, _ = fitted
    files = model.checkpoint_files()
    assert set(files) == {"params.json", "weights.pt", "graph.npz"}
    payload = json.loads(files["params.json"])
    assert payload["params"]["edges"] is None and payload["params"]["hidden"] == 16
    with np.load(io.BytesIO(files["graph.npz"]), allow_pickle=False) as graph:
        assert len(graph["src"]) == 50 * 10  # 50 non-landmarks × (5 similar + 5 dissimilar)
    restored = GNNRegressor.from_checkpoint(files)
    np.testing.assert_array_equal(restored.predict(x[VALID]), model.predict(x[VALID]))
    assert restored.history_ == model.history_ and restored.best_epoch_ == model.best_epoch_


def test_covariates_carry_an_effect_the_landmarks_cannot_see():
    x, y, landmarks, covariates = planted(seed=1, tissue_effect=1.5)
    edges = build_gene_graph(y[TRAIN], landmarks, k=5)
    xc = np.hstack([x, covariates])
    with_cov = GNNRegressor(edges, 60, landmarks, n_covariates=2, **SMALL).fit(xc[TRAIN], y[TRAIN], xc[VALID], y[VALID])
    without = GNNRegressor(edges, 60, landmarks, **SMALL).fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    error_with = overall_metrics(y[VALID], with_cov.predict(xc[VALID]))["error_mean"]
    error_without = overall_metrics(y[VALID], without.predict(x[VALID]))["error_mean"]
    assert error_with < 0.9 * error_without


def test_learning_rate_grid_keeps_the_best_rate(fitted):
    _, x, y, edges, landmarks = fitted
    model = GNNRegressor(edges, 60, landmarks, **{**SMALL, "max_epochs": 2}, lr_grid=(1e-2, 1e-4))
    model.fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    assert set(model.lr_scores_) == {1e-2, 1e-4}
    assert model.lr_ == max(model.lr_scores_, key=model.lr_scores_.get)


def test_regressor_input_errors(fitted):
    _, x, y, edges, landmarks = fitted
    make = lambda **kw: GNNRegressor(kw.pop("edges", edges), 60, landmarks, **{**SMALL, "max_epochs": 1}, **kw)  # noqa: E731
    with pytest.raises(DataError, match="validation_fraction must be between 0 and 1"):
        make(validation_fraction=1.5).fit(x[TRAIN], y[TRAIN])
    with pytest.raises(DataError, match="10 landmarks"):
        make().fit(x[TRAIN, :9], y[TRAIN], x[VALID, :9], y[VALID])
    with pytest.raises(DataError, match="59 target genes"):
        make().fit(x[TRAIN], y[TRAIN, :59], x[VALID], y[VALID, :59])
    with pytest.raises(DataError, match="NaN"):
        make().fit(np.where(x == x[0, 0], np.nan, x)[TRAIN], y[TRAIN], x[VALID], y[VALID])
    with pytest.raises(DataError, match="lacks columns"):
        make(edges=edges.drop(columns="kind")).fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    doubled = pd.concat([edges, edges[edges.kind == "similar"].head(1)])
    with pytest.raises(DataError, match="more than once"):
        make(edges=doubled).fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    with pytest.raises(DataError, match="activation"):
        make(activation="swish").fit(x[TRAIN], y[TRAIN], x[VALID], y[VALID])
    fitted_model = fitted[0]
    with pytest.raises(DataError, match="input columns"):
        fitted_model.predict(x[VALID, :5])


class _StepClock:
    """A fake clock that advances ``step`` seconds at every reading: elapsed time grows with the work done."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_training_reports_every_epoch_as_it_happens(one_torch_thread: None):
    from l1k_assets.progress import Progress

    x, y, landmarks, _ = planted(n=200, n_genes=30, n_landmarks=6)
    edges = build_gene_graph(y[:150], landmarks, k=3)
    reports = []
    progress = Progress("gnn", sink=reports.append, every_seconds=0)
    params = SMALL | {"max_epochs": 4, "patience": 10}
    model = GNNRegressor(edges, 30, landmarks, **params).fit(x[:150], y[:150], x[150:], y[150:], progress=progress)
    assert [r.step for r in reports] == [1, 2, 3, 4]
    assert all({"train_loss", "val_scc"} <= set(r.values) for r in reports)
    assert reports[-1].values["val_scc"] == pytest.approx(model.history_[-1]["val_scc"])
    assert reports[0].elapsed <= reports[-1].elapsed and model.stopped_by_budget_ is False


def test_a_tiny_time_budget_stops_training_early_and_is_recorded(one_torch_thread: None):
    from l1k_assets.progress import Progress

    x, y, landmarks, _ = planted(n=200, n_genes=30, n_landmarks=6)
    edges = build_gene_graph(y[:150], landmarks, k=3)
    reports = []
    progress = Progress("gnn", sink=reports.append, budget_seconds=5.0, clock=_StepClock(1.0))
    params = SMALL | {"max_epochs": 50, "patience": 50}
    model = GNNRegressor(edges, 30, landmarks, **params).fit(x[:150], y[:150], x[150:], y[150:], progress=progress)
    assert 1 <= len(model.history_) < 5, "the budget (5 ticks of the fake clock) must end training well before 50 epochs"
    assert model.stopped_by_budget_ and progress.stopped_by_budget
    assert "time budget" in reports[-1].note
    again = GNNRegressor.from_checkpoint(model.checkpoint_files())
    assert again.stopped_by_budget_, "the checkpoint records that training stopped by budget"
