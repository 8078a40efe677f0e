"""Train / validation / test split of the paired samples.

Seed 002 splits GSE92743 by order (2,500 / 500 / 176 of 3,176); a seeded random split is the
other option. Fractions rather than counts keep the rule meaningful at every scale.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

SPLITS = ("train", "validation", "test")


def split_samples(
    samples: pd.Index,
    method: Literal["order", "random"] = "order",
    train_fraction: float = 2500 / 3176,
    validation_fraction: float = 500 / 3176,
    seed: int = 0,
) -> pd.Series:
    """``sample_id -> split`` with every split non-empty; fractions must leave room for a test set."""
    n = len(samples)
    if not 0 < train_fraction < 1 or not 0 < validation_fraction < 1 or train_fraction + validation_fraction >= 1:
        raise DataError(f"split fractions train={train_fraction}, validation={validation_fraction} leave no test set")
    n_train = round(n * train_fraction)
    n_val = round(n * validation_fraction)
    if min(n_train, n_val, n - n_train - n_val) < 2:
        raise DataError(f"{n} samples are too few for a {train_fraction:.2f}/{validation_fraction:.2f} split (≥ 2 per part)")
    if method == "order":
        order = np.arange(n)
    elif method == "random":
        order = np.random.default_rng(seed).permutation(n)
    else:
        raise DataError(f"split method must be 'order' or 'random', got {method!r}")
    labels = np.empty(n, dtype=object)
    labels[order[:n_train]] = "train"
    labels[order[n_train : n_train + n_val]] = "validation"
    labels[order[n_train + n_val :]] = "test"
    return pd.Series(labels, index=samples, name="split")
