"""GEO series-matrix files: the per-series table of sample annotations and processed values.

A series matrix is the one file per GSE that GEO2R itself reads, so method 1 starts from it.
The parser streams the file once (gzip or plain, recognised by its magic bytes rather than its
name, because downloads are cached under content-addressed names), keeps only the sample fields
the cohort catalog can refer to, and turns every defect a download or an upstream edit can
introduce into a ``FormatError`` naming the file, the line and what was expected: a silently
mis-parsed matrix would corrupt every tumor-normal delta downstream.

The helpers for reading lines, converting value cells and building the sample table are shared
with the SOFT reader (``soft.py``) so that both routes produce identical ``SeriesMatrix`` objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from l1k_assets.errors import FormatError
from l1k_assets.textio import numbered_lines

TABLE_BEGIN = "!series_matrix_table_begin"
TABLE_END = "!series_matrix_table_end"
# Cells GEO (and the tools that write series matrices) use for "no value", in the spellings met;
# listed rather than lower-cased at parse time, which would cost more than the whole cast.
MISSING_TOKENS = ("", "null", "NULL", "Null", "na", "NA", "nan", "NaN", "NAN")
# Sample header lines kept as plain columns of ``SeriesMatrix.samples``: the catalog's
# class and patient fields refer to them.
SAMPLE_FIELDS = ("title", "geo_accession", "source_name_ch1", "platform_id")
CHARACTERISTICS_PREFIX = "characteristics:"
# Characteristics cells without a "key:" part are kept under GEO's own line name.
KEYLESS_CHARACTERISTICS = "characteristics_ch1"


@dataclass
class SeriesMatrix:
    """One parsed series matrix (or an equivalent built from SOFT, see ``soft.py``).

    ``series`` maps ``Series_`` keys without the prefix to all their values; ``samples`` is
    indexed by GSM id ("gsm"); ``expression`` is probes × GSM, float64, NaN for missing cells.
    """

    path: Path
    series: dict[str, list[str]]
    samples: pd.DataFrame
    expression: pd.DataFrame


def unquote(cell: str) -> str:
    """Strip the double quotes series matrices put around text cells."""
    if len(cell) >= 2 and cell[0] == '"' and cell[-1] == '"':
        return cell[1:-1]
    return cell


def split_characteristic(cell: str) -> tuple[str, str]:
    """``"Tissue: normal lung"`` → ``("tissue", "normal lung")``; a cell without a key gets key ``""``.

    Keys are lower-cased because submitters are inconsistent about case across samples of
    one series, and the catalog refers to them as ``characteristics:<lower-case key>``.
    """
    key, sep, value = cell.partition(":")
    if not sep or not key.strip():
        return "", cell.strip()
    return key.strip().lower(), value.strip()


def build_samples(
    gsms: Sequence[str], fields: dict[str, list[str]], characteristics: Sequence[Sequence[tuple[str, str]]]
) -> pd.DataFrame:
    """The sample table: one row per GSM, the ``SAMPLE_FIELDS`` present in ``fields``, then one column per characteristic key.

    ``characteristics[i]`` holds sample ``i``'s ``(key, value)`` pairs. A key repeated for one
    sample is joined with "; "; a key a sample lacks is missing (NaN). Keyless values go to
    ``characteristics_ch1``. Both parsers build their table here so columns come out identical.
    """
    columns: dict[str, dict[str, str]] = {}
    for gsm, pairs in zip(gsms, characteristics, strict=True):
        for key, value in pairs:
            name = CHARACTERISTICS_PREFIX + key if key else KEYLESS_CHARACTERISTICS
            cells = columns.setdefault(name, {})
            cells[gsm] = f"{cells[gsm]}; {value}" if gsm in cells else value
    index = pd.Index(list(gsms), dtype=str, name="gsm")
    table = pd.DataFrame({key: fields[key] for key in SAMPLE_FIELDS if key in fields}, index=index, dtype=str)
    for name, cells in columns.items():
        table[name] = pd.Series(cells, dtype=str).reindex(index)
    return table


def parse_values(cells: np.ndarray, path: Path, lines: Sequence[int], columns: Sequence[str]) -> np.ndarray:
    """Convert a 2-D array of value cells to float64, NaN for missing tokens.

    The conversion is one vectorised cast; only when it fails is the first bad cell searched
    for, so the error names its line and column. Infinite values and Python-only spellings
    such as ``1_000`` are refused: no microarray pipeline writes them on purpose.
    """
    text = np.strings.strip(np.asarray(cells, dtype=str).reshape(len(lines), len(columns)))
    missing = np.isin(text, MISSING_TOKENS)
    text = np.where(missing, "nan", text)
    try:
        values = text.astype(np.float64)
    except ValueError:
        _refuse_cell(path, lines, columns, text, _first_unparsable(text))
    bad = ~missing & (~np.isfinite(values) | (np.strings.find(text, "_") >= 0))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        _refuse_cell(path, lines, columns, text, (int(row), int(col)))
    return values


def _refuse_cell(path: Path, lines: Sequence[int], columns: Sequence[str], text: np.ndarray, at: tuple[int, int]) -> NoReturn:
    row, col = at
    raise FormatError(
        path,
        "a finite number or an empty/null cell",
        line=int(lines[row]),
        field=str(columns[col]),
        found=repr(str(text[row, col])),
    )


def _first_unparsable(text: np.ndarray) -> tuple[int, int]:
    """Position of the first cell ``astype(float64)`` refuses: first the row, then the cell within it.

    Only called once the whole-array cast has failed, so both searches find something.
    """
    row = next(i for i, cells in enumerate(text) if not _castable(cells))
    return row, next(j for j, cell in enumerate(text[row]) if not _castable(cell))


def _castable(cells: np.ndarray) -> bool:
    try:
        np.asarray(cells).astype(np.float64)
    except ValueError:
        return False
    return True


def check_unique_ids(ids: Sequence[str], path: Path, lines: Sequence[int], what: str) -> pd.Index:
    """Return ``ids`` as a string index; refuse empty or duplicated ids, naming both lines of a duplicate."""
    index = pd.Index(list(ids), dtype=str)
    empty = np.flatnonzero(index.str.strip() == "")
    if empty.size:
        raise FormatError(path, f"a non-empty {what}", line=int(lines[empty[0]]), found="an empty cell")
    duplicated = np.flatnonzero(index.duplicated())
    if duplicated.size:
        position = duplicated[0]
        first = int(lines[index.get_indexer_for([index[position]])[0]])
        raise FormatError(
            path, f"unique {what}s", line=int(lines[position]), found=f"{index[position]!r} already on line {first}"
        )
    return index


def expression_frame(values: np.ndarray, probes: pd.Index, gsms: Sequence[str]) -> pd.DataFrame:
    """Probes × GSM float64 frame with the index and column names every caller relies on."""
    return pd.DataFrame(
        values, index=pd.Index(probes, dtype=str, name="probe_id"), columns=pd.Index(list(gsms), dtype=str, name="gsm")
    )


def parse_series_matrix(path: str | Path) -> SeriesMatrix:
    """Parse a GEO ``GSExxx_series_matrix.txt(.gz)`` file in one streaming pass."""
    path = Path(path)
    lines = numbered_lines(path, errors="replace")
    with contextlib.closing(lines):
        header = _read_header(lines, path)
        series, gsms, samples = _header_tables(header, path)
        expression = _read_table(lines, path, gsms)
    return SeriesMatrix(path=path, series=series, samples=samples, expression=expression)


def _read_header(lines: Iterator[tuple[int, str]], path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, key, cells)`` of every ``!`` line up to the table-begin marker."""
    header: list[tuple[int, str, list[str]]] = []
    for number, line in lines:
        if not line.strip():
            continue
        if line.strip().lower() == TABLE_BEGIN:
            return header
        if not line.startswith("!"):
            raise FormatError(path, f"a '!' header line or {TABLE_BEGIN}", line=number, found=repr(line[:60]))
        key, *cells = line.split("\t")
        header.append((number, key[1:].strip(), [unquote(cell) for cell in cells]))
    raise FormatError(path, f"a {TABLE_BEGIN} line", found="end of file")


