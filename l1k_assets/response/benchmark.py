"""Seed 003's Table 1: baselines and CSG2A variants in the same cross-validation folds, per split scheme.

The sources (``response.readers``: GDSC2 fitted dose response, the basal RMA expression zip,
the drug SMILES table) are cleaned into one ``ResponseData``: pairs with a non-finite log IC50, cell lines
without expression and drugs without a usable structure are left out with logged counts,
and only an empty result is an error. Expression becomes per-gene robust z-scores across the
GDSC cell lines, as the paper feeds it.

Every model sees the same rows x = [basal expression (G genes) | structure features]:
the global mean predictor, each drug's mean (what a model must beat to have learned anything
from expression; a drug unseen in training gets the global mean), a random forest and an SVM
(the paper's baselines, on fingerprints and expression), and CSG2A pretrained + frozen (the
paper's model), without pretraining, unfrozen, without the PPI prior, and the plain linear
model (no attention; pretrained and frozen like CSG2A). Sizes and epochs are parameters so the
whole table runs in seconds on the embedded tiny data.

The rows are built once per benchmark and indexed per fold; the baselines are fitted once per
fold; the four ablations run only in ``ablation_schemes`` (seed 003 reports them for the
mixed set). Every fold and every network's epochs report to a ``Progress``; each network fit
has a wall-clock budget of its own (``fit_budget_seconds``), so a budget shortens every fit
instead of dropping the last folds, and the run's time is bounded by its number of fits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.svm import SVR
from sklearn.utils.validation import check_is_fitted

from l1k_assets.errors import DataError, EstimatorInputError
from l1k_assets.estimators import check_prediction_input, check_training_data, one_target
from l1k_assets.inference.gene_metrics import robust_z
from l1k_assets.progress import Progress
from l1k_assets.response.settings import ABLATIONS, MODELS
from l1k_assets.response.splits import SCHEMES, assign_folds, fold_masks

log = logging.getLogger("l1k.response")


# ---------------------------------------------------------------------------------------------
# The cleaned dataset


@dataclass
class ResponseData:
    """Pairs with a finite log IC50, a cell line with expression and a drug with structure features."""

    responses: pd.DataFrame  # cell_line, drug, ln_ic50
    expression: pd.DataFrame  # cell lines × genes, robust z
    structures: pd.DataFrame  # drugs × structure features
    excluded: dict[str, int] = field(default_factory=dict)

    def arrays(self, rows: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """(x = [expression | structure], y = log IC50) of the selected pairs."""
        pairs = self.responses.iloc[rows]
        x = np.hstack([self.expression.loc[pairs.cell_line].to_numpy(), self.structures.loc[pairs.drug].to_numpy()])
        return x, pairs.ln_ic50.to_numpy(np.float64)

    @property
    def n_genes(self) -> int:
        return self.expression.shape[1]


def response_data(
    responses: pd.DataFrame, expression: pd.DataFrame, structures: pd.DataFrame, genes: Sequence[str]
) -> ResponseData:
    """Clean pairs, expression (robust z on ``genes``, in that order) and structures into a ``ResponseData``.

    Genes the expression lacks are set to 0 (the median on the robust-z scale) with a logged
    count, so the model's gene order matches pretraining; none present is an error.
    """
    present = [g for g in genes if g in expression.columns]
    if not present:
        raise DataError(f"none of the {len(genes)} model genes is in the expression table (e.g. {list(genes)[:3]})")
    if len(present) < len(genes):
        log.warning("expression lacks %d of %d model genes; they are set to 0 (robust z)", len(genes) - len(present), len(genes))
    finite_cells = expression[present].notna().all(axis=1)
    z = pd.DataFrame(robust_z(expression.loc[finite_cells, present].to_numpy(np.float64)), index=expression.index[finite_cells])
    z = z.set_axis(present, axis=1).reindex(columns=list(genes), fill_value=0.0)
    z.index = z.index.astype(str)
    structures = structures.set_axis(structures.index.astype(str))
    checks = {
        "non-finite log IC50": ~np.isfinite(responses.ln_ic50.to_numpy(np.float64)),
        "cell line without expression": ~responses.cell_line.astype(str).isin(z.index).to_numpy(),
        "drug without a usable structure": ~responses.drug.astype(str).isin(structures.index).to_numpy(),
    }
    excluded = {reason: int(bad.sum()) for reason, bad in checks.items() if bad.any()}
    for reason, count in excluded.items():
        log.warning("left out %d of %d pairs: %s", count, len(responses), reason)
    keep = ~np.any(np.vstack(list(checks.values())), axis=0)
    if not keep.any():
        raise DataError(f"no usable (cell line, drug) pair is left of {len(responses)}: {excluded}")
    kept = responses[keep].astype({"cell_line": str, "drug": str}).reset_index(drop=True)
    return ResponseData(kept, z, structures, excluded)


# ---------------------------------------------------------------------------------------------
# Models and the benchmark


@dataclass
class BenchmarkSettings:
    """Sizes of every model, small by default so the full table runs quickly on tiny data.

    ``rf_max_features`` (share of columns tried per split) and ``svm_max_train`` (a seeded
    sample of the training rows; kernel SVR costs the square of their number) trade baseline
    accuracy for time; 1.0 and None are the full baselines. ``fit_budget_seconds`` stops each
    network's training once spent (None: patience and ``max_epochs`` only).
    """

    n_folds: int = 10
    seed: int = 0
    validation_fraction: float = 0.1
    rf_trees: int = 100
    rf_max_features: float = 1.0
    svm_c: float = 10.0
    svm_max_train: int | None = None
    ablation_schemes: tuple[str, ...] = SCHEMES
    embed_dim: int = 8
    encoder_hidden: int = 64
    head_hidden: tuple[int, ...] = (32, 32)
    dropout: float = 0.1
    output_rank: int | None = None
    lr: float = 3e-3
    batch_size: int = 32
    max_epochs: int = 60
    patience: int = 8
    device: str = "cpu"
    fit_budget_seconds: float | None = None
    rf_jobs: int = 1

    def models_of(self, scheme: str, models: Iterable[str]) -> list[str]:
        """The models run in ``scheme``: the ablations only in ``ablation_schemes``."""
        return [m for m in models if m not in ABLATIONS or scheme in self.ablation_schemes]


def _csg2a(settings: BenchmarkSettings, n_genes: int, **options: Any) -> Any:
    from l1k_assets.response.csg2a import CSG2ARegressor

    return CSG2ARegressor(
        n_genes=n_genes,
        embed_dim=settings.embed_dim,
        encoder_hidden=settings.encoder_hidden,
        head_hidden=tuple(settings.head_hidden),
        dropout=settings.dropout,
        output_rank=settings.output_rank,
        lr=settings.lr,
        batch_size=settings.batch_size,
        max_epochs=settings.max_epochs,
        patience=settings.patience,
        seed=settings.seed,
        device=settings.device,
        **options,
    )


class DrugMeanRegressor(RegressorMixin, BaseEstimator):
    """Each training drug's mean log IC50, drugs told apart by their structure columns; the global mean for a new drug."""

    def __init__(self, n_genes: int = 0) -> None:
        self.n_genes = n_genes

    def _keys(self, x: np.ndarray) -> list[str]:
        """One key per row from its structure columns (hex text: pandas would strip trailing zero bytes)."""
        return [row.tobytes().hex() for row in np.ascontiguousarray(x[:, self.n_genes :])]

    def fit(self, x: Any, y: Any) -> DrugMeanRegressor:
        """Each drug's mean of ``y`` (one value per row; a column ``y`` is read as one)."""
        x, y, _, _ = check_training_data(x, one_target(y, type(self).__name__), need_validation=False, min_samples=1)
        if not 0 <= self.n_genes < x.shape[1]:
            raise EstimatorInputError(f"x has {x.shape[1]} columns: expected the {self.n_genes} genes and structure columns")
        self.n_features_in_ = x.shape[1]
        self.means_ = pd.Series(y[:, 0]).groupby(self._keys(x)).mean().to_dict()
        self.global_mean_ = float(y.mean())
        return self

    def predict(self, x: Any) -> np.ndarray:
        """The training mean of each row's drug, or the global mean for a drug not seen in training."""
        check_is_fitted(self, "means_")
        x = check_prediction_input(x, self.n_features_in_, type(self).__name__)
        return np.array([self.means_.get(key, self.global_mean_) for key in self._keys(x)])


