"""A release's τ null: the sorted |NCS| its reference queries reach, per perturbagen type, and τ itself.

Kept apart from how the null is built (:mod:`l1k_assets.search.tau`), because scoring a query
needs only this, and building it needs the query kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

NULL_COLUMNS = ("pert_type", "abs_ncs")


class ReferenceSetError(DataError):
    """A release has no usable reference set (no flag column, no flagged signature, or too few)."""


@dataclass(frozen=True)
class ReferenceNull:
    """Sorted |NCS| of the reference queries against the reference signatures, per perturbagen type."""

    values: dict[str, np.ndarray]

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> ReferenceNull:
        """The null from its stored table (columns pert_type, abs_ncs)."""
        missing = [c for c in NULL_COLUMNS if c not in table.columns]
        if missing:
            raise DataError(f"a reference null table needs columns {list(NULL_COLUMNS)}, it lacks {missing}")
        return cls({str(t): np.sort(g.abs_ncs.to_numpy(np.float64)) for t, g in table.groupby("pert_type", observed=True)})

    def to_table(self) -> pd.DataFrame:
        """One row per null value, sorted within each perturbagen type."""
        frames = [pd.DataFrame({"pert_type": t, "abs_ncs": v}) for t, v in sorted(self.values.items())]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(NULL_COLUMNS))

    def tau(self, ncs: np.ndarray, pert_types: np.ndarray) -> np.ndarray:
        """τ of each NCS against its perturbagen type's null; NaN where the type has none (or NCS is NaN).

        τ = sign(ncs) · 100 · #{null values with |value| < |ncs|} / #null, CLUE's definition.
        """
        ncs = np.asarray(ncs, dtype=np.float64)
        types = np.asarray(pert_types).astype(str)
        out = np.full(len(ncs), np.nan)
        for pert_type, null in self.values.items():
            at = np.flatnonzero((types == pert_type) & ~np.isnan(ncs))
            below = np.searchsorted(null, np.abs(ncs[at]), side="left")
            out[at] = np.sign(ncs[at]) * 100.0 * below / len(null)
        return out
