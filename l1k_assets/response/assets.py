"""Drug-response source assets: GDSC screens and expression, STRING edges, compound annotations."""

import dagster as dg
import pandas as pd

from l1k_assets.asset_utils import files_metadata
from l1k_assets.sources.fetch_set import fetch_urls
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GDSC_SMILES_FILE,
    clue_repurposing_url,
    gdsc_url,
    string_url,
)
from resources.data_source import DataSource


def _fetched(context: dg.AssetExecutionContext, data_source: DataSource, urls: dict[str, str]) -> pd.DataFrame:
    files = fetch_urls(data_source.downloader(), urls)
    context.add_output_metadata(files_metadata(files))
    return files


@dg.asset(group_name="response", code_version="1", kinds={"csv"})
def raw_gdsc(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """GDSC2 fitted dose response (LN_IC50), screened compounds, basal RMA expression and drug SMILES."""
    base = data_source.base_url("gdsc")
    names = {
        "response": GDSC_RESPONSE_FILE,
        "compounds": GDSC_COMPOUNDS_FILE,
        "expression": GDSC_EXPRESSION_FILE,
        "smiles": GDSC_SMILES_FILE,
    }
    return _fetched(context, data_source, {role: gdsc_url(base, name) for role, name in names.items()})


@dg.asset(group_name="response", code_version="1", kinds={"string"})
def raw_ppi(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """STRING human protein links (combined scores) and protein info (ENSP -> gene symbol)."""
    base = data_source.base_url("string")
    return _fetched(context, data_source, {kind: string_url(base, kind) for kind in ("links", "info")})


@dg.asset(group_name="response", code_version="1", kinds={"clue"})
def raw_compounds(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The Drug Repurposing Hub's drug (MoA, target) and sample (broad id) tables."""
    base = data_source.base_url("clue")
    return _fetched(context, data_source, {table: clue_repurposing_url(base, table) for table in ("drugs", "samples")})