@dataclass
class Pretrained:
    """What the CSG2A variants start from: networks pretrained with and without the PPI prior, and the prior."""

    with_ppi: Mapping[str, bytes]
    without_ppi: Mapping[str, bytes]
    ppi: np.ndarray
    plain: Mapping[str, bytes]  # seed 003's plain linear model, pretrained like the others


Factory = Callable[[BenchmarkSettings, int, Pretrained | None], Any]
FACTORIES: dict[str, Factory] = {
    "mean": lambda s, g, p: DummyRegressor(strategy="mean"),
    "drug_mean": lambda s, g, p: DrugMeanRegressor(n_genes=g),
    "random_forest": lambda s, g, p: RandomForestRegressor(
        n_estimators=s.rf_trees, max_features=s.rf_max_features, random_state=s.seed, n_jobs=s.rf_jobs
    ),
    "svm": lambda s, g, p: SVR(C=s.svm_c),
    "csg2a": lambda s, g, p: _csg2a(s, g, pretrained=p.with_ppi, freeze=True, use_ppi=True),
    "csg2a_no_pretraining": lambda s, g, p: _csg2a(s, g, pretrained=None, freeze=False, use_ppi=True),
    "csg2a_unfrozen": lambda s, g, p: _csg2a(s, g, pretrained=p.with_ppi, freeze=False, use_ppi=True),
    "csg2a_no_ppi": lambda s, g, p: _csg2a(s, g, pretrained=p.without_ppi, freeze=True, use_ppi=False),
    "csg2a_plain": lambda s, g, p: _csg2a(s, g, pretrained=p.plain, freeze=True, use_ppi=False),
}


