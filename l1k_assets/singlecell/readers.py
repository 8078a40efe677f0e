"""Read single-cell count matrices as users hold them, sparse from disk to memory.

Two on-disk forms cover what PanglaoDB, GEO supplements and CELLxGENE hand out:

* AnnData ``.h5ad``, read with h5py following the AnnData on-disk specification, so the
  platform needs no anndata at runtime: ``X`` (or ``raw/X``, or a layer such as
  ``layers/counts`` when ``X`` holds normalised values) as a dense dataset or a CSR/CSC group,
  ``obs``/``var`` as dataframe groups (string arrays, categoricals, nullable columns).
* 10x Matrix Market folders: ``matrix.mtx(.gz)`` (genes × cells), ``features.tsv(.gz)`` (or the
  legacy two-column ``genes.tsv``) and ``barcodes.tsv(.gz)``; only "Gene Expression" features
  are kept, so antibody-capture rows of CITE-seq runs do not pass for genes.

Both give one ``CountMatrix``: cells × genes CSR in float32 (exact for counts below 2**24,
half the memory of float64, and what AnnData itself stores), a cell table indexed by barcode
and a gene table indexed by gene id. Every problem with the input raises ``FormatError``
naming the file (and the HDF5 key or the line) and what was expected.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from l1k_assets.errors import FormatError
from l1k_assets.textio import open_bounded

CELL_TYPE = "cell_type"  # the column every reader fills when asked for cell-type labels
GENE_EXPRESSION = "Gene Expression"
# Dense X is converted to CSR this many rows at a time, so a dense file never sits in memory twice.
DENSE_ROWS_PER_BLOCK = 4096
# What a malformed file makes gzip, h5py, pandas or scipy raise; converted to FormatError at the boundary.
_DECODE_ERRORS = (ValueError, OSError, EOFError, OverflowError, zlib.error)
# Banner endings (field, symmetry) a count matrix can have; 10x writes "integer general".
MTX_FIELDS = [["integer", "general"], ["real", "general"], ["pattern", "general"]]


@dataclass(frozen=True)
class CountMatrix:
    """Cells × genes counts with their annotation; ``source`` is the file or folder read."""

    counts: sp.csr_matrix
    cells: pd.DataFrame  # index: barcode / obs name; columns: metadata such as cell_type
    genes: pd.DataFrame  # index: gene id; a 'symbol' column when the source has one
    source: str

    def __post_init__(self) -> None:
        if self.counts.shape != (len(self.cells), len(self.genes)):
            raise ValueError(f"counts are {self.counts.shape} but there are {len(self.cells)} cells and {len(self.genes)} genes")

    @property
    def shape(self) -> tuple[int, int]:
        return self.counts.shape

    def subset(self, cells: np.ndarray | None = None, genes: np.ndarray | None = None) -> CountMatrix:
        """The matrix restricted to a boolean mask or positions of cells and/or genes."""
        counts, cell_table, gene_table = self.counts, self.cells, self.genes
        if cells is not None:
            counts, cell_table = counts[cells], cell_table.iloc[cells]
        if genes is not None:
            counts, gene_table = counts[:, genes], gene_table.iloc[genes]
        return CountMatrix(sp.csr_matrix(counts), cell_table, gene_table, self.source)


@contextmanager
def _reading(path: Path, expected: str) -> Iterator[None]:
    """Turn the decoders' own exceptions into a FormatError that names the file."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise FormatError(path, expected, found=f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- shared checks


