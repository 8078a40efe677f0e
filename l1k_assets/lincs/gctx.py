"""GCTX matrices (HDF5 in the cmapPy layout), read and written with h5py alone.

cmapPy defines the layout every LINCS release uses but breaks on NumPy 2 and pandas 2+, so
the layout itself is the contract: the matrix at ``/0/DATA/0/matrix`` stored samples × genes,
ids at ``/0/META/{ROW,COL}/id``, one dataset per metadata field beside them, ``-666`` for a
missing annotation. Real level-3/5 files are tens of GB, so readers select on disk (only the
HDF5 chunks holding requested columns are decompressed) and writers stream column blocks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import h5py
import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_path

MATRIX = "/0/DATA/0/matrix"
META_GROUPS = {"row": "/0/META/ROW", "col": "/0/META/COL"}
VERSION = "GCTX1.0"
MISSING = -666
MISSING_TEXT = frozenset({"-666", "-666.0"})
CONTIGUOUS_BLOCK_COLUMNS = 1000  # streaming block for unchunked files, where any block size reads only what it needs

Dim = Literal["row", "col"]


@dataclass
class Gct:
    """A matrix with its annotations: ``data`` is genes × samples, ``row_meta``/``col_meta`` are indexed by its ids."""

    data: pd.DataFrame
    row_meta: pd.DataFrame
    col_meta: pd.DataFrame


# ---------------------------------------------------------------- metadata values


def meta_series(values: Sequence[object] | np.ndarray, index: pd.Index, name: str) -> pd.Series:
    """One metadata field as pandas values: ``-666`` becomes missing and numeric text becomes numbers.

    GCT text has no types and GCTX writers store numbers as text or as numbers inconsistently,
    so both readers pass every field through here and yield the same frame for the same content.
    """
    array = np.asarray(values)
    if array.dtype.kind == "b":
        return pd.Series(array, index=index, name=name)
    if array.dtype.kind in "iuf":
        missing = array == MISSING
        if array.dtype.kind != "f" and not missing.any():
            return pd.Series(array, index=index, name=name)
        return pd.Series(np.where(missing, np.nan, array.astype(np.float64)), index=index, name=name)
    text = pd.Series(array.astype(str), index=index, name=name, dtype="str")
    text = text.mask(text.str.strip().isin(MISSING_TEXT))
    if text.isna().all():
        return text.astype(np.float64)
    try:
        numbers = pd.to_numeric(text)
    except (ValueError, TypeError):
        return text
    return text if numbers.dtype == object else numbers  # integers beyond 64 bits stay text


def _meta_array(series: pd.Series) -> np.ndarray:
    """A metadata column as an HDF5-storable array, missing values written as the LINCS ``-666``."""
    if pd.api.types.is_bool_dtype(series) and not series.isna().any():
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series):
        return series.to_numpy(dtype=np.int64, na_value=MISSING)
    if pd.api.types.is_float_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=MISSING)
    text = series.astype(object).where(series.notna(), str(MISSING)).map(str)
    return _encode(text.tolist())


def _encode(strings: Sequence[str]) -> np.ndarray:
    """Fixed-length UTF-8 byte strings, the id encoding cmapPy writes and every GCTX reader accepts.

    Such strings end at the first NUL byte, so text containing one could not be read back.
    """
    text = list(strings)
    with_nul = [s for s in text if "\x00" in s]
    if with_nul:
        raise DataError(f"GCTX text cannot contain NUL characters: {with_nul[:3]!r}")
    return np.char.encode(np.asarray(text, dtype=str), "utf-8")


def _decode(path: Path, dset: h5py.Dataset) -> np.ndarray:
    """A 1-D dataset as an array: text as UTF-8 ``str`` objects, numbers unchanged."""
    if dset.ndim != 1:
        raise FormatError(path, "a one-dimensional dataset", field=dset.name, found=f"shape {dset.shape}")
    if dset.dtype.kind in "SO" or h5py.check_string_dtype(dset.dtype) is not None:
        try:
            return dset.asstr(encoding="utf-8")[()]
        except UnicodeDecodeError as err:
            raise FormatError(path, "UTF-8 text", field=dset.name, found=str(err)) from err
    return dset[()]


def _as_ids(values: np.ndarray) -> list[str]:
    """Ids as text; numeric ids (real files store Entrez row ids as integers) as their integer spelling."""
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    return [str(v) for v in values.tolist()]


# ---------------------------------------------------------------- opening and ids


@contextlib.contextmanager
def _open(path: Path) -> Iterator[h5py.File]:
    """Open a GCTX read-only after checking the layout, so later reads can trust shapes and names."""
    if not path.is_file():
        raise FileNotFoundError(path)
    if not h5py.is_hdf5(path):
        raise FormatError(path, "an HDF5 file in the GCTX layout", field=MATRIX, found="no HDF5 signature")
    try:
        with h5py.File(path, "r") as f:
            _check_layout(path, f)
            yield f
    except OSError as err:  # HDF5 reports damaged or truncated files (bad chunks, bad headers) as OSError
        raise FormatError(path, "an intact HDF5 file", found=str(err)) from err


def _check_layout(path: Path, f: h5py.File) -> None:
    """The matrix and both id datasets exist and agree in shape, so later reads can trust them."""
    matrix = f.get(MATRIX)
    if not isinstance(matrix, h5py.Dataset) or matrix.ndim != 2:
        raise FormatError(path, "a 2-D matrix dataset (GCTX layout)", field=MATRIX, found="no such dataset")
    lengths = {}
    for dim, group in META_GROUPS.items():
        ids = f.get(f"{group}/id")
        if not isinstance(ids, h5py.Dataset) or ids.ndim != 1:
            raise FormatError(path, f"a 1-D {dim} id dataset (GCTX layout)", field=f"{group}/id", found="no such dataset")
        lengths[dim] = ids.shape[0]
    if matrix.shape != (lengths["col"], lengths["row"]):
        raise FormatError(
            path,
            f"matrix shape (n_cols, n_rows) = ({lengths['col']}, {lengths['row']}) as the id datasets say",
            field=MATRIX,
            found=str(matrix.shape),
        )


@functools.lru_cache(maxsize=16)
def _cached_ids(path: str, inode: int, mtime_ns: int, size: int, dim: Dim) -> pd.Index:
    with h5py.File(path, "r") as f:
        group = f[META_GROUPS[dim]]
        return pd.Index(_as_ids(_decode(Path(path), group["id"])), dtype="str", name="rid" if dim == "row" else "cid")


def _id_index(path: Path, dim: Dim) -> pd.Index:
    """The file's ids along ``dim``, cached per file version.

    Deriving level 5 reads one plate family at a time from a level-3 file with over a million
    columns; decoding and hashing those ids once instead of once per family saves most of the
    time. The key includes inode, mtime and size, so an atomically replaced file is re-read.
    """
    st = path.stat()
    return _cached_ids(str(path.resolve()), st.st_ino, st.st_mtime_ns, st.st_size, dim)


def _check_dim(dim: str) -> Dim:
    if dim not in META_GROUPS:
        raise ValueError(f"dim must be 'row' or 'col', not {dim!r}")
    return dim  # type: ignore[return-value]


def _positions(
    path: Path, ids: pd.Index, wanted_ids: Iterable[object] | None, wanted_idx: Iterable[int] | None, dim: Dim
) -> np.ndarray | None:
    """Positions of the requested ids or indices in the caller's order; ``None`` means all, in file order."""
    if wanted_ids is not None and wanted_idx is not None:
        raise DataError(f"{path.name}: select {dim}s by id or by position, not both")
    if wanted_ids is not None:
        wanted = pd.Index([str(i) for i in wanted_ids], dtype="str")
        positions = ids.get_indexer(wanted)
        unknown = wanted[positions < 0]
        if len(unknown):
            raise DataError(f"{path}: {len(unknown)} requested {dim} ids are not in the file, e.g. {unknown[:5].tolist()}")
    elif wanted_idx is not None:
        positions = np.asarray(list(wanted_idx), dtype=np.int64)
        bad = positions[(positions < 0) | (positions >= len(ids))]
        if len(bad):
            raise DataError(f"{path}: {dim} positions {bad[:5].tolist()} are outside 0..{len(ids) - 1}")
    else:
        return None
    chosen = pd.Index(positions)
    repeated = chosen[chosen.duplicated()]
    if len(repeated):
        raise DataError(f"{path.name}: {dim}s requested more than once: {ids[repeated[:5].to_numpy()].tolist()}")
    return positions


