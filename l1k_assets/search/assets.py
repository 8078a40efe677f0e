"""Signature search assets: a per-release rank index of level 5, and the cancer types' consensus queries."""

import time
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets.asset_utils import json_metadata
from l1k_assets.indication.connectivity import consensus_query
from l1k_assets.indication.deltas import consensus_deltas
from l1k_assets.lincs.assets import release_partitions
from l1k_assets.search.rank_index import RankIndex, build_rank_index
from resources.data_source import DataSource
from resources.home import home_dir

GROUP = "search"
INDEX_FILE = "signature_ranks.h5"


class IndexSettings(dg.Config):
    """What the rank index holds and how the level-5 file is streamed into it."""

    landmarks_only: bool = Field(False, description="rank among the landmarks only, as CMap's landmark-space queries do")
    extreme_n: int = Field(100, description="top/bottom genes per signature behind XCos (fixed at build time)")
    chunk_size: int = Field(10_000, description="signatures read from the GCTX at a time (bounds memory)")


@dg.asset(
    partitions_def=release_partitions,
    group_name=GROUP,
    code_version="1",
    kinds={"hdf5"},
    automation_condition=dg.AutomationCondition.eager(),
)
def core_signature_ranks(
    context: dg.AssetExecutionContext,
    config: IndexSettings,
    data_source: DataSource,
    core_lincs_level5: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
) -> pd.DataFrame:
    """Per-signature gene ranks (int16) and scores of the release's level 5, gene-major so a query reads only its genes."""
    source = Path(core_lincs_level5.path.iloc[0])
    dest = home_dir(data_source.home) / "indexes" / context.partition_key / INDEX_FILE
    genes = core_lincs_genes.loc[core_lincs_genes.is_landmark, "gene_id"].astype(str).tolist() if config.landmarks_only else None
    started = time.perf_counter()
    build_rank_index(source, dest, genes, config.extreme_n, config.chunk_size)
    seconds = time.perf_counter() - started
    with RankIndex(dest) as index:
        row = {
            "path": str(dest),
            "n_genes": index.n_genes,
            "n_signatures": index.n_signatures,
            "extreme_n": index.extreme_n,
            "landmarks_only": config.landmarks_only,
            "source_path": str(source),
            "source_sha256": index.header["source_sha256"],
            "build_seconds": seconds,
            "bytes": dest.stat().st_size,
        }
    context.add_output_metadata(json_metadata(**row, signatures_per_second=row["n_signatures"] / max(seconds, 1e-9)))
    return pd.DataFrame([row])


class ConsensusSettings(dg.Config):
    """Genes per direction in each cancer type's consensus query (as in out_connectivity_scores)."""

    n_query_genes: int = 50


@dg.asset(group_name=GROUP, code_version="1", kinds={"pandas"})
def out_consensus_queries(
    context: dg.AssetExecutionContext, config: ConsensusSettings, core_tumor_normal_deltas: pd.DataFrame
) -> pd.DataFrame:
    """Each cancer type's disease signature by name: up = genes higher in tumor than normal, down = lower.

    Queried the CMap way, compounds whose signatures anti-correlate with it (negative WTCS,
    ``direction="reverse"``) are candidate reversers; ``out_connectivity_scores`` reads the same
    consensus with the opposite sign (normal − tumor), where reversers score positive.
    """
    consensus = consensus_deltas(core_tumor_normal_deltas)
    rows = []
    for cancer_type in consensus.index:
        down, up = consensus_query(consensus.loc[cancer_type], config.n_query_genes)  # deltas are normal − tumor
        rows += [{"cancer_type": cancer_type, "direction": "up", "rank": i + 1, "gene_symbol": g} for i, g in enumerate(up)]
        rows += [{"cancer_type": cancer_type, "direction": "down", "rank": i + 1, "gene_symbol": g} for i, g in enumerate(down)]
    table = pd.DataFrame(rows)
    context.add_output_metadata(json_metadata(cancer_types=consensus.index.tolist(), genes_per_direction=config.n_query_genes))
    return table