def _header_tables(header: list[tuple[int, str, list[str]]], path: Path) -> tuple[dict[str, list[str]], list[str], pd.DataFrame]:
    """Split header lines into the series dict, the GSM list and the sample table."""
    series: dict[str, list[str]] = {}
    sample_lines: dict[str, list[tuple[int, list[str]]]] = {}
    for number, key, cells in header:
        if key.startswith("Series_"):
            series.setdefault(key.removeprefix("Series_"), []).extend(cells)
        elif key.startswith("Sample_"):
            sample_lines.setdefault(key.removeprefix("Sample_"), []).append((number, cells))
    accession_lines = sample_lines.get("geo_accession", [])
    if len(accession_lines) != 1:
        raise FormatError(path, "exactly one !Sample_geo_accession line", found=f"{len(accession_lines)}")
    accession_line, gsms = accession_lines[0]
    gsms = [gsm.strip() for gsm in gsms]
    check_unique_ids(gsms, path, [accession_line] * len(gsms), "sample accession")
    for key, occurrences in sample_lines.items():
        for number, cells in occurrences:
            if len(cells) != len(gsms):
                raise FormatError(
                    path,
                    f"{len(gsms)} sample cells (one per !Sample_geo_accession)",
                    line=number,
                    field=f"Sample_{key}",
                    found=f"{len(cells)}",
                )
    fields = {
        key: ["; ".join(filter(None, (cells[i].strip() for _, cells in sample_lines[key]))) for i in range(len(gsms))]
        for key in SAMPLE_FIELDS
        if key in sample_lines
    }
    characteristic_lines = [cells for _, cells in sample_lines.get("characteristics_ch1", [])]
    characteristics = [
        [split_characteristic(cells[i]) for cells in characteristic_lines if cells[i].strip()] for i in range(len(gsms))
    ]
    return series, gsms, build_samples(gsms, fields, characteristics)


