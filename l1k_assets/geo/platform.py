"""Probe → gene symbol tables from GEO platform files.

Method 1 maps probes to HGNC symbols through the cohort's platform (GPL) table. GEO serves
that table in several shapes (annotation ``GPLxxx.annot.gz``, platform SOFT or family SOFT,
or a plain tab-separated "full table" with ``#`` comment lines), and every vendor names its
symbol column differently, so the format is recognised from the content and the symbol column
from a fixed list of vendor names. Probes mapping to no symbol or to several symbols (GEO's
``///`` separator) are dropped: a probe measuring two genes would give both the same value.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pandas as pd

from l1k_assets.errors import FormatError
from l1k_assets.geo.series_matrix import check_unique_ids
from l1k_assets.geo.soft import parse_soft, read_table
from l1k_assets.textio import numbered_lines

# Symbol columns by vendor, in order of preference when a table has several:
# GEO annotation, Affymetrix, Agilent, Illumina (curated, then probe-design name), Affymetrix Gene ST.
SYMBOL_COLUMNS = ("Gene symbol", "Gene Symbol", "GENE_SYMBOL", "Symbol", "ILMN_Gene", "gene_assignment")
ID_COLUMN = "ID"
PLATFORM_KINDS = ("PLATFORM", "ANNOTATION")
NO_SYMBOL = ("", "---")


def parse_platform_table(path: str | Path) -> pd.DataFrame:
    """``probe_id``/``symbol`` (both str) for every probe with exactly one gene symbol, in file order."""
    path = Path(path)
    header_line, table = _platform_table(path)
    if ID_COLUMN not in table.columns:
        raise FormatError(path, f"a probe id column {ID_COLUMN!r}", line=header_line, field=ID_COLUMN, found=_names(table))
    symbol_column = next((name for name in SYMBOL_COLUMNS if name in table.columns), None)
    if symbol_column is None:
        raise FormatError(
            path,
            f"a gene symbol column (one of {', '.join(SYMBOL_COLUMNS)})",
            line=header_line,
            field="gene symbol",
            found=_names(table),
        )
    probes = check_unique_ids(table[ID_COLUMN].str.strip().to_list(), path, table.index.to_list(), "probe id")
    symbols = _single_symbols(pd.Series(table[symbol_column].to_numpy(), index=probes), symbol_column == "gene_assignment")
    return pd.DataFrame({"probe_id": symbols.index, "symbol": symbols.to_numpy()}, dtype=str)


def _platform_table(path: Path) -> tuple[int, pd.DataFrame]:
    """The platform's table from a SOFT-like file (``^``/``!`` first) or a plain ``#``-commented table."""
    lines = numbered_lines(path, errors="replace")
    with contextlib.closing(lines):
        for number, line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith(("^", "!")):
                break
            return read_table(itertools.chain([(number, line)], lines), path, None)
        else:
            raise FormatError(path, "a platform table", found="an empty file")
    soft = parse_soft(path, until=PLATFORM_KINDS)
    tables = [entity for entity in soft.entities if entity.kind in PLATFORM_KINDS and entity.table is not None]
    if not tables:
        raise FormatError(path, "a ^PLATFORM or ^Annotation entity with a !platform_table_begin table", found="none")
    return tables[0].table_line, tables[0].table


def _single_symbols(cells: pd.Series, gene_assignment: bool) -> pd.Series:
    """Per probe, its one distinct symbol; probes with none or several are left out.

    ``///`` separates the entries of one probe. In Affymetrix Gene ST ``gene_assignment`` each
    entry is ``accession // symbol // title // ...`` and the symbol is its second field; several
    transcripts of one gene repeat the same symbol, which is not ambiguity.
    """
    entries = cells.str.split("///").explode().str.strip()
    if gene_assignment:
        entries = entries.str.split("//").str[1].str.strip()
    entries = entries[entries.notna() & ~entries.isin(NO_SYMBOL)]
    distinct = entries.reset_index().drop_duplicates()
    distinct.columns = ["probe_id", "symbol"]
    counts = distinct["probe_id"].map(distinct["probe_id"].value_counts())
    single = distinct[counts == 1].set_index("probe_id")["symbol"]
    return single.reindex(cells.index[cells.index.isin(single.index)])


def _names(table: pd.DataFrame) -> str:
    return ", ".join(map(str, table.columns))