def _fit_predict(
    name: str,
    model: Any,
    rows: tuple[np.ndarray, np.ndarray],
    train: np.ndarray,
    test: np.ndarray,
    settings: BenchmarkSettings,
    pre: Pretrained | None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Fit on the training rows (CSG2A early-stops on a seeded random share of them) and predict the test rows."""
    x_all, y_all = rows
    x, y = x_all[train], y_all[train]
    rng = np.random.default_rng(settings.seed)
    if name.startswith("csg2a"):
        is_val = rng.random(len(y)) < settings.validation_fraction
        is_val[rng.integers(len(y))] = True  # at least one validation row
        ppi = pre.ppi if name == "csg2a_no_pretraining" and pre is not None else None
        model.fit(x[~is_val], y[~is_val], x[is_val], y[is_val], ppi=ppi, progress=progress)
    elif name == "svm" and settings.svm_max_train is not None and len(y) > settings.svm_max_train:
        sample = rng.choice(len(y), settings.svm_max_train, replace=False)
        model.fit(x[sample], y[sample])
    else:
        model.fit(x, y)
    return model.predict(x_all[test])


def _metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    rmse = float(np.sqrt(np.mean((y - prediction) ** 2)))
    constant = len(y) < 2 or np.ptp(y) == 0 or np.ptp(prediction) == 0  # PCC undefined (the mean predictor's)
    return {"rmse": rmse, "pcc": float("nan") if constant else float(np.corrcoef(y, prediction)[0, 1])}


def _run_fold(
    rows: tuple[np.ndarray, np.ndarray],
    pretrained: Pretrained | None,
    scheme: str,
    k: int,
    train: np.ndarray,
    test: np.ndarray,
    models: list[str],
    settings: BenchmarkSettings,
    n_genes: int,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Every model on one fold (the unit of parallel work); each network within ``fit_budget_seconds``."""
    y_test = rows[1][test]
    results = []
    for step, name in enumerate(models, start=1):
        fit_progress = None
        if progress is not None and name.startswith("csg2a"):
            fit_progress = progress.child(name, settings.max_epochs, settings.fit_budget_seconds)
        model = FACTORIES[name](settings, n_genes, pretrained)
        started = time.perf_counter()
        prediction = _fit_predict(name, model, rows, train, test, settings, pretrained, fit_progress)
        metrics = _metrics(y_test, prediction)
        fit = {
            "seconds": time.perf_counter() - started,
            "epochs": len(getattr(model, "history_", [])),
            "stopped_by_budget": bool(getattr(model, "stopped_by_budget_", False)),
        }
        sizes = {"n_train": int(train.sum()), "n_test": int(test.sum())}
        results.append({"scheme": scheme, "model": name, "fold": k} | sizes | metrics | fit)
        if progress is not None:
            progress.update(step, **{f"{name}.rmse": metrics["rmse"]})
    return results


def _run_fold_in_worker(label: str, *args: Any) -> list[dict[str, Any]]:
    """``_run_fold`` in a worker process: a Progress of its own (the caller's sink does not cross processes)."""
    return _run_fold(*args, progress=Progress(label, len(args[6])))


def run_benchmark(
    data: ResponseData,
    pretrained: Pretrained | None,
    schemes: Iterable[str] = SCHEMES,
    models: Iterable[str] = MODELS,
    settings: BenchmarkSettings | None = None,
    folds: Iterable[int] | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """RMSE and PCC of every model on every fold of every scheme: one row per (scheme, model, fold).

    All models of a scheme share its folds; the ablations run only in the settings'
    ``ablation_schemes``. ``folds`` restricts the run to some fold numbers (all ``n_folds`` by
    default); ``n_jobs`` runs folds in parallel processes (each model is seeded, so the numbers
    do not depend on it; there each fold reports to the worker's log). ``progress`` hears of
    every fold and every network's epochs; a budget on it also bounds every fit. The CSG2A
    variants need ``pretrained``; a fold with no test or no training pair (possible in the
    disjoint scheme) is skipped with a log line. Rows also say how long each fit took, its
    epochs and whether the budget stopped it.
    """
    settings = settings or BenchmarkSettings()
    models = list(models)
    unknown = [m for m in models if m not in FACTORIES]
    if unknown:
        raise DataError(f"unknown models {unknown}; choose from {list(FACTORIES)}")
    if pretrained is None and any(m.startswith("csg2a") for m in models):
        raise DataError("the CSG2A variants need pretrained networks (and the PPI prior)")
    rows = data.arrays()  # once: every fold and model indexes the same rows
    tasks = []
    for scheme in schemes:
        assignment = assign_folds(data.responses, scheme, settings.n_folds, settings.seed)
        for k in range(settings.n_folds) if folds is None else folds:
            train, test = fold_masks(assignment, k)
            if not train.any() or not test.any():
                log.info("%s fold %d: %d training and %d test pairs; skipped", scheme, k, train.sum(), test.sum())
                continue
            tasks.append((rows, pretrained, scheme, k, train, test, settings.models_of(scheme, models), settings, data.n_genes))
    progress = progress or Progress("cross-validation", len(tasks))
    progress.total = len(tasks)
    results: list[dict[str, Any]] = []
    labels = [f"{task[2]} fold {done} of {len(tasks)}" for done, task in enumerate(tasks, start=1)]
    if n_jobs == 1:
        for done, (label, task) in enumerate(zip(labels, tasks, strict=True), start=1):
            results += _run_fold(*task, progress=progress.child(label, len(task[6])))
            progress.update(done, **_csg2a_rmse(results))
    else:
        runs = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_run_fold_in_worker)(label, *task) for label, task in zip(labels, tasks, strict=True)
        )
        for done, fold_rows in enumerate(runs, start=1):
            results += fold_rows
            progress.update(done, **_csg2a_rmse(results))
    return pd.DataFrame(results)