def _checked_counts(
    matrix: sp.spmatrix, path: Path, require_integer: bool, *, field: str | None = None, first_line: int | None = None
) -> sp.csr_matrix:
    """Finite, non-negative (and, if required, whole) values as canonical float32 CSR.

    ``first_line`` is the file line of the first stored entry (Matrix Market), so an error can
    point at the offending line; entries are checked before the float32 cast so 2.0000001 is caught.
    """
    data = np.asarray(matrix.data)
    if not (np.issubdtype(data.dtype, np.number) and not np.issubdtype(data.dtype, np.complexfloating)):
        raise FormatError(path, "real-valued counts", field=field, found=f"values of type {data.dtype}")
    checks = [(~np.isfinite(data), "finite counts"), (data < 0, "non-negative counts")]
    if require_integer:
        checks.append((data != np.round(data), "integer counts (pass require_integer=False for normalised values)"))
    for bad, expected in checks:
        if bad.any():
            first = int(np.argmax(bad))
            line = None if first_line is None else first_line + first
            raise FormatError(
                path, expected, field=field, line=line, found=f"{int(bad.sum())} entries such as {data[first].item()!r}"
            )
    counts = sp.csr_matrix(matrix, dtype=np.float32)
    counts.sum_duplicates()
    counts.eliminate_zeros()
    return counts


def _require_unique(index: pd.Index, path: Path, what: str) -> None:
    repeated = index[index.duplicated()]
    if len(repeated):
        raise FormatError(path, f"unique {what}", found=f"{len(repeated)} repeated, e.g. {repeated[0]!r}")


def _with_cell_types(cells: pd.DataFrame, column: str | None, path: Path) -> pd.DataFrame:
    """Copy the caller's label column into ``cell_type`` (categorical), so QC and models use one name."""
    if column is None:
        return cells
    if column not in cells.columns:
        raise FormatError(path, f"a cell metadata column {column!r}", found=f"columns {list(cells.columns)}")
    return cells.assign(**{CELL_TYPE: cells[column].astype("category")})


# ---------------------------------------------------------------- AnnData .h5ad


def read_h5ad(
    path: str | Path,
    *,
    matrix: str = "X",
    cell_type_column: str | None = None,
    gene_id_column: str | None = None,
    symbol_column: str | None = None,
    require_integer: bool = True,
) -> CountMatrix:
    """Counts from an AnnData file.

    ``matrix`` is the HDF5 key of the counts: ``"X"``, ``"raw/X"`` (genes then come from
    ``raw/var``) or a layer such as ``"layers/counts"``. ``gene_id_column`` re-indexes genes by a
    ``var`` column (scanpy indexes by symbol and keeps ids in ``gene_ids``; the old index then
    becomes ``symbol``); ``symbol_column`` names the ``var`` column holding symbols.
    """
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, "an HDF5 (AnnData .h5ad) file", found=str(exc)) from exc
    with handle, _reading(path, "an AnnData file following the on-disk specification"):
        var_key = "raw/var" if matrix == "raw/X" else "var"
        values = _h5ad_matrix(_h5ad_node(handle, matrix, path), path, matrix)
        cells = _h5ad_frame(_h5ad_node(handle, "obs", path), path, "obs")
        var = _h5ad_frame(_h5ad_node(handle, var_key, path), path, var_key)
    genes = _gene_table(var, path, gene_id_column, symbol_column)
    cells.index.name = "barcode"
    _require_unique(cells.index, path, "obs names (barcodes)")
    if values.shape != (len(cells), len(genes)):
        raise FormatError(
            path, f"{matrix} shaped (obs, {var_key}) = {(len(cells), len(genes))}", field=matrix, found=str(values.shape)
        )
    counts = _checked_counts(values, path, require_integer, field=matrix)
    return CountMatrix(counts, _with_cell_types(cells, cell_type_column, path), genes, str(path))


def _h5ad_node(handle: h5py.File, key: str, path: Path) -> h5py.Group | h5py.Dataset:
    if key not in handle:
        raise FormatError(path, f"an AnnData element {key!r}", field=key, found=f"top-level keys {sorted(handle.keys())}")
    return handle[key]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encoding(node: h5py.Group | h5py.Dataset) -> str | None:
    value = node.attrs.get("encoding-type")
    return None if value is None else _text(value)


