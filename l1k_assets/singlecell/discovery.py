"""Landmark discovery on single-cell expression (seed 001): is a data-driven set as good as L1000's?

Seed 001 trains a DNN from all genes to all genes with the (target + 1)-weighted MSE and a
group lasso on the first layer, ranks the genes by their first-layer weights and keeps the
top ones as a new "landmark" set; then it fits linear regression and the DNN from each set
to the remaining genes and compares their validation MSE (0.0684 for LR and 0.0387 for the
DNN on L1000's genes, on its PanglaoDB data).

The demo ranks genes by their first-layer column norm (the quantity the group lasso shrinks, so
a gene the penalty switched off scores 0); ``ranking="max_min"`` is the paper's rule, the union
of the m genes with the largest maximum and the m with the smallest minimum weight. Sets are
compared on the same targets: the genes in none of the compared sets, so no set is rewarded for
predicting genes that another set receives as inputs. Models see z-scored inputs and targets on
their normalised log scale. On the embedded tissues a group-lasso weight near 1e-2 (not 1e-3) is
what makes the ranking favour genes that explain others over sparse genes that mostly explain
themselves. Everything here is plain numpy/pandas; torch is imported by the estimators only when
a DNN trains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.inference.benchmark import evaluate
from l1k_assets.inference.models import StandardizedModel, make_model
from l1k_assets.inference.split import SPLITS
from l1k_assets.progress import Progress

if TYPE_CHECKING:
    from l1k_assets.inference.selection import Selection

CELL_COLUMNS = ("cell_id", "cell_type", "split")


@dataclass
class CellData:
    """Normalised expression by split (cells × genes), the cells' types, and the gene symbols (columns)."""

    values: dict[str, np.ndarray]
    cell_types: dict[str, np.ndarray]
    genes: list[str]

    def positions(self, genes: Sequence[str]) -> list[int]:
        """Column positions of ``genes`` (every one must be present)."""
        index = {g: i for i, g in enumerate(self.genes)}
        absent = [g for g in genes if g not in index]
        if absent:
            raise DataError(f"genes {absent[:5]} ({len(absent)} in all) are not in the expression table")
        return [index[g] for g in genes]


def cell_arrays(table: pd.DataFrame) -> CellData:
    """Split a ``core_singlecell_expression`` table (cell columns, then one column per gene) into arrays."""
    missing = [c for c in CELL_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"the expression table lacks columns {missing}")
    genes = [c for c in table.columns if c not in CELL_COLUMNS]
    values, types = {}, {}
    for split in SPLITS:
        rows = (table["split"] == split).to_numpy()
        if rows.sum() < 2:
            raise DataError(f"the {split} split has {int(rows.sum())} cells; need at least 2")
        values[split] = table.loc[rows, genes].to_numpy(dtype=np.float64)
        types[split] = table.loc[rows, "cell_type"].astype(str).to_numpy()
    return CellData(values, types, genes)


POOLED_SPLITS = ("kept", "80_20")


def pooled_cells(
    tables: Mapping[str, pd.DataFrame], split: str = "kept", validation_fraction: float = 0.2, seed: int = 0
) -> CellData:
    """Seed 001's pooled data set: every tissue's cells on the genes all of them kept, cell types prefixed by tissue.

    ``split="kept"`` keeps each table's train/validation/test assignment; ``"80_20"`` is the
    paper's (a seeded 80/20 train/validation split of the pooled cells, 12,746/3,187 there):
    it has no test split, so the test arrays are the validation cells and every "test" metric
    is a validation metric, as the paper's figures are.
    """
    if split not in POOLED_SPLITS:
        raise DataError(f"pooled split {split!r}: expected one of {POOLED_SPLITS}")
    if len(tables) < 2:
        raise DataError(f"pooling needs at least two data sets, got {sorted(tables)}")
    genes = [g for g in next(iter(tables.values())).columns if g not in CELL_COLUMNS]
    for table in tables.values():
        present = set(table.columns)
        genes = [g for g in genes if g in present]
    if len(genes) < 2:
        raise DataError(f"the data sets {sorted(tables)} share {len(genes)} genes; pooling needs at least 2")
    pooled = pd.concat(
        [t[list(CELL_COLUMNS) + genes].assign(cell_type=name + "/" + t.cell_type.astype(str)) for name, t in tables.items()],
        ignore_index=True,
    )
    if split == "kept":
        return cell_arrays(pooled)
    if not 0 < validation_fraction < 1:
        raise DataError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")
    validation = np.random.default_rng(seed).random(len(pooled)) < validation_fraction
    return cell_arrays(pooled.assign(split=np.where(validation, "validation", "train")).pipe(_with_test_as_validation))


