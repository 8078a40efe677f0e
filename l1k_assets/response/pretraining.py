"""CSG2A's L1000 pretraining pairs: each compound-treated profile beside the basal profile of its plate.

The paper takes the basal state g0 from the DMSO wells run with the treated well and learns
g0 → perturbed profile under the compound's structure, dose and time. Here g0 is the mean of
the vehicle-control (``ctl_vehicle``) wells on the same plate, which shares the treated well's
cell line, time point and detection run; a plate without controls may borrow its batch's
(replicate plates of one plate family, ``CPC006_A375_6H`` for ``CPC006_A375_6H_X1_B3_...``)
or be dropped or refused, as configured. Doses become µM and times hours whatever unit the
release uses.

The real level-3 matrix has 1.3 M columns (~5 GB of landmark values), so besides the in-memory
``pretraining_pairs`` there is ``iter_pretraining_pairs``, which streams the GCTX twice in
column chunks: once over the control wells to sum them per plate, once over the treated wells
to emit pairs chunk by chunk. Both share every step but the reading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.lincs.gctx_set import GctxSet, as_matrix
from l1k_assets.response.conditions import scale_conditions

log = logging.getLogger("l1k.response")

BASAL_PREFIX = "basal:"
PERTURBED_PREFIX = "perturbed:"
META_COLUMNS = ["pert_id", "cell_id", "dose_um", "time_h", "rna_plate", "basal_source"]
CONTROL_TYPES = ("ctl_vehicle",)
TREATED_TYPES = ("trt_cp",)
# A plate family (batch) is the plate name before its replicate token: CPC006_A375_6H_X1_B3_DUO52HI53LO -> CPC006_A375_6H.
BATCH_PATTERN = r"^(?P<batch>.+?)_X\d+(?:_|$)"
DOSE_UNITS_UM = {"µm": 1.0, "μm": 1.0, "um": 1.0, "micromolar": 1.0, "nm": 1e-3, "mm": 1e3, "pm": 1e-6}
TIME_UNITS_H = {"h": 1.0, "hr": 1.0, "hrs": 1.0, "hours": 1.0, "min": 1 / 60, "d": 24.0, "days": 24.0}

Fallback = Literal["batch", "none"]
OnMissing = Literal["error", "drop"]


def _to_unit(values: pd.Series, units: pd.Series | None, table: dict[str, float], what: str) -> pd.Series:
    """Numbers in the canonical unit; a missing unit column means the values already are, an unknown unit is an error."""
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    if units is None:
        return numbers
    keys = units.astype("str").str.strip().str.lower()
    factors = keys.map(table)
    unknown = keys[factors.isna() & units.notna() & numbers.notna()].unique()
    if len(unknown):
        raise DataError(f"unknown {what} units {unknown[:5].tolist()}; known: {sorted(table)}")
    return numbers * factors.fillna(1.0)


def treatment_design(
    inst_info: pd.DataFrame,
    control_types: Sequence[str] = CONTROL_TYPES,
    treated_types: Sequence[str] = TREATED_TYPES,
    batch_pattern: str = BATCH_PATTERN,
) -> pd.DataFrame:
    """Controls and treated instances of ``inst_info``, indexed by inst_id, with plate, batch, dose (µM), time (h).

    Other perturbation types (genetic, other controls) are not part of CSG2A and are left out.
    Treated instances without a dose or time cannot be conditioned on and are dropped (logged).
    """
    required = ["inst_id", "rna_plate", "pert_id", "pert_type", "cell_id", "pert_dose", "pert_time"]
    missing = [c for c in required if c not in inst_info.columns]
    if missing:
        raise DataError(f"inst_info lacks columns {missing}: pairing needs {required}")
    kept = inst_info[inst_info.pert_type.isin([*control_types, *treated_types])]
    design = pd.DataFrame(
        {
            "role": np.where(kept.pert_type.isin(control_types), "control", "treated"),
            "pert_id": kept.pert_id.to_numpy(),
            "cell_id": kept.cell_id.to_numpy(),
            "rna_plate": kept.rna_plate.astype(str).to_numpy(),
            "dose_um": _to_unit(kept.pert_dose, kept.get("pert_dose_unit"), DOSE_UNITS_UM, "dose").to_numpy(),
            "time_h": _to_unit(kept.pert_time, kept.get("pert_time_unit"), TIME_UNITS_H, "time").to_numpy(),
        },
        index=pd.Index(kept.inst_id.astype(str).to_numpy(), name="inst_id"),
    )
    batch = design.rna_plate.str.extract(batch_pattern)["batch"]
    design["batch"] = batch.fillna(design.rna_plate)
    unconditioned = (design.role == "treated") & design[["dose_um", "time_h"]].isna().any(axis=1)
    if unconditioned.any():
        log.warning("dropped %d treated instances without a dose or time", int(unconditioned.sum()))
    return design[~unconditioned]


@dataclass
class ControlSums:
    """Per-plate sums and counts of control profiles (plates × genes), addable chunk by chunk."""

    sums: pd.DataFrame
    counts: pd.Series

    @classmethod
    def of(cls, block: pd.DataFrame, plates: pd.Series) -> ControlSums:
        """The sums of one genes × control-instances block, grouped by each column's plate."""
        keys = plates.loc[block.columns].to_numpy()
        return cls(block.T.astype(np.float64).groupby(keys).sum(), pd.Series(keys).value_counts())

    def __add__(self, other: ControlSums) -> ControlSums:
        return ControlSums(self.sums.add(other.sums, fill_value=0.0), self.counts.add(other.counts, fill_value=0))


