"""GCT text matrices (#1.2 and #1.3), the format of small Broad/CMap exports and of many fixtures.

GCT has no types and its header promises dimensions the body may not keep, so the reader
checks every promise and reports the first broken one by line (and column for a bad
number). Annotations go through the same conversion as GCTX's, so a matrix read from either
format gives the same frames. Files are sniffed by content: upstream ships text GCT named
``.gctx``, and gzip is recognised by its magic bytes rather than its suffix.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_write_text
from l1k_assets.lincs.gctx import MISSING, Gct, align_meta, matrix_values, meta_series, read_gctx, unique_ids
from l1k_assets.textio import numbered_lines

MATRIX_SUFFIXES = (".gct", ".gct.gz", ".gctx")
MISSING_VALUE_TEXT = ("", "NA", "na", "NaN", "nan", "-nan", "#N/A", "N/A", "NULL")
COLUMN_META_FILLER = "na"  # what CMap tools put in the empty top-left block of a #1.3 file


def _text_lines(path: Path) -> list[str]:
    """The file's lines (plain or gzip, any line ending, each bounded), trailing blank lines dropped."""
    lines = [line for _, line in numbered_lines(path)]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _dimensions(path: Path, lines: list[str], version: str) -> list[int]:
    """Line 2: ``n_rows n_cols`` (#1.2) or ``n_rows n_cols n_row_meta n_col_meta`` (#1.3)."""
    expected = 2 if version == "#1.2" else 4
    fields = lines[1].split() if len(lines) > 1 else []
    if len(fields) != expected or not all(f.isdigit() for f in fields):
        what = "n_rows n_cols" if expected == 2 else "n_rows n_cols n_row_meta n_col_meta"
        raise FormatError(path, f"{expected} non-negative integers ({what})", line=2, found=repr(" ".join(fields)))
    return [int(f) for f in fields]


def _split_rows(path: Path, lines: list[str], first_line: int, width: int, what: str) -> list[list[str]]:
    """Tab-split lines that must each have ``width`` fields; ``first_line`` is the 1-based number of ``lines[0]``."""
    rows = [line.split("\t") for line in lines]
    for offset, row in enumerate(rows):
        if len(row) != width:
            raise FormatError(path, f"{width} tab-separated fields ({what})", line=first_line + offset, found=f"{len(row)}")
    return rows


def _unique(path: Path, ids: list[str], what: str, line: int, *, one_per_line: bool) -> pd.Index:
    """``ids`` as an index; a repeat is reported at its own line, or at ``line`` when all sit on that line."""
    index = pd.Index(ids, dtype="str")
    repeated = np.flatnonzero(index.duplicated())
    if len(repeated):
        at = int(repeated[0])
        where = line + at if one_per_line else line
        raise FormatError(path, f"unique {what}", line=where, found=f"{ids[at]!r} repeated")
    return index


def _parses(text: np.ndarray) -> bool:
    try:
        text.astype(np.float64)
    except ValueError:
        return False
    return True


def _numbers(path: Path, cells: list[list[str]], first_line: int, col_ids: pd.Index) -> np.ndarray:
    """The data block as float64 in one vectorised conversion; only on failure is the first non-number located."""
    text = np.array(cells, dtype=str).reshape(len(cells), len(col_ids))
    text[np.isin(text, MISSING_VALUE_TEXT)] = "nan"
    if _parses(text):
        return text.astype(np.float64)
    i = next(i for i, row in enumerate(text) if not _parses(row))
    j = next(j for j, cell in enumerate(text[i]) if not _parses(cell))
    raise FormatError(path, "a number", line=first_line + i, field=col_ids[j], found=repr(str(text[i, j])))


def _meta_frame(names: list[str], columns: list[list[str]], index: pd.Index, header: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {name: meta_series(values, index, name) for name, values in zip(names, columns, strict=True)}, index=index
    )
    frame.columns.name = header
    return frame