def _with_test_as_validation(table: pd.DataFrame) -> pd.DataFrame:
    """The validation cells again under ``test``: the paper's 80/20 split has no test set of its own."""
    return pd.concat([table, table[table.split == "validation"].assign(split="test")], ignore_index=True)


def discover_landmarks(
    data: CellData,
    m: int,
    penalty: float,
    dnn_params: Mapping[str, Any],
    progress: Progress | None = None,
    ranking: str = "norm",
) -> tuple[pd.DataFrame, Selection]:
    """Seed 001's all-genes → all-genes DNN with group lasso, and the genes its first layer ranks highest.

    ``ranking``: ``norm`` keeps the m largest column norms, ``max_min`` the paper's union of the
    m largest maxima and m smallest minima. Returns ``rank, gene, score`` and the selection with
    the DNN's curves; its epochs report to ``progress`` and stop when its budget is spent.
    """
    from l1k_assets.inference.selection import select_group_lasso

    if not 0 < m < len(data.genes):
        raise DataError(f"m = {m} must be between 1 and the {len(data.genes)} genes")
    x, x_val = data.values["train"], data.values["validation"]
    chosen = select_group_lasso(x, x, x_val, x_val, m, penalty, progress=progress, ranking=ranking, **dnn_params)
    genes = [data.genes[p] for p in chosen.positions]
    table = pd.DataFrame({"rank": np.arange(1, len(genes) + 1), "gene": genes, "score": chosen.scores})
    return table, chosen


def common_targets(data: CellData, sets: Mapping[str, Sequence[str]]) -> list[int]:
    """Positions of the genes in none of the sets: every set is scored on predicting the same genes."""
    used = {g for genes in sets.values() for g in genes}
    targets = [i for i, g in enumerate(data.genes) if g not in used]
    if len(targets) < 2:
        raise DataError(f"the compared sets cover {len(used)} of {len(data.genes)} genes, leaving < 2 targets")
    return targets


def compare_sets(
    data: CellData,
    sets: Mapping[str, Sequence[str]],
    model_params: Mapping[str, Mapping[str, Any]],
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each model kind from each gene set to the common targets.

    Returns one row per (set, model) with the seed's validation MSE and seed 002's test metrics,
    and the test MSE per (set, model, cell type). The DNN's targets stay on the normalised log
    scale (``scale_targets=False``), where seed 001 trains and where its weighted loss is defined.
    Each fit reports to a child of ``progress`` holding an equal share of the budget still left,
    so a slow first fit cannot starve the others; ``stopped_by_budget`` says which ones it cut.
    """
    targets = common_targets(data, sets)
    y = {s: data.values[s][:, targets] for s in SPLITS}
    rows, per_type = [], []
    fits = [(set_name, genes, kind, params) for set_name, genes in sets.items() for kind, params in model_params.items()]
    for done, (set_name, genes, kind, params) in enumerate(fits):
        inputs = data.positions(genes)
        x = {s: data.values[s][:, inputs] for s in SPLITS}
        fit_progress = None
        if progress is not None:
            fit_progress = progress.child(f"{set_name} {kind} epoch", budget_seconds=progress.budget_left() / (len(fits) - done))
        model = StandardizedModel(kind, make_model(kind, params), scale_targets=kind != "dnn")
        model.fit(x["train"], y["train"], x["validation"], y["validation"], progress=fit_progress)
        val_mse = float(np.mean((model.predict(x["validation"]) - y["validation"]) ** 2))
        test_pred = model.predict(x["test"])
        row = evaluate(kind, y["test"], test_pred, landmark_set=f"{set_name} ({len(genes)})")
        row.update(gene_set=set_name, n_inputs=len(genes), n_targets=len(targets), val_mse=val_mse)
        row["test_mse"] = float(np.mean((test_pred - y["test"]) ** 2))
        row["stopped_by_budget"] = bool(fit_progress is not None and fit_progress.stopped_by_budget)
        rows.append(row)
        squared = ((test_pred - y["test"]) ** 2).mean(axis=1)
        for cell_type, mse in pd.Series(squared).groupby(data.cell_types["test"]).mean().items():
            per_type.append({"gene_set": set_name, "model": kind, "cell_type": cell_type, "test_mse": float(mse)})
        if progress is not None:
            progress.update(done + 1, val_mse=val_mse)
    return pd.DataFrame(rows), pd.DataFrame(per_type)


def random_set(genes: Sequence[str], size: int, exclude: Sequence[str], seed: int) -> list[str]:
    """``size`` genes drawn at random (seeded) from those not in ``exclude``: the chance baseline."""
    pool = sorted(set(genes) - set(exclude))
    if size > len(pool):
        raise DataError(f"cannot draw {size} random genes from the {len(pool)} left after excluding the other sets")
    return np.random.default_rng(seed).choice(pool, size, replace=False).tolist()
