"""Derive level 5 from level 3 for releases that ship only level 3, with bounded memory.

CMap's level 4 is a robust z-score of each profile against its plate's population, and level 5
the MODZ consensus of a signature's replicates, which sit on sibling plates (X1, X2, X3). So
the unit of work is a *plate family*: plates linked by shared signatures. Each family is read,
z-scored plate by plate, collapsed to signatures and appended to the output GCTX before the
next family is read: memory is bounded by one family, not by the release.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.lincs.gctx import GctxAppender, read_gctx_ids
from l1k_assets.lincs.gctx_set import GctxSet, as_matrix, check_named_shape
from l1k_assets.lincs.levels import level5_from_level4, robust_zscore


def replicate_map(signatures: pd.DataFrame) -> pd.Series:
    """inst_id -> sig_id, from each signature's pipe-separated ``distil_id`` list."""
    exploded = (
        signatures[["sig_id", "distil_id"]].assign(inst_id=signatures.distil_id.astype(str).str.split("|")).explode("inst_id")
    )
    dup = exploded.inst_id[exploded.inst_id.duplicated()]
    if not dup.empty:
        raise DataError(f"instances {dup.unique()[:5].tolist()} belong to more than one signature in sig_info")
    return exploded.set_index("inst_id").sig_id


def plate_families(instances: pd.DataFrame, replicates: pd.Series) -> Iterator[list[str]]:
    """Groups of plates connected by signatures whose replicates span them (union-find over plates)."""
    parent: dict[str, str] = {p: p for p in instances.rna_plate.astype(str).unique()}

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    plate_of = instances.set_index("inst_id").rna_plate.astype(str)
    linked = pd.DataFrame({"sig": replicates, "plate": plate_of.reindex(replicates.index)}).dropna()
    for plates in linked.groupby("sig").plate.unique():
        root = find(plates[0])
        for other in plates[1:]:
            parent[find(other)] = root
    families: dict[str, list[str]] = {}
    for plate in parent:
        families.setdefault(find(plate), []).append(plate)
    yield from families.values()


def derive_level5(level3: GctxSet, instances: pd.DataFrame, signatures: pd.DataFrame, dest: Path, mad_floor: float = 0.1) -> None:
    """Write the level-5 (MODZ) GCTX of every signature in ``signatures`` to ``dest``, atomically."""
    replicates = replicate_map(signatures)
    level3 = as_matrix(level3)
    in_file = set(level3.col_ids())
    missing = sorted(set(replicates.index) - in_file)
    if missing:
        names = ", ".join(p.name for p in level3.paths)
        raise DataError(f"{names}: replicate instances {missing[:5]} of sig_info are not in the level-3 matrix")
    genes = level3.row_ids()
    plate_of = instances.set_index("inst_id").rna_plate.astype(str)
    with GctxAppender(dest, row_ids=genes) as out:
        for family in plate_families(instances, replicates):
            inst_ids = [i for i in plate_of.index[plate_of.isin(family)] if i in in_file]
            level4 = robust_zscore(level3.read(inst_ids, genes), plate_of.loc[inst_ids].to_numpy(), mad_floor=mad_floor)
            members = [i for i in inst_ids if i in replicates.index]
            if members:
                out.append(level5_from_level4(level4[members], replicates.loc[members]))


@dataclass(frozen=True)
class MatrixCheck:
    """A level's shape as validated, and the metadata rows it holds no data for."""

    n_genes: int
    n_columns: int
    without_data: list[str]  # metadata ids no file holds (a release restricted to some perturbagen types)


def validate_matrix(
    matrix: GctxSet, gene_ids: Sequence[str], column_ids: Sequence[str], require_every_column: bool = True
) -> MatrixCheck:
    """Check each file's rows are the gene table's and every column is a row of the metadata table.

    Also checks each file's name states its real shape. ``require_every_column`` makes a
    metadata row that no file holds an error too (a release shipped as one file must hold all
    of them); without it such rows are counted, as when only some perturbagen types are kept.
    """
    genes = {str(g) for g in gene_ids}
    expected = pd.Index(pd.unique(pd.Series([str(c) for c in column_ids])))
    columns = 0
    seen: set[str] = set()
    for path, cols in matrix.columns_by_file():
        check_named_shape(path)
        rows = set(read_gctx_ids(path, "row"))
        if rows != genes:
            extra, lacking = sorted(rows - genes), sorted(genes - rows)
            raise DataError(
                f"{path.name}: row ids differ from the gene table "
                f"({len(extra)} not in the table, e.g. {extra[:3]}; {len(lacking)} missing, e.g. {lacking[:3]})"
            )
        unknown = pd.Index(cols).difference(expected)
        if len(unknown):
            raise DataError(f"{path.name}: {len(unknown)} column ids are not in the metadata table, e.g. {sorted(unknown)[:3]}")
        columns += len(cols)
        seen.update(cols)
    without = [c for c in expected if c not in seen]
    if without and require_every_column:
        names = ", ".join(p.name for p in matrix.paths)
        raise DataError(f"{names}: column ids differ from the metadata table ({len(without)} missing, e.g. {without[:3]})")
    return MatrixCheck(len(genes), columns, without)