def basal_profiles(
    sums: ControlSums, design: pd.DataFrame, fallback: Fallback = "batch", on_missing: OnMissing = "error"
) -> tuple[pd.DataFrame, pd.Series]:
    """The basal profile (plates × genes) of every plate holding treated instances, and where it came from.

    A plate's own control mean when it has controls; otherwise its batch's (``fallback="batch"``);
    otherwise the plate's profiles are dropped with a logged count (``on_missing="drop"``) or
    a DataError names the plates (``"error"``).
    """
    treated = design[design.role == "treated"]
    plates = pd.Index(treated.rna_plate.unique())
    plate_mean = sums.sums.div(sums.counts, axis=0)
    basal = plate_mean.reindex(plates)
    source = pd.Series(np.where(basal.notna().all(axis=1), "plate", ""), index=plates)
    if fallback == "batch":
        batch_of = design.drop_duplicates("rna_plate").set_index("rna_plate").batch
        batch_keys = batch_of.loc[sums.sums.index]
        batch_mean = sums.sums.groupby(batch_keys.to_numpy()).sum().div(sums.counts.groupby(batch_keys.to_numpy()).sum(), axis=0)
        borrow = plates[source.to_numpy() == ""]
        from_batch = batch_mean.reindex(batch_of.loc[borrow].to_numpy()).set_axis(borrow)
        basal.loc[borrow] = from_batch
        source.loc[borrow[from_batch.notna().all(axis=1).to_numpy()]] = "batch"
    elif fallback != "none":
        raise DataError(f"fallback must be 'batch' or 'none', not {fallback!r}")
    lacking = plates[source.to_numpy() == ""]
    if len(lacking):
        n_profiles = int(treated.rna_plate.isin(lacking).sum())
        where = "on the plate or in its batch" if fallback == "batch" else "on the plate"
        if on_missing == "error":
            raise DataError(
                f"{len(lacking)} plates have no vehicle-control wells {where} (e.g. {lacking[:3].tolist()}), "
                f"so their {n_profiles} treated profiles have no basal state; use on_missing='drop' to leave them out"
            )
        if on_missing != "drop":
            raise DataError(f"on_missing must be 'error' or 'drop', not {on_missing!r}")
        log.warning("dropped %d treated profiles on %d plates without controls %s", n_profiles, len(lacking), where)
    kept = source.index[source.to_numpy() != ""]
    return basal.loc[kept], source.loc[kept]


def pair_block(block: pd.DataFrame, design: pd.DataFrame, basal: pd.DataFrame, source: pd.Series) -> pd.DataFrame:
    """Pairs for one genes × treated-instances block: metadata, ``basal:<gene>`` and ``perturbed:<gene>`` columns."""
    meta = design.loc[block.columns]
    meta = meta[meta.rna_plate.isin(basal.index)]
    genes = block.index.astype(str)
    g0 = basal.reindex(columns=block.index).loc[meta.rna_plate].to_numpy(dtype=np.float32)
    gc = block[meta.index].T.to_numpy(dtype=np.float32)
    profiles = pd.DataFrame(
        np.hstack([g0, gc]),
        index=meta.index,
        columns=[*(BASAL_PREFIX + genes), *(PERTURBED_PREFIX + genes)],
    )
    head = meta.assign(basal_source=source.loc[meta.rna_plate].to_numpy())[META_COLUMNS]
    return pd.concat([head, profiles], axis=1)


