"""Readers of the drug-response sources as fetched: GDSC2 responses, SMILES and expression, STRING links.

Each returns a plain table with text ids; a file that is not the table it should be is a
FormatError naming the file (and the line for a missing header column). Rows that cannot be
used (no symbol, a protein missing from STRING's info table) are dropped with a logged count.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.errors import FormatError

log = logging.getLogger("l1k.response")

EXPRESSION_PREFIX = "DATA."


def read_table(path: str | Path, required: Sequence[str], **options: Any) -> pd.DataFrame:
    """A delimited table with the ``required`` columns, else a FormatError naming the file."""
    try:
        table = pd.read_csv(path, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError) as err:
        raise FormatError(path, "a delimited table with a header line", found=str(err).strip()) from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise FormatError(path, f"columns {', '.join(required)}", line=1, found=f"no {', '.join(missing)}")
    return table


def read_gdsc_responses(path: str | Path) -> pd.DataFrame:
    """GDSC fitted dose response as (cell_line = COSMIC id, drug = DRUG_ID, ln_ic50), ids as text."""
    table = read_table(path, ["COSMIC_ID", "DRUG_ID", "LN_IC50"], dtype={"COSMIC_ID": str, "DRUG_ID": str})
    return pd.DataFrame(
        {
            "cell_line": table.COSMIC_ID.str.strip(),
            "drug": table.DRUG_ID.str.strip(),
            "ln_ic50": pd.to_numeric(table.LN_IC50, errors="coerce"),
        }
    )


def read_gdsc_drugs(path: str | Path) -> pd.DataFrame:
    """GDSC's drugs from its fitted dose-response table: DRUG_ID (index) → name and pathway (its mechanism class)."""
    columns = ["DRUG_ID", "DRUG_NAME", "PATHWAY_NAME"]
    table = read_table(path, columns, usecols=columns, dtype=str, keep_default_na=False).drop_duplicates("DRUG_ID")
    return pd.DataFrame(
        {"name": table.DRUG_NAME.str.strip().to_numpy(), "pathway": table.PATHWAY_NAME.str.strip().to_numpy()},
        index=pd.Index(table.DRUG_ID.str.strip().to_numpy(), name="drug"),
    )


def read_gdsc_identities(compounds_path: str | Path, smiles_path: str | Path) -> pd.DataFrame:
    """GDSC's drugs with what identifies them elsewhere: drug (DRUG_ID), name, synonyms, PubChem CID (text, '' if none)."""
    compounds = read_table(compounds_path, ["DRUG_ID", "DRUG_NAME", "SYNONYMS"], dtype=str, keep_default_na=False)
    cids = read_table(smiles_path, ["DRUG_ID", "PUBCHEM_CID"], dtype=str, keep_default_na=False)
    pubchem = cids.assign(DRUG_ID=cids.DRUG_ID.str.strip()).drop_duplicates("DRUG_ID").set_index("DRUG_ID").PUBCHEM_CID
    drug = compounds.DRUG_ID.str.strip()
    return pd.DataFrame(
        {
            "drug": drug.to_numpy(),
            "name": compounds.DRUG_NAME.str.strip().to_numpy(),
            "synonyms": compounds.SYNONYMS.to_numpy(),
            "pubchem": drug.map(pubchem).fillna("").str.strip().to_numpy(),
        }
    ).drop_duplicates("drug")


def read_gdsc_smiles(path: str | Path) -> pd.Series:
    """DRUG_ID → SMILES (missing where the table has none)."""
    table = read_table(path, ["DRUG_ID", "SMILES"], dtype=str, keep_default_na=False, na_values=[""])
    return pd.Series(table.SMILES.to_numpy(), index=table.DRUG_ID.str.strip().to_numpy(), name="smiles")


def read_gdsc_expression(path: str | Path) -> pd.DataFrame:
    """GDSC basal expression zip as cell lines (COSMIC id) × genes (symbol).

    Rows without a symbol are dropped; a symbol on several rows keeps their mean (logged).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise FormatError(path, "a zip with one expression table", found=f"{len(members)} members")
            text = archive.read(members[0])
    except zipfile.BadZipFile as err:
        raise FormatError(path, "a zip archive", found=str(err)) from err
    table = read_table(io.BytesIO(text), ["GENE_SYMBOLS"], sep="\t")
    table = table.dropna(subset=["GENE_SYMBOLS"])
    data = table[[c for c in table.columns if c.startswith(EXPRESSION_PREFIX)]].set_axis(table.GENE_SYMBOLS.astype(str))
    if data.index.duplicated().any():
        log.info("GDSC expression: averaged %d rows of repeated gene symbols", int(data.index.duplicated().sum()))
        data = data.groupby(level=0, sort=False).mean()
    return data.T.set_axis([c.removeprefix(EXPRESSION_PREFIX) for c in data.columns]).rename_axis(index="cell_line")


def read_string_edges(links_path: str | Path, info_path: str | Path) -> pd.DataFrame:
    """STRING links as undirected symbol edges (a < b, score), via the protein info table's preferred names."""
    info = read_table(info_path, ["#string_protein_id", "preferred_name"], sep="\t", dtype=str)
    links = read_table(links_path, ["protein1", "protein2", "combined_score"], sep=" ")
    names = pd.Series(info.preferred_name.to_numpy(), index=info["#string_protein_id"].to_numpy())
    a, b = links.protein1.map(names), links.protein2.map(names)
    unnamed = a.isna() | b.isna()
    if unnamed.any():
        log.info("STRING: left out %d links with a protein missing from the info table", int(unnamed.sum()))
    edges = pd.DataFrame(
        {
            "a": np.minimum(a[~unnamed], b[~unnamed]),
            "b": np.maximum(a[~unnamed], b[~unnamed]),
            "score": links.combined_score[~unnamed],
        }
    )
    return edges.groupby(["a", "b"], as_index=False).score.max()