def read_gct(path: str | Path) -> Gct:
    """Read a GCT #1.2 (Name, Description, samples) or #1.3 (row and column annotations) file, gz or plain."""
    path = Path(path)
    lines = _text_lines(path)
    version = lines[0].strip() if lines else ""
    if version not in ("#1.2", "#1.3"):
        raise FormatError(path, "'#1.2' or '#1.3'", line=1, found=repr(version[:40]))
    dims = _dimensions(path, lines, version)
    n_rows, n_cols = dims[:2]
    n_row_meta, n_col_meta = (dims[2], dims[3]) if version == "#1.3" else (1, 0)
    width = 1 + n_row_meta + n_cols
    if len(lines) < 3:
        raise FormatError(path, "a header line (id, row annotation names, column ids)", line=3, found="end of file")
    header = _split_rows(path, lines[2:3], 3, width, f"id, {n_row_meta} row annotation names, {n_cols} column ids")[0]
    col_ids = _unique(path, header[1 + n_row_meta :], "column ids", 3, one_per_line=False)
    row_meta_names = header[1 : 1 + n_row_meta]
    _unique(path, row_meta_names, "row annotation names", 3, one_per_line=False)
    body_start = 3 + n_col_meta  # 0-based index of the first data line
    if len(lines) - body_start != n_rows:
        found = f"{len(lines) - 3} lines after the header"
        raise FormatError(
            path, f"{n_col_meta} annotation + {n_rows} data lines after the header, as line 2 says", line=2, found=found
        )
    col_rows = _split_rows(path, lines[3:body_start], 4, width, "annotation name, fillers, one value per column")
    col_names = [row[0] for row in col_rows]
    _unique(path, col_names, "column annotation names", 4, one_per_line=True)
    data_rows = _split_rows(path, lines[body_start:], body_start + 1, width, "id, row annotations, one value per column")
    row_ids = _unique(path, [row[0] for row in data_rows], "row ids", body_start + 1, one_per_line=True)
    row_ids.name, col_ids.name = "rid", "cid"
    values = _numbers(path, [row[1 + n_row_meta :] for row in data_rows], body_start + 1, col_ids)
    row_meta = _meta_frame(row_meta_names, [[row[1 + k] for row in data_rows] for k in range(n_row_meta)], row_ids, "rhd")
    col_meta = _meta_frame(col_names, [row[1 + n_row_meta :] for row in col_rows], col_ids, "chd")
    data = pd.DataFrame(values, index=row_ids, columns=col_ids, copy=False)
    return Gct(data=data, row_meta=row_meta, col_meta=col_meta)


def _cell_text(values: pd.Series | pd.Index | list[str], what: str) -> list[str]:
    """Cells as text, missing annotations as ``-666``; a tab or line break would break the format, so it is refused."""
    series = pd.Series(values, dtype=object)
    text = series.where(series.notna(), str(MISSING)).map(str)
    bad = text[text.str.contains(r"[\t\r\n]", regex=True)]
    if len(bad):
        raise DataError(f"{what} contain tabs or line breaks, which GCT cannot hold: {bad.tolist()[:3]}")
    return text.tolist()


def _value_text(data: pd.DataFrame) -> np.ndarray:
    """Matrix cells as the shortest text that reads back to the stored value (float32 stays short)."""
    values = matrix_values(data)
    text = values.astype(str)
    text[np.isnan(values)] = "NaN"
    return text


def write_gct(path: str | Path, gct: Gct) -> None:
    """Write ``gct`` as GCT #1.3, atomically; annotations must describe exactly the matrix's ids."""
    row_ids = _cell_text(unique_ids(gct.data.index, "row"), "row ids")
    col_ids = _cell_text(unique_ids(gct.data.columns, "column"), "column ids")
    row_meta = align_meta(gct.row_meta, row_ids, "row")
    col_meta = align_meta(gct.col_meta, col_ids, "column")
    n_row_meta, n_col_meta = row_meta.shape[1], col_meta.shape[1]
    lines = [
        "#1.3",
        f"{len(row_ids)}\t{len(col_ids)}\t{n_row_meta}\t{n_col_meta}",
        "\t".join(["id", *_cell_text(row_meta.columns, "row annotation names"), *col_ids]),
    ]
    fillers = [COLUMN_META_FILLER] * n_row_meta
    names = _cell_text(col_meta.columns, "column annotation names")
    for name, column in zip(names, col_meta.columns, strict=True):
        lines.append("\t".join([name, *fillers, *_cell_text(col_meta[column], f"column annotation {name}")]))
    row_cells = [_cell_text(row_meta[c], f"row annotation {c}") for c in row_meta.columns]
    values = _value_text(gct.data)
    for i, rid in enumerate(row_ids):
        lines.append("\t".join([rid, *(cells[i] for cells in row_cells), *values[i]]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_matrix(path: str | Path) -> Gct:
    """Read a .gct, .gct.gz or .gctx file, choosing the parser by content (HDF5 signature or text)."""
    path = Path(path)
    if not path.name.lower().endswith(MATRIX_SUFFIXES):
        raise FormatError(path, f"a matrix file named {', '.join(MATRIX_SUFFIXES)}", found=f"name {path.name!r}")
    if not path.is_file():
        raise FileNotFoundError(path)
    return read_gctx(path) if h5py.is_hdf5(path) else read_gct(path)
