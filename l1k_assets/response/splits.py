"""Cross-validation folds for drug response under the four schemes of Partin et al., as seed 003 uses them.

mixed       pairs are assigned to folds at random: every cell line and drug is seen in training;
cell_blind  whole cell lines are held out: a test pair's cell line is in no training pair;
drug_blind  whole drugs are held out;
disjoint    cell lines and drugs are both grouped into folds; fold k tests the pairs whose cell
            line AND drug are in group k, and trains only on pairs sharing neither, so pairs
            with one of the two in group k are in neither set for that fold.

``assign_folds`` returns, per pair, its test fold (-1: tested in no fold) and the cell and
drug groups; ``fold_masks`` turns that into the training and test rows of one fold with one
rule for every scheme. Groups are dealt round-robin after a seeded shuffle, so fold sizes
differ by at most one entity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

SCHEMES = ("mixed", "cell_blind", "drug_blind", "disjoint")
NO_FOLD = -1


def _deal(entities: pd.Series, n_folds: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """A fold per row of ``entities`` so that each distinct value lands in one fold, folds balanced by count of values."""
    values = pd.unique(entities.astype(str))
    if len(values) < n_folds:
        raise DataError(f"{len(values)} distinct {what} cannot fill {n_folds} folds: use fewer folds")
    group = pd.Series(np.arange(len(values)) % n_folds, index=rng.permutation(values))
    return group.loc[entities.astype(str)].to_numpy()


def assign_folds(
    responses: pd.DataFrame,
    scheme: str,
    n_folds: int = 10,
    seed: int = 0,
    cell_column: str = "cell_line",
    drug_column: str = "drug",
) -> pd.DataFrame:
    """Per pair (same index as ``responses``): ``fold`` (its test fold or -1), ``cell_fold``, ``drug_fold`` (-1 if unused)."""
    if scheme not in SCHEMES:
        raise DataError(f"unknown split scheme {scheme!r}; choose one of {SCHEMES}")
    if n_folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds, not {n_folds}")
    missing = [c for c in (cell_column, drug_column) if c not in responses.columns]
    if missing:
        raise DataError(f"the response table lacks {missing}")
    rng = np.random.default_rng(seed)
    n = len(responses)
    cell = drug = np.full(n, NO_FOLD)
    if scheme == "mixed":
        if n < n_folds:
            raise DataError(f"{n} pairs cannot fill {n_folds} folds")
        fold = rng.permutation(np.arange(n) % n_folds)
    else:
        if scheme in ("cell_blind", "disjoint"):
            cell = _deal(responses[cell_column], n_folds, rng, "cell lines")
        if scheme in ("drug_blind", "disjoint"):
            drug = _deal(responses[drug_column], n_folds, rng, "drugs")
        fold = {"cell_blind": cell, "drug_blind": drug}.get(scheme, np.where(cell == drug, cell, NO_FOLD))
    return pd.DataFrame({"fold": fold, "cell_fold": cell, "drug_fold": drug}, index=responses.index)


def fold_masks(folds: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, test rows) of fold ``k``: training shares no held-out cell line or drug with the test."""
    test = (folds.fold == k).to_numpy()
    train = ((folds.fold != k) & (folds.cell_fold != k) & (folds.drug_fold != k)).to_numpy()
    return train, test