def _h5ad_matrix(node: h5py.Group | h5py.Dataset, path: Path, key: str) -> sp.csr_matrix:
    """A dense dataset (converted block by block) or a CSR/CSC group (AnnData ≥ 0.7, or the h5sparse attrs of older files)."""
    if isinstance(node, h5py.Dataset):
        if node.ndim != 2:
            raise FormatError(path, "a two-dimensional matrix", field=key, found=f"{node.ndim} dimension(s)")
        blocks = [
            sp.csr_matrix(node[start : start + DENSE_ROWS_PER_BLOCK]) for start in range(0, node.shape[0], DENSE_ROWS_PER_BLOCK)
        ]
        return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix(node.shape)
    legacy = node.attrs.get("h5sparse_format")
    encoding = _encoding(node) or (None if legacy is None else f"{_text(legacy)}_matrix")
    shape = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
    if encoding not in ("csr_matrix", "csc_matrix") or shape is None or not {"data", "indices", "indptr"} <= set(node):
        raise FormatError(
            path,
            "a dense dataset or a csr_matrix/csc_matrix group with data, indices, indptr and a shape attribute",
            field=key,
            found=f"encoding {encoding!r}, members {sorted(node)}",
        )
    kind = sp.csr_matrix if encoding == "csr_matrix" else sp.csc_matrix
    values = kind((node["data"][()], node["indices"][()], node["indptr"][()]), shape=tuple(int(n) for n in shape))
    values.check_format(full_check=True)  # index bounds and indptr order: a corrupt file must not read as data
    return values.tocsr()


def _h5ad_frame(node: h5py.Group | h5py.Dataset, path: Path, key: str) -> pd.DataFrame:
    """An AnnData dataframe group: the ``_index`` attribute names the index, ``column-order`` the columns."""
    if not isinstance(node, h5py.Group) or _encoding(node) not in (None, "dataframe"):
        raise FormatError(path, "an AnnData dataframe group (the anndata ≥ 0.7 layout)", field=key)
    index_key = _text(node.attrs.get("_index", "_index"))
    order = [_text(c) for c in np.atleast_1d(node.attrs.get("column-order", np.array([], dtype=object)))]
    for column in [index_key, *order]:
        if column not in node:
            raise FormatError(path, f"the dataframe member {column!r}", field=key, found=f"members {sorted(node)}")
    index = pd.Index(np.asarray(_h5ad_column(node[index_key], path, f"{key}/{index_key}"), dtype=object).astype(str))
    columns = {c: _h5ad_column(node[c], path, f"{key}/{c}") for c in order}
    return pd.DataFrame(columns, index=index)


def _h5ad_column(
    node: h5py.Group | h5py.Dataset, path: Path, key: str
) -> np.ndarray | pd.Categorical | pd.api.extensions.ExtensionArray:
    """One dataframe column: plain or string array, categorical (codes + categories) or nullable (values + mask)."""
    if isinstance(node, h5py.Dataset):
        return node.asstr()[()] if h5py.check_string_dtype(node.dtype) is not None else node[()]
    encoding = _encoding(node)
    if encoding == "categorical":
        categories = _h5ad_column(node["categories"], path, f"{key}/categories")
        return pd.Categorical.from_codes(node["codes"][()], categories=categories, ordered=bool(node.attrs.get("ordered", False)))
    if encoding in ("nullable-integer", "nullable-boolean", "nullable-string-array"):
        values, mask = _h5ad_column(node["values"], path, f"{key}/values"), node["mask"][()].astype(bool)
        if encoding == "nullable-integer":
            return pd.arrays.IntegerArray(values, mask)
        if encoding == "nullable-boolean":
            return pd.arrays.BooleanArray(values.astype(bool), mask)
        return pd.array(np.where(mask, None, values), dtype="string")
    raise FormatError(path, "a column encoded as array, string-array, categorical or nullable-*", field=key, found=encoding)


def _gene_table(var: pd.DataFrame, path: Path, gene_id_column: str | None, symbol_column: str | None) -> pd.DataFrame:
    for column in (gene_id_column, symbol_column):
        if column is not None and column not in var.columns:
            raise FormatError(path, f"a var column {column!r}", found=f"columns {list(var.columns)}")
    if symbol_column is not None:
        var = var.rename(columns={symbol_column: "symbol"})
    if gene_id_column is not None:
        if "symbol" not in var.columns:
            var = var.assign(symbol=var.index)
        var = var.set_index(gene_id_column)
    var.index = var.index.astype(str).rename("gene_id")
    _require_unique(var.index, path, "gene ids")
    return var


