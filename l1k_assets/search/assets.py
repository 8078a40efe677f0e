"""Signature search assets: a per-release rank index of level 5, its reference null for τ, and the consensus queries."""

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets import plots
from l1k_assets.asset_utils import (
    blocking,
    check_result,
    file_path,
    image_metadata,
    json_metadata,
    markdown_table,
    progress_sink,
)
from l1k_assets.lincs.gctx_set import GctxSet
from l1k_assets.lincs.metadata import read_moa_table
from l1k_assets.lincs.releases import REFERENCE_COLUMNS, release_kind
from l1k_assets.partitions import release_partitions
from l1k_assets.progress import Progress
from l1k_assets.quality import reference_size
from l1k_assets.search.connectivity import SignatureFilter, SignatureTable
from l1k_assets.search.drug_sets import drug_set_enrichment, enrichment_plot
from l1k_assets.search.genespace import GeneSpace, format_report, index_space_genes
from l1k_assets.search.query_gmt import read_query_gmt
from l1k_assets.search.rank_index import RankIndex, build_rank_index
from l1k_assets.search.reference_null import ReferenceNull
from l1k_assets.search.session import (
    QueryOptions,
    QueryResult,
    batch_summary,
    batch_table,
    consensus_genes,
    queries_per_pass,
    read_gene_list,
    run_queries,
    run_query,
)
from l1k_assets.search.tau import build_reference_null, reference_mask
from resources.data_source import DataSource
from resources.home import home_dir

GROUP = "search"
INDEX_FILE = "signature_ranks.h5"


class IndexSettings(dg.Config):
    """What the rank index holds and how the level-5 files are streamed into it.

    Disk per signature: 6 bytes per gene indexed (int16 rank + float32 score). LINCS 2020's
    1,201,944 signatures take ~89 GB with all 12,328 genes, ~73 GB in BING space (10,174)
    and ~7 GB with the 978 landmarks; GSE92742's 473,647 take ~35 / ~29 / ~2.8 GB.
    """

    space: str = Field(
        "full",
        description="genes indexed: full (every gene), bing (landmarks + best inferred, what CLUE queries use) or landmark; "
        "ranks are then ranks among those genes",
    )
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
    """Per-signature gene ranks (int16) and scores of the release's level 5 (every file of it), gene-major so a query
    reads only its genes."""
    source = GctxSet.from_table(core_lincs_level5)
    dest = home_dir(data_source.home) / "indexes" / context.partition_key / INDEX_FILE
    genes = index_space_genes(core_lincs_genes, config.space)
    started = time.perf_counter()
    build_rank_index(source, dest, genes, config.extreme_n, config.chunk_size)
    seconds = time.perf_counter() - started
    with RankIndex(dest) as index:
        row = {
            "path": str(dest),
            "n_genes": index.n_genes,
            "n_signatures": index.n_signatures,
            "extreme_n": index.extreme_n,
            "space": config.space,
            "source_path": ", ".join(str(p) for p in source.paths),
            "source_sha256": index.header["source_sha256"],
            "build_seconds": seconds,
            "bytes": dest.stat().st_size,
        }
        sources = pd.DataFrame(index.header["sources"])
    context.add_output_metadata(
        {
            **json_metadata(**row, signatures_per_second=row["n_signatures"] / max(seconds, 1e-9)),
            "sources": markdown_table(sources.set_index("name")),
        }
    )
    return pd.DataFrame([row])


class ReferenceSettings(dg.Config):
    """Which signatures are the reference (CLUE's Touchstone) and how its τ null is sampled."""

    reference_column: str = Field(
        "",
        description="sig_info/pert_info flag (1/0) marking reference signatures; empty: the release's own "
        "(is_touchstone on GEO releases, is_exemplar_sig on LINCS 2020, as CLUE's query app uses)",
    )
    space: str = Field("bing", description="gene space of the reference queries: 'bing' (CLUE's) or 'landmark'")
    query_size: int = Field(100, description="top and bottom space genes per reference query (at most a quarter of the space)")
    max_queries: int = Field(200, description="reference signatures used as queries (seeded sample; each scans the index)")
    max_values: int = Field(1_000_000, description="null values kept per perturbagen type (an even quantile grid beyond)")
    min_signatures: int = Field(20, description="blocking check: reference signatures needed per perturbagen type")
    min_queries: int = Field(5, description="blocking check: reference queries needed per perturbagen type")
    seed: int = 0


