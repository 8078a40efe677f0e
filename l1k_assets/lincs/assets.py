"""LINCS assets per release: raw files, gene table, signature and instance metadata, level 3 and level 5.

A release is a GEO series (GSE92742, GSE70138) or a CLUE build (LINCS2020). Level-3/5 matrices
stay GCTX on disk (a real level-5 file is tens of GB; LINCS 2020 ships one per perturbagen
type); their assets are tables of one row per file that point at the verified files and say
their shapes, so downstream code streams them in chunks as one matrix (``GctxSet``).
"""

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets.asset_utils import file_path, json_metadata, markdown_table, record_files
from l1k_assets.fileio import file_digest
from l1k_assets.lincs.derive import MatrixCheck, derive_level5, validate_matrix
from l1k_assets.lincs.gctx_set import GctxSet
from l1k_assets.lincs.metadata import join_signature_metadata, read_gene_info, read_lincs_table
from l1k_assets.lincs.release_files import Level, fetch_release, matrix_paths
from l1k_assets.lincs.releases import release_kind
from l1k_assets.partitions import release_partitions
from l1k_assets.sources.fetch_set import fetch_directory
from l1k_assets.sources.listing import LINCS_GEO_ROLES
from resources.data_source import DataSource

REFERENCE_RELEASE = "GSE92742"  # its gene table defines the 978 landmarks used everywhere


class ReleaseFileSettings(dg.Config):
    """Which of a CLUE build's per-type matrices to fetch (GEO releases ship one file per level)."""

    parts: list[str] = Field(
        default_factory=list,
        description="perturbagen-type files to keep: trt_cp, trt_sh, trt_oe, trt_xpr, trt_misc, ctl (every control); empty: all",
    )


def _release_files(context: dg.AssetExecutionContext, data_source: DataSource, level: Level, parts: list[str]) -> pd.DataFrame:
    location = data_source.release_location(context.partition_key)
    files = fetch_release(data_source.downloader(), location, level, parts, warn=context.log.warning)
    unchecked = files.loc[(files.checksum_verified == "") & (files.role != "checksums"), "name"].tolist()
    parts_kept = sorted(set(files.part) - {""})
    facts = {"release": location.release, "kind": location.kind, "mode": data_source.mode, "parts": parts_kept}
    return record_files(context, files, **facts, files_without_published_checksum=unchecked, verify=location.verify)


@dg.asset(group_name="lincs", code_version="1", kinds={"geo"})
def raw_lincs_gene_info(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The reference release's gene table (GSE92742), which names the 978 landmark genes."""
    location = data_source.release_location(REFERENCE_RELEASE)
    roles = {k: LINCS_GEO_ROLES[k] for k in ("gene_info", "checksums")}
    files = fetch_directory(data_source.downloader(), location.url, roles, location.unpack_dir, frozenset({"checksums"}))
    return record_files(context, files, release=REFERENCE_RELEASE, mode=data_source.mode)


@dg.asset(group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_landmark_genes(context: dg.AssetExecutionContext, raw_lincs_gene_info: pd.DataFrame) -> pd.DataFrame:
    """The landmark genes (``pr_is_lm``), in gene-table order: the feature space of every model."""
    genes = read_gene_info(file_path(raw_lincs_gene_info, "gene_info"))
    landmarks = genes.loc[genes.is_landmark, ["gene_id", "gene_symbol"]].reset_index(drop=True)
    context.add_output_metadata(json_metadata(n_landmarks=len(landmarks), n_genes=len(genes)))
    return landmarks


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="2", kinds={"geo"})
def raw_lincs_files(context: dg.AssetExecutionContext, config: ReleaseFileSettings, data_source: DataSource) -> pd.DataFrame:
    """A release's metadata tables and level-5 matrices, verified (GEO: its SHA512SUMS list; CLUE: the MD5 table).

    A GEO release that ships no level 5 brings its level 3 here, to derive level 5 from.
    """
    return _release_files(context, data_source, 5, config.parts)


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"geo"})
def raw_lincs_level3(context: dg.AssetExecutionContext, config: ReleaseFileSettings, data_source: DataSource) -> pd.DataFrame:
    """A release's level-3 matrices (the bulk of a release: fetched only for what needs level 3), verified."""
    return _release_files(context, data_source, 3, config.parts)


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_lincs_genes(context: dg.AssetExecutionContext, raw_lincs_files: pd.DataFrame) -> pd.DataFrame:
    """The release's gene table with normalised columns (gene_id, gene_symbol, is_landmark)."""
    genes = read_gene_info(file_path(raw_lincs_files, "gene_info"))
    context.add_output_metadata(json_metadata(n_landmarks=int(genes.is_landmark.sum()), n_genes=len(genes)))
    return genes


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_lincs_signatures(context: dg.AssetExecutionContext, raw_lincs_files: pd.DataFrame) -> pd.DataFrame:
    """Level-5 signature metadata joined with compound and cell-line annotations."""
    sigs = join_signature_metadata(
        read_lincs_table(file_path(raw_lincs_files, "sig_info"), "sig_info"),
        read_lincs_table(file_path(raw_lincs_files, "pert_info"), "pert_info"),
        read_lincs_table(file_path(raw_lincs_files, "cell_info"), "cell_info"),
    )
    context.add_output_metadata(
        json_metadata(
            n_compounds=int(sigs.pert_id[sigs.pert_type == "trt_cp"].nunique()),
            n_cell_lines=int(sigs.cell_id.nunique()),
            pert_types=sigs.pert_type.value_counts().to_dict(),
        )
    )
    return sigs


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_lincs_instances(context: dg.AssetExecutionContext, raw_lincs_files: pd.DataFrame) -> pd.DataFrame:
    """Level-3 instance (well) metadata: plate, perturbation, dose, time, cell line."""
    inst = read_lincs_table(file_path(raw_lincs_files, "inst_info"), "inst_info")
    context.add_output_metadata(
        json_metadata(n_plates=int(inst.rna_plate.nunique()), pert_types=inst.pert_type.value_counts().to_dict())
    )
    return inst