# ---------------------------------------------------------------- 10x Matrix Market folders


def read_10x(
    folder: str | Path,
    *,
    metadata: str | Path | None = None,
    barcode_column: str = "barcode",
    cell_type_column: str | None = None,
    require_integer: bool = True,
) -> CountMatrix:
    """Counts from a 10x folder, plus an optional cell metadata table (CSV or TSV, gzipped or not) joined by barcode.

    Cells absent from the metadata table keep missing labels; a table sharing no barcode
    with the matrix is rejected, since it almost surely belongs to another sample.
    """
    folder = Path(folder)
    matrix_path = _find(folder, ("matrix.mtx",))
    features_path = _find(folder, ("features.tsv", "genes.tsv"))
    barcodes_path = _find(folder, ("barcodes.tsv",))
    by_gene = read_mtx(matrix_path, require_integer=require_integer)
    features, barcodes = read_features(features_path), read_barcodes(barcodes_path)
    for table, table_path, n, what in (
        (features, features_path, by_gene.shape[0], "row"),
        (barcodes, barcodes_path, by_gene.shape[1], "column"),
    ):
        if len(table) != n:
            raise FormatError(table_path, f"{n} lines, one per {what} of {matrix_path.name}", found=f"{len(table)} lines")
    keep = (features.feature_type == GENE_EXPRESSION).to_numpy() if "feature_type" in features else np.ones(len(features), bool)
    genes = features.loc[keep, ["gene_id", "symbol"]].set_index("gene_id")
    _require_unique(genes.index, features_path, "gene ids")
    cells = pd.DataFrame(index=pd.Index(barcodes, name="barcode"))
    _require_unique(cells.index, barcodes_path, "barcodes")
    labels_path = barcodes_path
    if metadata is not None:
        labels_path = Path(metadata)
        cells = _join_metadata(cells, labels_path, barcode_column)
    counts = sp.csr_matrix(by_gene[keep].T)
    return CountMatrix(counts, _with_cell_types(cells, cell_type_column, labels_path), genes, str(folder))