@dg.asset(
    partitions_def=release_partitions,
    group_name=GROUP,
    code_version="1",
    kinds={"pandas", "parquet"},
    check_specs=blocking("core_reference_null", "reference_size"),
    automation_condition=dg.AutomationCondition.eager(),
)
def core_reference_null(
    context: dg.AssetExecutionContext,
    config: ReferenceSettings,
    core_signature_ranks: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """|NCS| of reference queries against the reference signatures, per perturbagen type: what τ is a percentile of."""
    with RankIndex(core_signature_ranks.path.iloc[0]) as index:
        signatures = SignatureTable.align(index, core_lincs_signatures)
        column = config.reference_column or REFERENCE_COLUMNS[release_kind(context.partition_key)]
        reference = reference_mask(signatures.meta, column)
        space = GeneSpace(core_lincs_genes, index.gene_ids, config.space)  # type: ignore[arg-type]
        progress = Progress("reference queries", None, progress_sink(context))
        null, summary = build_reference_null(
            index,
            signatures,
            reference,
            space.usable_ids(),
            config.query_size,
            config.max_queries,
            config.max_values,
            config.seed,
            progress=lambda done, total: progress.update(done, total=total),
        )
    table = null.to_table()
    png = plots.histograms(
        {f"|NCS|, {t}": (v, None) for t, v in null.values.items()}, "Reference null per perturbagen type", ylabel="values"
    )
    metadata = {
        "per_type": markdown_table(summary.set_index("pert_type")),
        "null_histogram": image_metadata(png, "reference null"),
        **json_metadata(
            n_values=len(table),
            query_size=summary.attrs["query_size"],
            gene_space=space.describe(),
            reference_column=column,
            index_sha256=str(core_signature_ranks.source_sha256.iloc[0]),
            seconds=progress.elapsed,
        ),
    }
    yield dg.Output(table, metadata=metadata)
    yield check_result("reference_size", reference_size(summary, config.min_signatures, config.min_queries))


class QueryShape(dg.Config):
    """How saved queries are scored and what is reported of their hits (shared by one query and a batch)."""

    method: str = Field("wtcs", description="wtcs (with NCS and τ), rges, xsum or xcos")
    top: int = 50
    direction: str = Field("reverse", description="reverse (most negative first) or mimic")
    space: str = Field("bing", description="gene space: bing or landmark")
    pert_types: list[str] = Field(default_factory=lambda: ["trt_cp"], description="signatures considered; empty = all")
    enrich: list[str] = Field(
        default_factory=lambda: ["moa", "target"], description="drug-set enrichment of the hits by moa, target, pert_type"
    )
    enrich_top: int = Field(20, description="perturbagens counted as hits by the hypergeometric test")
    enrich_permutations: int = Field(1000, description="permutations of the running-sum test (gseapy prerank)")

    def options(self) -> QueryOptions:
        return QueryOptions(
            method=self.method,  # type: ignore[arg-type]
            top=self.top,
            direction=self.direction,  # type: ignore[arg-type]
            filters=SignatureFilter(pert_types=self.pert_types) if self.pert_types else None,
            space=self.space,  # type: ignore[arg-type]
        )

    def enrichment(self, result: QueryResult, moa: pd.DataFrame) -> pd.DataFrame | None:
        """The drug-set enrichment of one query's ranked perturbagens (None when ``enrich`` is empty)."""
        if not self.enrich:
            return None
        key = str(result.description["ranked_by"])
        return drug_set_enrichment(
            result.perturbagens, key, self.direction, self.enrich, moa, None, self.enrich_top, self.enrich_permutations
        )


class QuerySettings(QueryShape):
    """One saved query: its name, its genes (files, as ``l1k query --up/--down`` reads them) or a cancer type."""

    name: str = Field("", description="shown on the asset page; default: the gene files' or cancer type's name")
    up_file: str = Field("", description="file of up-regulated genes (symbols, gene ids or Ensembl ids)")
    down_file: str = Field("", description="file of down-regulated genes")
    cancer_type: str = Field("", description="query this type's consensus disease signature (no files: the first type)")


def _query_genes(config: QuerySettings, queries: pd.DataFrame) -> tuple[str, list[str], list[str]]:
    """The query's name and genes: from the files, else from a cancer type's consensus (the first type by default)."""
    if bool(config.up_file) != bool(config.down_file):
        raise dg.Failure("a saved query needs both up_file and down_file, or neither (then a cancer type)")
    if config.up_file:
        name = config.name or f"{Path(config.up_file).stem} / {Path(config.down_file).stem}"
        return name, read_gene_list(config.up_file), read_gene_list(config.down_file)
    cancer_type = config.cancer_type or sorted(queries.cancer_type.unique())[0]
    return config.name or f"{cancer_type} consensus", *consensus_genes(queries, cancer_type)


@dg.asset(partitions_def=release_partitions, group_name=GROUP, code_version="1", kinds={"pandas", "parquet"})
def out_signature_query(
    context: dg.AssetExecutionContext,
    config: QuerySettings,
    core_signature_ranks: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    core_reference_null: pd.DataFrame,
    out_consensus_queries: pd.DataFrame,
    raw_compounds: pd.DataFrame,
) -> pd.DataFrame:
    """A saved CLUE-style query from its config: top signatures with τ, perturbagen and mechanism summaries, a plot."""
    name, up, down = _query_genes(config, out_consensus_queries)
    options = config.options()
    null = ReferenceNull.from_table(core_reference_null) if config.method == "wtcs" else None
    moa = read_moa_table(file_path(raw_compounds, "drugs"))
    progress = Progress("query · signatures", None, progress_sink(context))
    with RankIndex(core_signature_ranks.path.iloc[0]) as index:
        result = run_query(
            index, core_lincs_genes, core_lincs_signatures, up, down, options, null, moa, lambda done, _: progress.update(done)
        )
    enrichment = config.enrichment(result, moa)
    key = str(result.description["ranked_by"])
    hits = result.table.head(20)
    labels = hits.pert_iname.astype(str) + " · " + hits.cell_id.astype(str) if "pert_iname" in hits else hits.sig_id
    png = plots.bar_panels({name: pd.Series(hits[key].to_numpy(), index=labels.to_numpy())}, f"Top hits by {key}", key)
    context.add_output_metadata(
        {
            "top_hits": image_metadata(png, "top hits"),
            "perturbagens": markdown_table(result.perturbagens.head(10).set_index(result.perturbagens.columns[0])),
            "mechanisms": dg.MetadataValue.md(
                result.mechanisms.head(10).to_markdown(index=False) if len(result.mechanisms) else "none"
            ),
            "gene_report": dg.MetadataValue.md(format_report(result.genes)),
            **_enrichment_metadata(enrichment),
            **json_metadata(query=name, seconds=progress.elapsed, **result.description),
        }
    )
    return result.table


def _enrichment_metadata(table: pd.DataFrame | None) -> dict[str, dg.MetadataValue]:
    """The strongest drug sets and their plot, for an asset page (nothing without an enrichment)."""
    if table is None:
        return {}
    best = table.nsmallest(10, "fdr").drop(columns=[c for c in ("members_in_top", "leading_edge") if c in table.columns])
    return {
        "drug_sets": dg.MetadataValue.md(best.to_markdown(index=False, floatfmt=".4g")),
        "drug_set_plot": image_metadata(enrichment_plot(table, "Drug-set enrichment of the hits"), "drug sets"),
    }


class BatchQuerySettings(QueryShape):
    """Many saved queries scored in shared passes: a CLUE query GMT (``NAME_UP`` / ``NAME_DN``), or every cancer type's
    consensus query when no file is given."""

    gmt_file: str = Field("", description="query GMT file; empty: every cancer type's consensus reversal query")


@dg.asset(partitions_def=release_partitions, group_name=GROUP, code_version="1", kinds={"pandas", "parquet"})
def out_batch_query(
    context: dg.AssetExecutionContext,
    config: BatchQuerySettings,
    core_signature_ranks: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    core_reference_null: pd.DataFrame,
    out_consensus_queries: pd.DataFrame,
    raw_compounds: pd.DataFrame,
) -> pd.DataFrame:
    """A batch of queries in one pass over the release's index: every query's top signatures (a ``query`` column)."""
    if config.gmt_file:
        queries = read_query_gmt(config.gmt_file)
    else:
        queries = {c: consensus_genes(out_consensus_queries, c) for c in sorted(out_consensus_queries.cancer_type.unique())}
    null = ReferenceNull.from_table(core_reference_null) if config.method == "wtcs" else None
    moa = read_moa_table(file_path(raw_compounds, "drugs"))
    progress = Progress("batch query · signatures", None, progress_sink(context))
    with RankIndex(core_signature_ranks.path.iloc[0]) as index:
        per_pass = queries_per_pass(index.n_signatures)
        results = run_queries(
            index,
            core_lincs_genes,
            core_lincs_signatures,
            queries,
            config.options(),
            null,
            moa,
            lambda done, _: progress.update(done),
        )
    enrichments = {name: config.enrichment(result, moa) for name, result in results.items()}
    summary = batch_summary(results, enrichments)
    together = [t.assign(query=n) for n, t in enrichments.items() if t is not None]
    context.add_output_metadata(
        {
            "queries": markdown_table(summary.set_index("query")),
            **_enrichment_metadata(pd.concat(together, ignore_index=True) if together else None),
            **json_metadata(
                n_queries=len(results), queries_per_pass=per_pass, seconds=progress.elapsed, source=config.gmt_file or "consensus"
            ),
        }
    )
    return batch_table(results)
