"""LINCS metadata tables (genes, signatures, instances, perturbagens, cell lines) in one vocabulary.

GSE92742 and the LINCS 2020 (CLUE "beta") release describe the same things with different
column names (``pert_iname`` vs ``cmap_name``, ``cell_id`` vs ``cell_iname``, ...). Everything
downstream speaks the GSE92742 names, so each table is renamed once here, checked for the
columns its kind needs (a missing one is named in both spellings) and for unique primary ids
(a duplicate would multiply rows in every later join), and ``-666`` becomes missing. A beta
table may carry only some of its columns: it reads as long as the needed ones are there.
Every value stays text except dose and time, because ids such as Entrez gene ids must keep
their exact spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.textio import numbered_lines, open_bounded

Kind = Literal["sig_info", "inst_info", "pert_info", "cell_info"]

MISSING_TEXT = ["", "-666", "-666.0"]
HEADER_LINE = 1

# LINCS 2020 name -> GSE92742 name; applied only when the GSE92742 column is absent, so a
# table carrying both (say det_plate beside rna_plate) keeps both and loses nothing.
SYNONYMS = {
    "cmap_name": "pert_iname",
    "cell_iname": "cell_id",
    "sample_id": "inst_id",
    "det_plate": "rna_plate",
    "det_well": "rna_well",
    "distil_ids": "distil_id",
}

REQUIRED: dict[str, list[str]] = {
    "sig_info": ["sig_id", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_dose", "pert_time", "distil_id"],
    "inst_info": ["inst_id", "rna_plate", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_dose", "pert_time"],
    "pert_info": ["pert_id", "pert_iname", "pert_type"],
    "cell_info": ["cell_id"],
}
PRIMARY_ID = {"sig_info": "sig_id", "inst_info": "inst_id", "pert_info": "pert_id", "cell_info": "cell_id"}

# Releases that give dose and time only as display text ("10 µM", "24 h") still get numbers.
DISPLAY_COLUMNS = {"pert_dose": ("pert_idose", "pert_dose_unit"), "pert_time": ("pert_itime", "pert_time_unit")}
DISPLAY_PATTERN = r"^\s*(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>.*?)\s*$"

GENE_LAYOUTS = {
    "GSE92742": {"id": "pr_gene_id", "symbol": "pr_gene_symbol", "flag": "pr_is_lm"},
    "LINCS2020": {"id": "gene_id", "symbol": "gene_symbol", "flag": "feature_space"},
}
LANDMARK_FLAGS = {
    "pr_is_lm": {"1": True, "0": False},
    "feature_space": {"landmark": True, "best inferred": False, "inferred": False},
}


def _read_tsv(path: Path) -> pd.DataFrame:
    """A tab-separated table (plain or gz, by content) as text.

    Blank lines are kept (so row i sits on line i + 2 and errors name the right line) except
    at the end of the file, where they carry nothing.
    """
    try:
        with open_bounded(path) as stream:
            table = pd.read_csv(
                stream, sep="\t", dtype=str, keep_default_na=False, na_values=MISSING_TEXT, skip_blank_lines=False
            )
    except pd.errors.EmptyDataError as err:
        raise FormatError(path, "a tab-separated table with a header line", line=HEADER_LINE, found="an empty file") from err
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
        raise FormatError(path, "a tab-separated table", found=str(err).strip()) from err
    filled = np.flatnonzero(table.notna().any(axis=1).to_numpy())
    return table.iloc[: filled[-1] + 1 if len(filled) else 0]


def _line(position: int) -> int:
    """The file line of the table's row at ``position`` (header on line 1)."""
    return position + HEADER_LINE + 1


BETA_NAMES = {new: old for old, new in SYNONYMS.items()}


def _spelled(column: str) -> str:
    """A column as both releases spell it, for error messages: ``pert_iname (cmap_name)``."""
    return f"{column} ({BETA_NAMES[column]})" if column in BETA_NAMES else column