def _csg2a_rmse(results: list[dict[str, Any]]) -> dict[str, float]:
    """The running mean RMSE of CSG2A over the folds done, what a progress line shows."""
    rmse = [r["rmse"] for r in results if r["model"] == "csg2a"]
    return {"csg2a_rmse": float(np.mean(rmse))} if rmse else {}


def paired_t_tests(per_fold: pd.DataFrame, reference: str = "csg2a") -> pd.DataFrame:
    """Seed 003's Figure 2 tests: each model's RMSE against ``reference``'s on the same folds, paired t-test.

    One row per (scheme, model): the folds both ran, both mean RMSEs, the mean difference
    (model − reference; positive means the reference is better), t and the two-sided p-value
    (NaN with fewer than two shared folds). The paper marks p < .05 and p < 1e-4.
    """
    from scipy.stats import ttest_rel

    rows = []
    for scheme, group in per_fold.groupby("scheme", sort=False):
        rmse = group.pivot_table(index="fold", columns="model", values="rmse", sort=False)
        if reference not in rmse:
            continue
        for model in [m for m in rmse.columns if m != reference]:
            pair = rmse[[model, reference]].dropna()
            test = ttest_rel(pair[model], pair[reference]) if len(pair) >= 2 else None
            rows.append(
                {
                    "scheme": scheme,
                    "model": model,
                    "n_folds": len(pair),
                    "rmse": float(pair[model].mean()) if len(pair) else float("nan"),
                    f"{reference}_rmse": float(pair[reference].mean()) if len(pair) else float("nan"),
                    "difference": float((pair[model] - pair[reference]).mean()) if len(pair) else float("nan"),
                    "t": float(test.statistic) if test is not None else float("nan"),
                    "p": float(test.pvalue) if test is not None else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["scheme", "model", "n_folds", "rmse", f"{reference}_rmse", "difference", "t", "p"])


def summary_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Table 1's layout: models × (scheme, RMSE / PCC) as "mean ± sd" over folds, schemes and models in run order."""
    if per_fold.empty:
        raise DataError("no fold results to summarise")
    stats = per_fold.groupby(["model", "scheme"], sort=False)[["rmse", "pcc"]].agg(["mean", "std"])
    text = pd.DataFrame(index=stats.index)
    for metric in ("rmse", "pcc"):
        mean, sd = stats[(metric, "mean")], stats[(metric, "std")].fillna(0.0)
        text[metric.upper()] = [f"{m:.3f} ± {s:.3f}" if np.isfinite(m) else "N/D" for m, s in zip(mean, sd, strict=True)]
    table = text.unstack("scheme").fillna("–")  # an ablation left out of a scheme (see ablation_schemes)
    schemes = list(dict.fromkeys(per_fold.scheme))
    table = table.reindex(columns=pd.MultiIndex.from_product([["RMSE", "PCC"], schemes])).swaplevel(axis=1)
    return table.reindex(columns=schemes, level=0).loc[list(dict.fromkeys(per_fold.model))]