# ---------------------------------------------------------------- reading


def _read_sorted(dset: h5py.Dataset, positions: np.ndarray, axis: int) -> np.ndarray:
    """Read ``positions`` along ``axis`` in one HDF5 selection and return them in the caller's order.

    HDF5 wants increasing indices; one selection decompresses each touched chunk once.
    """
    order = np.argsort(positions, kind="stable")
    key: list[slice | np.ndarray] = [slice(None), slice(None)]
    key[axis] = positions[order]
    if len(positions):
        block = dset[tuple(key)]
    else:
        shape = list(dset.shape)
        shape[axis] = 0
        block = np.empty(shape, dtype=dset.dtype)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return np.take(block, inverse, axis=axis)


def _read_block(dset: h5py.Dataset, cols: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray:
    """The stored (samples × genes) block for the selected columns and rows.

    h5py allows one index list per selection, so columns (the stored first axis, what the
    chunking favours) are selected on disk and rows are then taken in memory.
    """
    if cols is not None:
        block = _read_sorted(dset, cols, axis=0)
        return block if rows is None else block[:, rows]
    if rows is not None:
        return _read_sorted(dset, rows, axis=1)
    return dset[()]


def _frame(block: np.ndarray, row_ids: pd.Index, col_ids: pd.Index) -> pd.DataFrame:
    """Genes × samples without copying: the stored samples × genes block is pandas' own layout."""
    return pd.DataFrame(block.T, index=row_ids, columns=col_ids, copy=False)


def _select(ids: pd.Index, positions: np.ndarray | None) -> pd.Index:
    return ids if positions is None else ids[positions]


def _read_meta(path: Path, f: h5py.File, dim: Dim, ids: pd.Index, positions: np.ndarray | None) -> pd.DataFrame:
    """Every metadata field of ``dim`` except ``id``, for the selected ids, in the file's field order."""
    group = f[META_GROUPS[dim]]
    selected_ids = _select(ids, positions)
    columns = {}
    for name, dset in group.items():
        if name == "id" or not isinstance(dset, h5py.Dataset):
            continue
        values = _decode(path, dset)
        if len(values) != len(ids):
            raise FormatError(path, f"{len(ids)} values, one per {dim} id", field=dset.name, found=f"{len(values)} values")
        columns[name] = meta_series(values if positions is None else values[positions], selected_ids, name)
    frame = pd.DataFrame(columns, index=selected_ids)
    frame.columns.name = "rhd" if dim == "row" else "chd"
    return frame


def read_gctx(
    path: str | Path,
    rids: Iterable[object] | None = None,
    cids: Iterable[object] | None = None,
    ridx: Iterable[int] | None = None,
    cidx: Iterable[int] | None = None,
    meta: bool = True,
) -> Gct:
    """Read a GCTX, optionally a subset of rows/columns by id or position, in the order requested.

    Only the requested columns are read from disk; ``meta=False`` skips the annotations, which
    for a level-3 file are larger than a plate's worth of data.
    """
    path = Path(path)
    with _open(path) as f:
        rows, cols = _id_index(path, "row"), _id_index(path, "col")
        rpos = _positions(path, rows, rids, ridx, "row")
        cpos = _positions(path, cols, cids, cidx, "col")
        data = _frame(_read_block(f[MATRIX], cpos, rpos), _select(rows, rpos), _select(cols, cpos))
        if meta:
            row_meta = _read_meta(path, f, "row", rows, rpos)
            col_meta = _read_meta(path, f, "col", cols, cpos)
        else:
            row_meta, col_meta = pd.DataFrame(index=data.index), pd.DataFrame(index=data.columns)
    return Gct(data=data, row_meta=row_meta, col_meta=col_meta)


def read_gctx_ids(path: str | Path, dim: Dim) -> list[str]:
    """The row (gene) or column (sample) ids of a GCTX, in file order, without reading the matrix."""
    path = Path(path)
    with _open(path):
        return _id_index(path, _check_dim(dim)).tolist()


def read_gctx_meta(path: str | Path, dim: Dim) -> pd.DataFrame:
    """The row or column annotations of a GCTX, indexed by id, without reading the matrix."""
    path = Path(path)
    with _open(path) as f:
        return _read_meta(path, f, _check_dim(dim), _id_index(path, dim), None)


def gctx_shape(path: str | Path) -> tuple[int, int]:
    """(n_rows, n_cols) = (genes, samples) of a GCTX, from the dataset header alone."""
    with _open(Path(path)) as f:
        n_cols, n_rows = f[MATRIX].shape
    return int(n_rows), int(n_cols)


def iter_gctx_columns(
    path: str | Path,
    chunk_size: int | None = 10_000,
    rids: Iterable[object] | None = None,
    cids: Iterable[object] | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream genes × ``chunk_size`` blocks (all columns in file order, or ``cids`` in that order).

    Memory is bounded by one block. With ``chunk_size=None`` blocks follow the file's HDF5
    chunks, so each chunk is decompressed exactly once over the whole pass.
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be positive or None, not {chunk_size}")
    path = Path(path)
    with _open(path) as f:
        dset = f[MATRIX]
        rows, cols = _id_index(path, "row"), _id_index(path, "col")
        rpos = _positions(path, rows, rids, None, "row")
        cpos = _positions(path, cols, cids, None, "col")
        cpos = np.arange(len(cols)) if cpos is None else cpos
        step = chunk_size or (dset.chunks[0] if dset.chunks else CONTIGUOUS_BLOCK_COLUMNS)
        row_ids = _select(rows, rpos)
        for start in range(0, len(cpos), step):
            block_cols = cpos[start : start + step]
            yield _frame(_read_block(dset, block_cols, rpos), row_ids, cols[block_cols])


# ---------------------------------------------------------------- writing


def unique_ids(values: Iterable[object], dim: str) -> list[str]:
    """Ids as text; a repeat is an error because a GCTX id must name exactly one row or column."""
    ids = [str(v) for v in values]
    index = pd.Index(ids, dtype="str")
    repeated = index[index.duplicated()]
    if len(repeated):
        raise DataError(f"duplicate {dim} ids: {repeated.unique()[:5].tolist()}")
    return ids


def align_meta(meta: pd.DataFrame | None, ids: list[str], dim: str) -> pd.DataFrame:
    """Annotations in the matrix's id order; ids that differ from the matrix's are an error, not a silent gap.

    A frame without columns carries nothing to misalign, so its index is not checked.
    """
    if meta is None or meta.shape[1] == 0:
        return pd.DataFrame(index=pd.Index(ids, dtype="str"))
    meta = meta.set_axis(pd.Index(unique_ids(meta.index, f"{dim} metadata"), dtype="str"))
    missing = sorted(set(ids) - set(meta.index))
    extra = sorted(set(meta.index) - set(ids))
    if missing or extra:
        raise DataError(f"{dim} metadata does not describe the matrix's {dim}s: missing {missing[:5]}, extra {extra[:5]}")
    bad = [c for c in meta.columns if str(c) == "id" or "/" in str(c) or str(c) in {"", "."}]
    if bad:
        raise DataError(f"{dim} metadata field names {bad} cannot be GCTX datasets ('id' is reserved, no '/')")
    return meta.reindex(ids)


def _dataset_options(shape: tuple[int, ...], chunks: tuple[int, ...] | None, compression: str | None) -> dict[str, object]:
    """Chunking and compression only for non-empty datasets: HDF5 cannot chunk a zero-length axis."""
    if 0 in shape or (compression is None and chunks is None):
        return {}
    return {"chunks": chunks or True, "compression": compression}


def _write_meta(f: h5py.File, dim: Dim, ids: list[str], meta: pd.DataFrame, compression: str | None) -> None:
    group = f.create_group(META_GROUPS[dim], track_order=True)
    encoded = _encode(ids)
    group.create_dataset("id", data=encoded, **_dataset_options(encoded.shape, None, compression))
    for name in meta.columns:
        values = _meta_array(meta[name])
        group.create_dataset(str(name), data=values, **_dataset_options(values.shape, None, compression))


def _matrix_chunks(n_cols: int, n_rows: int, chunk_cols: int) -> tuple[int, int]:
    """Chunks of whole samples, so reading a column touches one chunk."""
    if chunk_cols < 1:
        raise ValueError(f"chunk_cols must be positive, not {chunk_cols}")
    return max(1, min(chunk_cols, n_cols)), n_rows


def matrix_values(data: pd.DataFrame) -> np.ndarray:
    """The genes × samples values as float32 when stored so (LINCS precision), anything else as float64."""
    try:
        values = data.to_numpy()
        return values.astype(values.dtype if values.dtype == np.float32 else np.float64, copy=False)
    except (TypeError, ValueError) as err:
        raise DataError(f"matrix values must be numeric: {err}") from err


def write_gctx(
    path: str | Path,
    data: pd.DataFrame,
    row_meta: pd.DataFrame | None = None,
    col_meta: pd.DataFrame | None = None,
    chunk_cols: int = 1000,
    compression: str | None = "gzip",
) -> Path:
    """Write a genes × samples frame and its annotations as a GCTX, atomically; return the path."""
    path = Path(path)
    row_ids = unique_ids(data.index, "row")
    col_ids = unique_ids(data.columns, "column")
    rows = align_meta(row_meta, row_ids, "row")
    cols = align_meta(col_meta, col_ids, "column")
    stored = np.ascontiguousarray(matrix_values(data).T)
    chunks = _matrix_chunks(len(col_ids), len(row_ids), chunk_cols)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["version"] = VERSION
        f.create_dataset(MATRIX, data=stored, **_dataset_options(stored.shape, chunks, compression))
        _write_meta(f, "row", row_ids, rows, compression)
        _write_meta(f, "col", col_ids, cols, compression)
    return path


def _abort(stack: contextlib.ExitStack, err: BaseException) -> None:
    """Unwind the appender's file and temporary path as failed, so the temporary file is deleted, not renamed."""
    stack.__exit__(type(err), err, err.__traceback__)


class GctxAppender:
    """Write a GCTX column block by column block, so a matrix larger than memory can be produced.

    The file grows under a temporary name and is renamed onto ``dest`` only when the
    ``with`` block ends cleanly; on an exception it is deleted and an earlier ``dest`` stays.
    Values are stored as float32, the precision of every LINCS release.
    """

    def __init__(
        self,
        dest: str | Path,
        row_ids: Sequence[str],
        row_meta: pd.DataFrame | None = None,
        chunk_cols: int = 1000,
        compression: str | None = "gzip",
    ) -> None:
        self.dest = Path(dest)
        self.row_ids = unique_ids(row_ids, "row")
        if not self.row_ids:
            raise DataError(f"{self.dest.name}: a GCTX needs at least one row id")
        self._row_index = pd.Index(self.row_ids, dtype="str")
        self._row_meta = align_meta(row_meta, self.row_ids, "row")
        self._chunks = _matrix_chunks(chunk_cols, len(self.row_ids), chunk_cols)  # the file grows past any chunk
        self._compression = compression
        self._col_ids: list[str] = []
        self._seen: set[str] = set()
        self._stack: contextlib.ExitStack | None = None
        self._file: h5py.File | None = None

    def __enter__(self) -> GctxAppender:
        stack = contextlib.ExitStack()
        tmp = stack.enter_context(atomic_path(self.dest))
        try:
            f = stack.enter_context(h5py.File(tmp, "w"))
            f.attrs["version"] = VERSION
            f.create_dataset(
                MATRIX,
                shape=(0, len(self.row_ids)),
                maxshape=(None, len(self.row_ids)),
                dtype=np.float32,
                chunks=self._chunks,
                compression=self._compression,
            )
            _write_meta(f, "row", self.row_ids, self._row_meta, self._compression)
        except BaseException as err:
            _abort(stack, err)
            raise
        self._stack, self._file = stack, f
        return self

    @property
    def column_ids(self) -> list[str]:
        """The column ids appended so far, in order."""
        return list(self._col_ids)

    def append(self, block: pd.DataFrame) -> None:
        """Add a genes × new-columns block; rows may come in any order but must be exactly ``row_ids``."""
        if self._file is None:
            raise DataError(f"{self.dest.name}: append() is only possible inside the appender's with-block")
        cols = unique_ids(block.columns, "column")
        again = [c for c in cols if c in self._seen]
        if again:
            raise DataError(f"{self.dest.name}: columns {again[:5]} were already appended")
        index = pd.Index(unique_ids(block.index, "row"), dtype="str")
        missing = self._row_index.difference(index)
        extra = index.difference(self._row_index)
        if len(missing) or len(extra):
            raise DataError(
                f"{self.dest.name}: block rows differ from the file's: missing {missing[:5].tolist()}, extra {extra[:5].tolist()}"
            )
        values = matrix_values(block.set_axis(index).reindex(self._row_index)).astype(np.float32, copy=False)
        dset = self._file[MATRIX]
        start = dset.shape[0]
        dset.resize(start + len(cols), axis=0)
        dset[start:] = np.ascontiguousarray(values.T)
        self._col_ids.extend(cols)
        self._seen.update(cols)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        stack, f = self._stack, self._file
        self._stack = self._file = None
        if stack is None or f is None:
            return
        if exc_type is None:
            try:
                _write_meta(f, "col", self._col_ids, pd.DataFrame(index=self._col_ids), self._compression)
            except BaseException as err:
                _abort(stack, err)
                raise
        stack.__exit__(exc_type, exc, tb)