def _require_columns(path: Path, table: pd.DataFrame, required: list[str], what: str) -> None:
    """All of ``required`` in the header (line 1), else one error listing every absent column (with its LINCS 2020 name)."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        expected = f"{what} columns {', '.join(map(_spelled, required))}"
        raise FormatError(path, expected, line=HEADER_LINE, found=f"no {', '.join(map(_spelled, missing))}")


def _require_unique_ids(path: Path, ids: pd.Series) -> None:
    """Every row has an id and no id repeats; the first offender is reported at its line."""
    absent = np.flatnonzero(ids.isna().to_numpy())
    if len(absent):
        raise FormatError(path, f"a {ids.name} on every row", line=_line(int(absent[0])), field=str(ids.name), found="none")
    repeated = np.flatnonzero(ids.duplicated().to_numpy())
    if len(repeated):
        at = int(repeated[0])
        first = int(np.flatnonzero((ids == ids.iloc[at]).to_numpy())[0])
        raise FormatError(
            path,
            f"unique {ids.name} values",
            line=_line(at),
            field=str(ids.name),
            found=f"{ids.iloc[at]!r} again (first on line {_line(first)})",
        )


def read_tsv_table(path: str | Path, required: list[str], what: str) -> pd.DataFrame:
    """Any tab-separated metadata table as text, with ``required`` columns checked and named in the error."""
    path = Path(path)
    table = _read_tsv(path)
    _require_columns(path, table, required, what)
    return table


def read_gene_info(path: str | Path) -> pd.DataFrame:
    """A gene table (GSE92742 gene_info or LINCS 2020 geneinfo_beta) with ``gene_id``, ``gene_symbol``, ``is_landmark``.

    The original columns stay; the three normalised ones are what the rest of l1k uses, so it
    need not know which release a table came from.
    """
    path = Path(path)
    genes = _read_tsv(path)
    layout = next((cols for cols in GENE_LAYOUTS.values() if set(cols.values()) <= set(genes.columns)), None)
    if layout is None:
        expected = " or ".join(f"{', '.join(cols.values())} ({name})" for name, cols in GENE_LAYOUTS.items())
        raise FormatError(path, f"gene table columns {expected}", line=HEADER_LINE, found=", ".join(genes.columns))
    flags = LANDMARK_FLAGS[layout["flag"]]
    flag_text = genes[layout["flag"]].str.strip()
    unknown = np.flatnonzero(~flag_text.isin(list(flags)).to_numpy())
    if len(unknown):
        at = int(unknown[0])
        raise FormatError(
            path, f"one of {sorted(flags)}", line=_line(at), field=layout["flag"], found=repr(genes[layout["flag"]].iloc[at])
        )
    gene_id = genes[layout["id"]].str.strip().rename("gene_id")
    _require_unique_ids(path, gene_id)
    return genes.assign(
        gene_id=gene_id,
        gene_symbol=genes[layout["symbol"]].str.strip(),
        is_landmark=flag_text.map(flags).astype(bool),
    )


def landmark_gene_ids(genes: pd.DataFrame) -> list[str]:
    """The landmark gene ids of a table from :func:`read_gene_info`, in table order."""
    return genes.loc[genes.is_landmark.astype(bool), "gene_id"].astype(str).tolist()


def _numeric(path: Path, table: pd.DataFrame, column: str) -> pd.Series:
    """A dose or time column as float; text that is not a number is a format error at its line."""
    values = pd.to_numeric(table[column].str.strip(), errors="coerce")
    bad = np.flatnonzero((values.isna() & table[column].notna()).to_numpy())
    if len(bad):
        at = int(bad[0])
        raise FormatError(path, "a number", line=_line(at), field=column, found=repr(table[column].iloc[at]))
    return values.astype(np.float64)


def _from_display(path: Path, table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Fill ``pert_dose``/``pert_time`` (and their unit) from the display text ``pert_idose``/``pert_itime``."""
    display, unit = DISPLAY_COLUMNS[column]
    parts = table[display].str.extract(DISPLAY_PATTERN)
    bad = np.flatnonzero((parts.number.isna() & table[display].notna()).to_numpy())
    if len(bad):
        at = int(bad[0])
        raise FormatError(path, "a number and a unit", line=_line(at), field=display, found=repr(table[display].iloc[at]))
    table = table.assign(**{column: parts.number})
    if unit not in table.columns:
        table = table.assign(**{unit: parts.unit.where(parts.unit != "")})
    return table