def _landmarks(landmark_ids: Iterable[object]) -> list[str]:
    ids = [str(g) for g in landmark_ids]
    if not ids:
        raise DataError("no landmark genes given: pairs need at least one gene")
    return ids


def pretraining_pairs(
    level3: pd.DataFrame,
    inst_info: pd.DataFrame,
    landmark_ids: Iterable[object],
    *,
    fallback: Fallback = "batch",
    on_missing: OnMissing = "error",
    batch_pattern: str = BATCH_PATTERN,
) -> pd.DataFrame:
    """One row per compound-treated profile of ``level3`` (genes × instances) with its plate's basal profile.

    Columns: pert_id, cell_id, dose_um, time_h, rna_plate, basal_source ("plate" or "batch"),
    then ``basal:<gene>`` and ``perturbed:<gene>`` for the landmarks in the order given.
    """
    genes = _landmarks(landmark_ids)
    index = level3.index.astype(str)
    absent = [g for g in genes if g not in set(index)]
    if absent:
        raise DataError(f"{len(absent)} landmark genes are not rows of the level-3 matrix, e.g. {absent[:5]}")
    values = level3.set_axis(index).loc[genes].set_axis(level3.columns.astype(str), axis=1)
    design = treatment_design(inst_info, batch_pattern=batch_pattern)
    design = design[design.index.isin(values.columns)]
    controls = design.index[design.role == "control"]
    sums = ControlSums.of(values[controls], design.rna_plate)
    basal, source = basal_profiles(sums, design, fallback, on_missing)
    return pair_block(values[design.index[design.role == "treated"]], design, basal, source)


def iter_pretraining_pairs(
    level3: str | Path | GctxSet,
    inst_info: pd.DataFrame,
    landmark_ids: Iterable[object],
    *,
    chunk_size: int = 10_000,
    fallback: Fallback = "batch",
    on_missing: OnMissing = "error",
    batch_pattern: str = BATCH_PATTERN,
) -> Iterator[pd.DataFrame]:
    """``pretraining_pairs`` over a level-3 GCTX, streamed: memory holds one column chunk plus per-plate sums.

    Yields frames of at most ``chunk_size`` pairs (same columns as ``pretraining_pairs``),
    treated instances in file order. Missing controls are detected before the first chunk.
    """
    genes = _landmarks(landmark_ids)
    matrix = as_matrix(level3)
    file_ids = pd.Index(matrix.col_ids())
    design = treatment_design(inst_info, batch_pattern=batch_pattern)
    design = design.loc[file_ids[file_ids.isin(design.index)]]  # file order: each HDF5 chunk is read once
    controls = design.index[design.role == "control"]
    sums = ControlSums(pd.DataFrame(columns=genes, dtype=np.float64), pd.Series(dtype=np.int64))
    for block in matrix.iter_columns(chunk_size, rids=genes, cids=controls):
        sums = sums + ControlSums.of(block, design.rna_plate)
    basal, source = basal_profiles(sums, design, fallback, on_missing)
    treated = design.index[(design.role == "treated") & design.rna_plate.isin(basal.index)]
    for block in matrix.iter_columns(chunk_size, rids=genes, cids=treated):
        yield pair_block(block, design, basal, source)


def pretraining_arrays(pairs: pd.DataFrame, structures: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CSG2A's pretraining inputs and targets from a pairs table and compound features (pert_id × features).

    x = [basal profile | structure features | dose / 100 µM, time / 72 h], y = the perturbed
    profile, and the gene ids in column order. Pairs whose compound has no features (no
    parsable structure) are dropped with a logged count; none left is an error.
    """
    basal_cols = [c for c in pairs.columns if c.startswith(BASAL_PREFIX)]
    genes = [c.removeprefix(BASAL_PREFIX) for c in basal_cols]
    known = pairs.pert_id.astype(str).isin(structures.index.astype(str))
    if not known.any():
        raise DataError(f"none of the {len(pairs)} pairs' compounds has structure features")
    if not known.all():
        log.warning("dropped %d of %d pairs whose compound has no structure features", int((~known).sum()), len(pairs))
    kept = pairs[known.to_numpy()]
    features = structures.set_axis(structures.index.astype(str)).loc[kept.pert_id.astype(str)].to_numpy(np.float64)
    x = np.hstack([kept[basal_cols].to_numpy(np.float64), features, scale_conditions(kept.dose_um, kept.time_h)])
    return x, kept[[PERTURBED_PREFIX + g for g in genes]].to_numpy(np.float64), genes
