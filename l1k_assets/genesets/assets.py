"""Gene-set library assets: the GMT files enrichment runs against, fetched and verified."""

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets.asset_utils import record_files
from l1k_assets.genesets.gmt import read_gmt
from l1k_assets.sources.fetch_set import fetch_urls
from l1k_assets.sources.layout import DEFAULT_GENE_SET_FILES, msigdb_url
from resources.data_source import DataSource


class GeneSetConfig(dg.Config):
    """Which libraries to use: MSigDB file names (under the gene-set base URL), full URLs or local paths."""

    libraries: list[str] = Field(default_factory=lambda: list(DEFAULT_GENE_SET_FILES))


def library_url(data_source: DataSource, library: str) -> str:
    """A library given by file name resolves under the configured gene-set base; URLs and paths stay as they are."""
    if "://" in library:
        return library
    if library.startswith("/"):
        return f"file://{library}"
    return msigdb_url(data_source.base_url("genesets"), library)


@dg.asset(group_name="reference", code_version="1", kinds={"gmt"})
def raw_gene_sets(context: dg.AssetExecutionContext, config: GeneSetConfig, data_source: DataSource) -> pd.DataFrame:
    """The gene-set libraries (Hallmark, KEGG, Reactome by default), one row per file, each parsed once to check it."""
    files = fetch_urls(
        data_source.downloader(), {lib.rsplit("/", 1)[-1]: library_url(data_source, lib) for lib in config.libraries}
    )
    sizes = {row.role: len(read_gmt(row.path)) for row in files.itertuples()}
    return record_files(context, files, gene_sets_per_library=sizes)