def _find(folder: Path, stems: tuple[str, ...]) -> Path:
    candidates = [folder / f"{stem}{suffix}" for stem in stems for suffix in (".gz", "")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FormatError(folder, f"a 10x folder with one of {[c.name for c in candidates]}", found="none of them")


def _open_binary(path: Path) -> io.BufferedIOBase:
    return open_bounded(path)


def read_mtx(path: str | Path, *, require_integer: bool = True) -> sp.csr_matrix:
    """A Matrix Market coordinate file as CSR, rows and columns as in the file (genes × cells for 10x).

    The entries are parsed by pandas' C reader streaming from the gzip, with typed columns, so a
    malformed number, a missing or extra field fails. scipy's threaded ``mmread`` is 10–20%
    faster on 1e6 entries but reads "12x" as 12 and "1..2" as 1, and truncates 5.5 to 5 in a
    file declared ``integer``; the fuzz tests found those, so it is not used. Fields are
    separated by spaces, as Cell Ranger, scipy and R's ``writeMM`` write them.
    """
    path = Path(path)
    with _reading(path, "a Matrix Market coordinate file"), _open_binary(path) as raw:
        banner = raw.readline()
        tokens = banner.decode("latin-1").lower().split()
        if tokens[:3] != ["%%matrixmarket", "matrix", "coordinate"] or tokens[3:] not in MTX_FIELDS:
            expected = "a '%%MatrixMarket matrix coordinate integer|real|pattern general' banner"
            raise FormatError(path, expected, line=1, found=repr(banner[:80]))
        n_header = 1
        while (line := raw.readline()).startswith(b"%") or (line and not line.strip()):
            n_header += 1
        size = line.split()
        if len(size) != 3 or not all(token.isdigit() for token in size):
            raise FormatError(path, "a 'rows columns entries' size line", line=n_header + 1, found=repr(line[:80]))
        shape, n_entries = (int(size[0]), int(size[1])), int(size[2])
        columns = 2 if tokens[3] == "pattern" else 3
        dtypes = {0: np.int64, 1: np.int64, 2: np.float64}
        try:
            table = pd.read_csv(raw, sep=" ", skipinitialspace=True, header=None, dtype=dtypes, engine="c")
        except pd.errors.EmptyDataError:
            table = pd.DataFrame({k: np.array([], dtype=t) for k, t in dtypes.items()})
    first_line = n_header + 2
    if table.shape[1] != columns:
        raise FormatError(path, f"{columns} fields per entry line", line=first_line, found=f"{table.shape[1]}")
    if len(table) != n_entries:
        raise FormatError(path, f"{n_entries} entries, as the size line says", found=f"{len(table)} entry lines")
    index = table[[0, 1]].to_numpy()
    outside = ((index < 1) | (index > np.array(shape))).any(axis=1)
    if outside.any():
        first = int(np.argmax(outside))
        raise FormatError(path, f"1-based indices within {shape}", line=first_line + first, found=str(index[first].tolist()))
    values = table[2].to_numpy() if columns == 3 else np.ones(len(table))
    entries = sp.coo_matrix((values, (index[:, 0] - 1, index[:, 1] - 1)), shape=shape)
    return _checked_counts(entries, path, require_integer, first_line=first_line)


def _read_tsv(path: Path, expected: str) -> pd.DataFrame:
    """A headerless tab-separated file as strings, refusing lines with a different number of fields.

    Split by hand rather than with pandas.read_csv, which pads short lines with empty strings.
    """
    with _reading(path, expected), _open_binary(path) as raw:
        lines = raw.read().decode("utf-8").splitlines()
    if not lines:
        raise FormatError(path, expected, found="an empty file")
    table = pd.Series(lines, dtype=object).str.split("\t", expand=True)
    ragged = table.isna().any(axis=1).to_numpy()
    if ragged.any():
        raise FormatError(path, f"{expected}, with the same number of fields on every line", line=int(np.argmax(ragged)) + 1)
    return table


def read_features(path: str | Path) -> pd.DataFrame:
    """``features.tsv``: gene_id, symbol, feature_type (extra columns ignored); legacy ``genes.tsv``: gene_id, symbol."""
    path = Path(path)
    expected = "tab-separated gene_id, symbol[, feature_type] lines"
    table = _read_tsv(path, expected)
    if table.shape[1] < 2:
        raise FormatError(path, expected, found=f"{table.shape[1]} field(s) per line")
    names = ["gene_id", "symbol", "feature_type"][: table.shape[1]]
    return table.iloc[:, : len(names)].set_axis(names, axis=1)


def read_barcodes(path: str | Path) -> np.ndarray:
    """``barcodes.tsv``: one cell barcode per line."""
    path = Path(path)
    table = _read_tsv(path, "one barcode per line")
    if table.shape[1] != 1:
        raise FormatError(path, "one barcode per line", found=f"{table.shape[1]} tab-separated fields")
    return table[0].to_numpy(dtype=object)


def _join_metadata(cells: pd.DataFrame, path: Path, barcode_column: str) -> pd.DataFrame:
    sep = "," if ".csv" in path.suffixes else "\t"
    with _reading(path, "a delimited cell metadata table with a header line"):
        table = pd.read_csv(path, sep=sep, dtype={barcode_column: str})
    if barcode_column not in table.columns:
        raise FormatError(path, f"a barcode column {barcode_column!r}", found=f"columns {list(table.columns)}")
    table = table.set_index(barcode_column)
    _require_unique(table.index, path, "barcodes")
    if len(cells) and not table.index.isin(cells.index).any():
        raise FormatError(path, "barcodes of the matrix's cells", found=f"none of its {len(table)} barcodes in the matrix")
    return cells.join(table)
