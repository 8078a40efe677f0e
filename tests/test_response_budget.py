"""CSG2A under a budget: the paper profile's settings, progress of every fold and epoch, and budget stops on record."""

import numpy as np
import pandas as pd
import pytest

from l1k_assets.progress import Progress, ProgressReport
from l1k_assets.response import benchmark as bm
from l1k_assets.response.assets import FinetuneSettings, PretrainSettings
from l1k_assets.response.csg2a import CSG2APretrainer, CSG2ARegressor
from resources.profile import ProfileError, RunProfile

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_GENES, N_BITS = 6, 5
FAST = {"embed_dim": 4, "encoder_hidden": 8, "head_hidden": (8, 8), "batch_size": 16, "lr": 1e-2, "max_epochs": 4, "patience": 4}


def test_paper_profile_gives_seed_003_protocol_and_demo_stays_cpu_sized() -> None:
    paper = RunProfile(name="paper").apply(FinetuneSettings())
    assert paper.n_folds == 10 and paper.rf_trees == 100 and paper.rf_max_features == 1.0
    assert paper.svm_max_train is None and paper.time_budget_seconds is None
    assert paper.ablation_schemes == ["mixed"]  # seed 003 Fig. 2: the ablations on the mixed set
    assert paper.network.output_rank is None and paper.network.embed_dim == 64 and paper.network.head_hidden == [512, 64]
    assert (paper.network.lr, paper.network.batch_size, paper.network.patience) == (1e-4, 128, 20)
    pretrain = RunProfile(name="paper").apply(PretrainSettings())
    assert pretrain.max_pairs is None and pretrain.time_budget_seconds is None and pretrain.network.output_rank is None
    demo = RunProfile(name="demo", budget_scale=2.0).apply(FinetuneSettings())
    assert demo.n_folds == 3 and demo.network.output_rank is None  # the full layer: rank 64 lost the drug effect
    assert demo.time_budget_seconds == 2.0 * FinetuneSettings().time_budget_seconds  # stretched for a slower machine
    explicit = RunProfile(name="paper").apply(FinetuneSettings(n_folds=5))
    assert explicit.n_folds == 5  # a value the user set wins over the profile
    with pytest.raises(ProfileError, match=r"FinetuneSettings\.time_budget_seconds"):
        RunProfile().apply(FinetuneSettings(time_budget_seconds=0))


def _dataset() -> tuple[bm.ResponseData, bm.Pretrained]:
    """20 cell lines × 6 drugs whose log IC50 follows one gene per drug, and small pretrained networks of each variant."""
    rng = np.random.default_rng(0)
    cells, drugs = [f"c{i}" for i in range(20)], [f"d{j}" for j in range(6)]
    expression = pd.DataFrame(rng.normal(size=(20, N_GENES)), index=cells, columns=[f"G{g}" for g in range(N_GENES)])
    structures = pd.DataFrame(rng.integers(0, 2, (6, N_BITS)).astype(float), index=drugs)
    pairs = pd.MultiIndex.from_product([cells, drugs], names=["cell_line", "drug"]).to_frame(index=False)
    gene = pairs.drug.str[1:].astype(int) % N_GENES
    signal = expression.to_numpy()[pairs.cell_line.str[1:].astype(int), gene]
    pairs["ln_ic50"] = signal + pairs.drug.str[1:].astype(float) + 0.1 * rng.normal(size=len(pairs))
    x = np.hstack([rng.normal(size=(80, N_GENES)), rng.integers(0, 2, (80, N_BITS)), rng.random((80, 2))])
    y = x[:, :N_GENES] + 0.5 * x[:, N_GENES : N_GENES + 1]
    ppi = np.eye(N_GENES, k=1, dtype=np.float32) + np.eye(N_GENES, k=-1, dtype=np.float32)
    options = {k: v for k, v in FAST.items() if k != "head_hidden"}
    with_ppi = CSG2APretrainer(**options).fit(x[:60], y[:60], x[60:], y[60:], ppi=ppi)
    without_ppi = CSG2APretrainer(**options).fit(x[:60], y[:60], x[60:], y[60:])
    plain = CSG2APretrainer(**options, plain=True).fit(x[:60], y[:60], x[60:], y[60:])
    pretrained = bm.Pretrained(with_ppi.checkpoint_files(), without_ppi.checkpoint_files(), ppi, plain.checkpoint_files())
    return bm.response_data(pairs, expression, structures, list(expression.columns)), pretrained


def test_every_fold_model_and_epoch_is_reported_and_ablations_run_where_asked() -> None:
    data, pretrained = _dataset()
    reports: list[ProgressReport] = []
    settings = bm.BenchmarkSettings(n_folds=2, rf_trees=5, ablation_schemes=("mixed",), **FAST)
    progress = Progress("cv", sink=reports.append, every_seconds=0)
    per_fold = bm.run_benchmark(data, pretrained, ["mixed", "drug_blind"], bm.MODELS, settings, progress=progress)
    assert set(per_fold[per_fold.scheme == "mixed"].model) == set(bm.MODELS)
    assert set(per_fold[per_fold.scheme == "drug_blind"].model) == set(bm.MODELS) - set(bm.ABLATIONS)
    labels = [r.label for r in reports]
    assert "cv · mixed fold 1 of 4 · csg2a" in labels and "cv · drug_blind fold 4 of 4 · csg2a" in labels
    epochs = [r for r in reports if r.label.endswith("· csg2a_unfrozen")]
    assert [r.step for r in epochs[:2]] == [1, 2] and {"train_mse", "val_mse"} <= set(epochs[0].values)
    folds = [r for r in reports if r.label == "cv"]
    assert [r.step for r in folds] == [1, 2, 3, 4] and folds[-1].total == 4 and "csg2a_rmse" in folds[-1].values
    assert folds[-1].remaining == 0.0
    assert not per_fold.stopped_by_budget.any() and (per_fold[per_fold.model == "csg2a"].epochs >= 1).all()
    summary = bm.summary_table(per_fold)
    assert summary.loc["csg2a_no_ppi", ("drug_blind", "RMSE")] == "–"  # not run there, and the table says so


def test_a_tiny_budget_stops_every_network_after_one_epoch_and_is_recorded() -> None:
    data, pretrained = _dataset()
    reports: list[ProgressReport] = []
    settings = bm.BenchmarkSettings(n_folds=2, fit_budget_seconds=1e-6, **FAST | {"max_epochs": 50, "patience": 50})
    progress = Progress("cv", sink=reports.append, every_seconds=0)
    models = ["mean", "csg2a", "csg2a_no_pretraining"]
    per_fold = bm.run_benchmark(data, pretrained, ["mixed"], models, settings, progress=progress)
    networks = per_fold[per_fold.model.str.startswith("csg2a")]
    assert networks.stopped_by_budget.all() and (networks.epochs == 1).all()
    assert not per_fold[per_fold.model == "mean"].stopped_by_budget.any()
    assert sum("stopped: time budget" in r.note for r in reports) == len(networks)
    x, y = data.arrays()
    regressor = CSG2ARegressor(pretrained=pretrained.with_ppi, **FAST | {"max_epochs": 50})
    regressor.fit(x[:90], y[:90], x[90:], y[90:], progress=Progress("fit", budget_seconds=1e-6, sink=reports.append))
    restored = CSG2ARegressor.from_checkpoint(regressor.checkpoint_files())
    assert restored.stopped_by_budget_ and len(restored.history_) == 1  # the checkpoint says the budget stopped it