def _compound_info(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    """A compound table without ``pert_type`` (LINCS 2020's compoundinfo_beta) as pert_info: ``pert_type`` trt_cp.

    compoundinfo_beta describes compounds only, once per target (and mechanism), so its rows
    are collapsed: a compound's distinct values of each column joined with ``|`` in file
    order, as the Repurposing Hub writes several targets.
    """
    _require_columns(path, table, ["pert_id", "pert_iname"], "compound_info")
    absent = np.flatnonzero(table.pert_id.isna().to_numpy())
    if len(absent):
        raise FormatError(path, "a pert_id on every row", line=_line(int(absent[0])), field="pert_id", found="none")

    def joined(values: pd.Series) -> object:
        distinct = list(dict.fromkeys(values.dropna().astype(str)))
        return "|".join(distinct) if distinct else np.nan

    repeated = table.pert_id.duplicated(keep=False).to_numpy()
    merged = table[repeated].groupby("pert_id", sort=False).agg(joined).reset_index()  # only repeated ids: fast on 34k rows
    order = table.pert_id.drop_duplicates()
    collapsed = pd.concat([table[~repeated], merged]).set_index("pert_id").loc[order].reset_index()
    return collapsed.assign(pert_type="trt_cp")


def read_lincs_table(path: str | Path, kind: Kind) -> pd.DataFrame:
    """A LINCS sig/inst/pert/cell table in GSE92742 column names, checked, ``-666`` as missing, dose/time as numbers.

    ``pert_info`` also reads compound-only tables such as LINCS 2020's compoundinfo_beta (no ``pert_type``).
    """
    if kind not in REQUIRED:
        raise ValueError(f"kind must be one of {sorted(REQUIRED)}, not {kind!r}")
    path = Path(path)
    table = _read_tsv(path)
    renames = {old: new for old, new in SYNONYMS.items() if old in table.columns and new not in table.columns}
    table = table.rename(columns=renames)
    if kind == "pert_info" and "pert_type" not in table.columns:
        table = _compound_info(path, table)
    for column, (display, _) in DISPLAY_COLUMNS.items():
        if column in REQUIRED[kind] and column not in table.columns and display in table.columns:
            table = _from_display(path, table, column)
    _require_columns(path, table, REQUIRED[kind], kind)
    _require_unique_ids(path, table[PRIMARY_ID[kind]])
    for column in DISPLAY_COLUMNS:
        if column in table.columns:
            table[column] = _numeric(path, table, column)
    return table


def _annotate(sig: pd.DataFrame, other: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    """Left-join ``other``'s columns that ``sig`` lacks on ``key``; a repeated key would multiply signatures."""
    if key not in other.columns or key not in sig.columns:
        raise DataError(f"signatures and {what} need a {key} column to be joined on")
    repeated = other[key][other[key].duplicated()]
    if len(repeated):
        raise DataError(f"{what} lists {key} {repeated.unique()[:5].tolist()} more than once; joining would duplicate signatures")
    extra = [c for c in other.columns if c not in sig.columns]
    annotated = other.loc[other[key].notna(), [key, *extra]]  # pandas would match a missing key to a missing key
    return sig.merge(annotated, on=key, how="left").set_axis(sig.index)


def join_signature_metadata(sig: pd.DataFrame, pert: pd.DataFrame, cell: pd.DataFrame) -> pd.DataFrame:
    """One row per signature with its compound (SMILES, InChIKey, MoA, ...) and cell-line annotations added.

    Columns already in ``sig`` win; signatures whose compound or cell line is not annotated
    keep missing values rather than being dropped.
    """
    with_pert = _annotate(sig, pert, "pert_id", "pert_info")
    return _annotate(with_pert, cell, "cell_id", "cell_info")


def read_moa_table(path: str | Path) -> pd.DataFrame:
    """The Drug Repurposing Hub's drug table; only ``pert_iname`` and ``moa`` are required, mechanisms stay '|'-separated."""
    return read_clue_table(path, ["pert_iname", "moa"])


def read_clue_table(path: str | Path, required: Sequence[str]) -> pd.DataFrame:
    """A Drug Repurposing Hub table (drugs or samples): '!'-prefixed comment lines, then tab-separated columns."""
    path = Path(path)
    header_lines = 0
    for _, line in numbered_lines(path):
        if not line.startswith("!"):
            break
        header_lines += 1
    with open_bounded(path) as stream:
        table = pd.read_csv(stream, sep="\t", skiprows=header_lines, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise FormatError(
            path,
            f"Repurposing Hub columns {' and '.join(required)}",
            line=header_lines + 1,
            found=f"columns {list(table.columns)[:8]}",
        )
    return table.replace("", pd.NA)
