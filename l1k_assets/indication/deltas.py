"""Paired normal − tumor delta signatures on plain log2 landmark values (METHODS.md §1).

The delta is taken on the log2 values as they are: z-scoring or clipping first distorts the
magnitude and even the sign of a gene's change, so those are views, never inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError

ID_COLUMNS = ["cancer_type", "cohort", "patient_id"]


def gene_columns(table: pd.DataFrame) -> list[str]:
    """The gene columns of a samples or deltas table (everything that is not an id column)."""
    return [c for c in table.columns if c not in (*ID_COLUMNS, "tissue", "normal_gsm", "tumor_gsm")]


def tumor_normal_deltas(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per pair: ids, the two GSMs, and normal − tumor per gene.

    ``samples`` is the combined GEO table (index gsm; cohort, cancer_type, patient_id, tissue,
    genes). A patient must have exactly one normal and one tumor sample in its cohort.
    """
    genes = gene_columns(samples)
    keyed = samples.reset_index().rename(columns={samples.index.name or "index": "gsm"})
    counts = keyed.groupby(["cohort", "patient_id", "tissue"]).size().unstack(fill_value=0)
    for tissue in ("normal", "tumor"):
        if tissue not in counts.columns:
            raise DataError(f"no {tissue} samples in the tumor-normal table; a delta needs both")
    bad = counts[(counts.normal != 1) | (counts.tumor != 1)]
    if not bad.empty:
        cohort, patient = bad.index[0]
        raise DataError(
            f"cohort {cohort}, patient {patient}: {int(bad.normal.iloc[0])} normal and {int(bad.tumor.iloc[0])} tumor samples; "
            f"a pair needs exactly one of each ({len(bad)} patients affected)"
        )
    normal = keyed[keyed.tissue == "normal"].set_index(["cohort", "patient_id"]).sort_index()
    tumor = keyed[keyed.tissue == "tumor"].set_index(["cohort", "patient_id"]).loc[normal.index]
    delta = normal[genes].to_numpy(dtype=np.float64) - tumor[genes].to_numpy(dtype=np.float64)
    if np.isnan(delta).any():
        rows, cols = np.nonzero(np.isnan(delta))
        raise DataError(
            f"{len(rows)} missing delta values, e.g. cohort {normal.index[rows[0]][0]} patient {normal.index[rows[0]][1]} "
            f"gene {genes[cols[0]]}; landmark restriction should have removed incomplete genes"
        )
    out = pd.DataFrame(delta, columns=genes)
    out.insert(0, "tumor_gsm", tumor.gsm.to_numpy())
    out.insert(0, "normal_gsm", normal.gsm.to_numpy())
    out.insert(0, "patient_id", [p for _, p in normal.index])
    out.insert(0, "cohort", [c for c, _ in normal.index])
    out.insert(0, "cancer_type", normal.cancer_type.to_numpy())
    out.index = pd.Index([f"{c}:{p}" for c, p in normal.index], name="pair_id")
    return out


def consensus_deltas(deltas: pd.DataFrame) -> pd.DataFrame:
    """Mean delta per cancer type (types × genes): the reversal direction each compound is compared with."""
    return deltas.groupby("cancer_type")[gene_columns(deltas)].mean()


def consensus_query(consensus: pd.Series, n: int) -> tuple[list[str], list[str]]:
    """Up/down sets of a consensus delta: its n highest and n lowest genes."""
    ordered = consensus.sort_values(kind="stable")
    n = min(n, len(ordered) // 2)
    return ordered.index[::-1][:n].tolist(), ordered.index[:n].tolist()