def _read_table(lines: Iterator[tuple[int, str]], path: Path, gsms: list[str]) -> pd.DataFrame:
    """The data table after the begin marker: header check, rows, end marker, nothing after it."""
    header_line, header = _table_header(lines, path)
    if header[0] != "ID_REF" or header[1:] != gsms:
        raise FormatError(
            path,
            "an ID_REF header listing the !Sample_geo_accession samples",
            line=header_line,
            found=_header_mismatch(header, gsms),
        )
    probes: list[str] = []
    rows: list[list[str]] = []
    row_lines: list[int] = []
    for number, line in lines:
        if line.strip().lower() == TABLE_END:
            _expect_nothing_after(lines, path)
            break
        if not line:
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise FormatError(path, f"{len(header)} tab-separated fields", line=number, found=f"{len(cells)}")
        probes.append(unquote(cells[0]).strip())
        sample_cells = cells[1:]
        rows.append([unquote(cell) for cell in sample_cells] if '"' in line[len(cells[0]) :] else sample_cells)
        row_lines.append(number)
    else:
        raise FormatError(path, f"a {TABLE_END} line", found="end of file")
    index = check_unique_ids(probes, path, row_lines, "probe id")
    values = parse_values(np.array(rows, dtype=str).reshape(len(rows), len(gsms)), path, row_lines, gsms)
    return expression_frame(values, index, gsms)


def _table_header(lines: Iterator[tuple[int, str]], path: Path) -> tuple[int, list[str]]:
    for number, line in lines:
        if line.strip():
            return number, [unquote(cell).strip() for cell in line.split("\t")]
    raise FormatError(path, f"an ID_REF header row after {TABLE_BEGIN}", found="end of file")


def _header_mismatch(header: list[str], gsms: list[str]) -> str:
    """Say how the table header differs from the sample list: which samples are missing, extra or reordered."""
    if header[0] != "ID_REF":
        return f"first column {header[0]!r} instead of 'ID_REF'"
    columns = header[1:]
    missing = [gsm for gsm in gsms if gsm not in columns]
    extra = [column for column in columns if column not in gsms]
    if missing or extra:
        return f"samples missing from the table {missing}, table columns not in the header {extra}"
    return f"the same samples in another order or repeated: {columns}"


def _expect_nothing_after(lines: Iterator[tuple[int, str]], path: Path) -> None:
    for number, line in lines:
        if line.strip():
            raise FormatError(path, f"nothing after {TABLE_END}", line=number, found=repr(line[:60]))
