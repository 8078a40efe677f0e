"""LINCS assets per release: raw files, gene table, signature and instance metadata, level 3 and level 5.

Level-3/5 matrices stay GCTX on disk (a real level-5 file is tens of GB); their assets are
one-row tables that point at the verified file and say its shape, so downstream code streams
them in chunks.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from l1k_assets.asset_utils import file_path, files_metadata, json_metadata
from l1k_assets.fileio import file_digest
from l1k_assets.geo.catalog import validate_accession
from l1k_assets.lincs.derive import derive_level5, validate_matrix
from l1k_assets.lincs.metadata import join_signature_metadata, read_gene_info, read_lincs_table
from l1k_assets.sources.fetch_set import fetch_directory
from l1k_assets.sources.layout import geo_suppl_url
from l1k_assets.sources.listing import LINCS_GEO_ROLES, OPTIONAL_LINCS_ROLES, pick_files
from resources.data_source import DataSource
from resources.home import home_dir

release_partitions = dg.DynamicPartitionsDefinition(name="lincs_release")
REFERENCE_RELEASE = "GSE92742"  # its gene table defines the 978 landmarks used everywhere


def release_dir_url(data_source: DataSource, release: str) -> str:
    """The GEO supplementary folder of a LINCS release (GSE92742, GSE70138, or the embedded mirror's)."""
    validate_accession(release, "GSE")
    return geo_suppl_url(data_source.base_url("geo"), release, "").rstrip("/")


def _release_files(
    context: dg.AssetExecutionContext, data_source: DataSource, release: str, roles: dict[str, str]
) -> pd.DataFrame:
    files = fetch_directory(
        data_source.downloader(),
        release_dir_url(data_source, release),
        roles,
        home_dir(data_source.home) / "releases" / release,
        optional=OPTIONAL_LINCS_ROLES,
    )
    context.add_output_metadata({**files_metadata(files), **json_metadata(release=release, mode=data_source.mode)})
    return files


@dg.asset(group_name="lincs", code_version="1", kinds={"geo"})
def raw_lincs_gene_info(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The reference release's gene table (GSE92742), which names the 978 landmark genes."""
    roles = {k: LINCS_GEO_ROLES[k] for k in ("gene_info", "checksums")}
    return _release_files(context, data_source, REFERENCE_RELEASE, roles)


@dg.asset(group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_landmark_genes(context: dg.AssetExecutionContext, raw_lincs_gene_info: pd.DataFrame) -> pd.DataFrame:
    """The landmark genes (``pr_is_lm``), in gene-table order: the feature space of every model."""
    genes = read_gene_info(file_path(raw_lincs_gene_info, "gene_info"))
    landmarks = genes.loc[genes.is_landmark, ["gene_id", "gene_symbol"]].reset_index(drop=True)
    context.add_output_metadata(json_metadata(n_landmarks=len(landmarks), n_genes=len(genes)))
    return landmarks


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"geo"})
def raw_lincs_files(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """Every file of one LINCS release, verified against the release's published SHA512SUMS list."""
    return _release_files(context, data_source, context.partition_key, LINCS_GEO_ROLES)


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_lincs_genes(context: dg.AssetExecutionContext, raw_lincs_files: pd.DataFrame) -> pd.DataFrame:
    """The release's gene table with normalised columns (gene_id, gene_symbol, is_landmark)."""
    genes = read_gene_info(file_path(raw_lincs_files, "gene_info"))
    context.add_output_metadata(json_metadata(n_landmarks=int(genes.is_landmark.sum())))
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
            n_compounds=int(sigs.pert_id.nunique()),
            n_cell_lines=int(sigs.cell_id.nunique()),
            pert_types=sigs.pert_type.value_counts().to_dict(),
        )
    )
    return sigs


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"pandas", "parquet"})
def core_lincs_instances(context: dg.AssetExecutionContext, raw_lincs_files: pd.DataFrame) -> pd.DataFrame:
    """Level-3 instance (well) metadata: plate, perturbation, dose, time, cell line."""
    inst = read_lincs_table(file_path(raw_lincs_files, "inst_info"), "inst_info")
    context.add_output_metadata(json_metadata(n_plates=int(inst.rna_plate.nunique())))
    return inst


def _matrix_row(role: str, path: Path, n_genes: int, n_cols: int, derived: bool) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "role": role,
                "path": str(path),
                "sha256": file_digest(path),
                "n_genes": n_genes,
                "n_columns": n_cols,
                "derived": derived,
            }
        ]
    )


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"hdf5"})
def core_lincs_level3(
    context: dg.AssetExecutionContext,
    raw_lincs_files: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    core_lincs_instances: pd.DataFrame,
) -> pd.DataFrame:
    """The level-3 GCTX, checked against the gene and instance tables (ids, shape)."""
    path = Path(file_path(raw_lincs_files, "level3"))
    n_genes, n_cols = validate_matrix(path, core_lincs_genes.gene_id.astype(str), core_lincs_instances.inst_id)
    context.add_output_metadata(json_metadata(n_genes=n_genes, n_instances=n_cols, path=str(path)))
    return _matrix_row("level3", path, n_genes, n_cols, derived=False)


@dg.asset(partitions_def=release_partitions, group_name="lincs", code_version="1", kinds={"hdf5"})
def core_lincs_level5(
    context: dg.AssetExecutionContext,
    data_source: DataSource,
    raw_lincs_files: pd.DataFrame,
    core_lincs_level3: pd.DataFrame,
    core_lincs_instances: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
) -> pd.DataFrame:
    """Level-5 signatures: the release's own file when it ships one, else derived from level 3 the CMap way
    (robust z against each plate, then the MODZ consensus of replicates), streamed plate family by family."""
    shipped = pick_files(raw_lincs_files.name.tolist(), {"level5": LINCS_GEO_ROLES["level5"]}, "release", frozenset({"level5"}))
    if shipped:
        path = Path(file_path(raw_lincs_files, "level5"))
        derived = False
    else:
        path = home_dir(data_source.home) / "releases" / context.partition_key / "derived_level5_modz.gctx"
        derive_level5(Path(core_lincs_level3.path.iloc[0]), core_lincs_instances, core_lincs_signatures, path)
        derived = True
    n_genes, n_cols = validate_matrix(path, core_lincs_genes.gene_id.astype(str), core_lincs_signatures.sig_id)
    context.add_output_metadata(json_metadata(n_genes=n_genes, n_signatures=n_cols, derived=derived, path=str(path)))
    return _matrix_row("level5", path, n_genes, n_cols, derived)