def _matrix_table(role: str, files: pd.DataFrame | None, paths: list[Path], check: MatrixCheck, derived: bool) -> pd.DataFrame:
    """One row per matrix file: its part, path, sha256 (the fetched one when the file is used in place) and shape."""
    fetched = (
        {} if files is None else {Path(p): (s, part) for p, s, part in zip(files.path, files.sha256, files.part, strict=True)}
    )
    rows = []
    for path, (_, ids) in zip(paths, GctxSet.of(paths).columns_by_file(), strict=True):
        sha256, part = fetched.get(path, (file_digest(path), ""))
        rows.append(
            {
                "role": role,
                "part": part,
                "path": str(path),
                "sha256": sha256,
                "n_genes": check.n_genes,
                "n_columns": len(ids),
                "derived": derived,
            }
        )
    return pd.DataFrame(rows)


def _matrix_metadata(table: pd.DataFrame, check: MatrixCheck, what: str) -> dict[str, dg.MetadataValue]:
    return {
        "files": markdown_table(table.set_index("part")[["n_columns", "path"]])
        if len(table) > 1
        else dg.MetadataValue.text(table.path.iloc[0]),
        **json_metadata(
            n_genes=check.n_genes, **{f"n_{what}": check.n_columns}, **{f"{what}_without_data": len(check.without_data)}
        ),
    }


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="2", kinds={"hdf5"})
def core_lincs_level3(
    context: dg.AssetExecutionContext,
    raw_lincs_level3: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    core_lincs_instances: pd.DataFrame,
) -> pd.DataFrame:
    """The level-3 GCTX files, checked against the gene and instance tables (ids, shapes, names)."""
    paths = matrix_paths(raw_lincs_level3, "level3")
    complete = release_kind(context.partition_key) == "geo"
    check = validate_matrix(GctxSet.of(paths), core_lincs_genes.gene_id.astype(str), core_lincs_instances.inst_id, complete)
    table = _matrix_table("level3", raw_lincs_level3, paths, check, derived=False)
    context.add_output_metadata(_matrix_metadata(table, check, "instances"))
    return table


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="2", kinds={"hdf5"})
def core_lincs_level5(
    context: dg.AssetExecutionContext,
    data_source: DataSource,
    raw_lincs_files: pd.DataFrame,
    core_lincs_instances: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
) -> pd.DataFrame:
    """Level-5 signatures: the release's own files when it ships them, else derived from its level 3 the CMap way
    (robust z against each plate, then the MODZ consensus of replicates), streamed plate family by family."""
    derived = "level5" not in set(raw_lincs_files.role)
    if derived:
        dest = data_source.release_location(context.partition_key).unpack_dir / "derived_level5_modz.gctx"
        derive_level5(GctxSet.of(matrix_paths(raw_lincs_files, "level3")), core_lincs_instances, core_lincs_signatures, dest)
        paths = [dest]
    else:
        paths = matrix_paths(raw_lincs_files, "level5")
    complete = release_kind(context.partition_key) == "geo"
    check = validate_matrix(GctxSet.of(paths), core_lincs_genes.gene_id.astype(str), core_lincs_signatures.sig_id, complete)
    if check.without_data:
        context.log.warning(f"{len(check.without_data)} signatures of sig_info are in none of the level-5 files kept")
    table = _matrix_table("level5", None if derived else raw_lincs_files, paths, check, derived)
    context.add_output_metadata({**_matrix_metadata(table, check, "signatures"), **json_metadata(derived=derived)})
    return table
