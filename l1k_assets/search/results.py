"""Search results people can keep: TSV, Parquet or GCT files, and one JSON document.

A result table (from :func:`l1k_assets.search.connectivity.search`) has one row per signature: its
rank, ``sig_id``, score columns and sig_info annotations. TSV is for spreadsheets, Parquet
keeps types, GCT 1.3 opens in CMap tools (Morpheus, cmapPy): its rows are the scores, its
columns the signatures, the annotations (rank included) its column metadata.

The output path is checked before anything is written (known suffix, an existing folder —
a typo in a folder name should fail, not create a tree — and not a directory), and every
format is written under a temporary name and renamed into place, so a failure leaves neither
a partial file nor a damaged earlier one.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from l1k_assets.errors import DataError
from l1k_assets.fileio import atomic_path, atomic_write_text
from l1k_assets.lincs.gct import write_gct
from l1k_assets.lincs.gctx import Gct
from l1k_assets.search.connectivity import METHODS

SCORE_COLUMNS: tuple[str, ...] = (*METHODS, "ncs", "tau", "p_value", "fdr_q")  # what a result's scores may be called
SUFFIXES = (".tsv", ".parquet", ".gct")


class OutputPathError(DataError):
    """An output path that cannot take a results file; raised before anything is written."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def check_output_path(path: str | Path) -> str:
    """The output format from the suffix, after checking that a file can be created at ``path``.

    Callers check before running a query, so a typo in a folder costs nothing.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(path, "is a directory; give a file name")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise OutputPathError(path, f"unknown suffix {path.suffix or '(none)'!r}: results are written as {', '.join(SUFFIXES)}")
    if not path.parent.is_dir():
        what = "is not a directory" if path.parent.exists() else "does not exist"
        raise OutputPathError(path, f"folder {path.parent} {what} (it is not created)")
    return suffix


def score_columns(table: pd.DataFrame, scores: Sequence[str] | None = None) -> list[str]:
    """The table's score columns: those given (each must be a numeric column), else the known names present."""
    chosen = [c for c in table.columns if c in SCORE_COLUMNS] if scores is None else list(scores)
    if not chosen:
        raise DataError(f"the results have none of the score columns {list(SCORE_COLUMNS)}; pass score columns")
    absent = [c for c in chosen if c not in table.columns]
    text = [c for c in chosen if c in table.columns and not pd.api.types.is_numeric_dtype(table[c])]
    if absent or text:
        raise DataError(f"score columns must be numeric columns of the results: absent {absent}, not numeric {text}")
    return chosen


def _check_signatures(table: pd.DataFrame) -> None:
    """One row per signature, named by a sig_id column: the key every format keeps."""
    if "sig_id" not in table.columns:
        raise DataError(f"the results need a sig_id column; they have {table.columns.tolist()}")
    repeated = table.sig_id[table.sig_id.duplicated()]
    if len(repeated):
        raise DataError(f"the results list signatures {repeated.unique()[:5].tolist()} more than once")


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        try:
            table.to_parquet(tmp, index=False)
        except (pa.ArrowException, ValueError) as err:
            raise DataError(f"{path}: the results cannot be stored as Parquet: {err}") from err


def _write_gct(table: pd.DataFrame, path: Path, scores: list[str]) -> None:
    """Scores × signatures, annotations (rank included) as column metadata, no row metadata."""
    by_signature = table.set_index(table.sig_id.astype(str))
    data = by_signature[scores].T.astype(np.float64)
    col_meta = by_signature.drop(columns=[*scores, "sig_id"])
    write_gct(path, Gct(data=data, row_meta=pd.DataFrame(index=data.index), col_meta=col_meta))


def write_results(table: pd.DataFrame, path: str | Path, scores: Sequence[str] | None = None) -> Path:
    """Write a ranked result table as ``.tsv``, ``.parquet`` or ``.gct`` (by suffix), atomically; return the path.

    ``scores`` names the score columns (the GCT's rows); by default the known ones present
    (:data:`SCORE_COLUMNS`). A bad path raises :class:`OutputPathError` and a table that
    cannot be written a :class:`DataError`, both without touching ``path``.
    """
    path = Path(path)
    suffix = check_output_path(path)
    _check_signatures(table)
    chosen = score_columns(table, scores) if scores is not None or suffix == ".gct" else []  # a misspelt score fails alike
    if suffix == ".gct":
        _write_gct(table, path, chosen)
    elif suffix == ".parquet":
        _write_parquet(table, path)
    else:
        atomic_write_text(path, table.to_csv(sep="\t", index=False, lineterminator="\n"))
    return path


def _plain(value: object) -> object:
    """JSON-ready values: numpy scalars as Python ones, missing and non-finite numbers as null, paths as text.

    Dataclasses (a query's SignatureFilter) become objects and sets sorted lists, so the same
    query always prints the same document.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    if isinstance(value, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[object]:
    return [_plain(row) for row in frame.to_dict(orient="records")]


def results_json(query: Mapping[str, object], report: pd.DataFrame, table: pd.DataFrame, **tables: pd.DataFrame) -> str:
    """One JSON document: the query's description, the gene-space report, the result rows and ``tables``, NaN as null.

    ``tables`` (e.g. perturbagens, mechanisms) are added under their names.
    """
    document = {"query": _plain(query), "genes": _records(report), "results": _records(table)}
    document.update({name: _records(frame) for name, frame in tables.items()})
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False)
