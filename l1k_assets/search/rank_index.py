"""A gene-major rank index of a level-5 GCTX: what a connectivity query reads instead of the matrix.

Every connectivity statistic l1k offers (WTCS, RGES, XSum, XCos) needs, per signature, only
the *ranks* of the query genes in that signature (rank 1 = most up-regulated) and their
z-scores. A level-5 GCTX stores signatures × genes, so a query over it would read every value
of every signature. The index stores the transpose, one row per gene holding that gene's rank
and z-score in every signature, so a query with a few hundred genes reads a few hundred rows.

Layout (one HDF5 file, written under a temporary name and renamed):

* ``ranks``  genes × signatures int16, rank 1 = highest z; ties broken by gene order (a stable
  sort of the descending scores, CMap's convention and that of :func:`weighted_es`).
* ``scores`` genes × signatures, the z-scores in the source's own precision: float32 for every
  LINCS release (6 bytes per entry with the ranks), float64 only for a float64 source. Storing
  anything coarser would make the weighted statistics inexact: float16 |z| carries a relative
  error of 2^-11, which moves an ES by up to ~5e-4, far above the 1e-9 the queries are held to.
* ``extreme_norm`` per signature, the Euclidean norm of its z-scores over its ``extreme_n``
  top and bottom genes (what cosine on extreme genes divides by).
* ``gene_ids``, ``sig_ids`` and root attributes: format, version, the source's name, size and
  sha256, the build time and ``extreme_n``.

Both matrices are *contiguous* HDF5 datasets, not HDF5-chunked: a signature block of one gene
is then one run of bytes at a known file offset, read with a single ``preadv`` into a buffer the
query owns. The query's blocks of signatures are the chunks; memory stays bounded by one block
whatever the number of signatures, and nothing is decompressed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_path, file_digest
from l1k_assets.lincs.gctx import MATRIX, gctx_shape, iter_gctx_columns, read_gctx_ids

FORMAT = "l1k-rank-index"
VERSION = 1
RANK_DTYPE = np.dtype(np.int16)
MAX_GENES = int(np.iinfo(RANK_DTYPE).max)
DATASETS = ("ranks", "scores", "extreme_norm", "gene_ids", "sig_ids")


def signature_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of the genes (columns) within each signature (row) of ``values``: 1 = highest score.

    Ties keep gene order (stable sort of the negated scores), exactly how :func:`weighted_es`
    orders genes, so a statistic computed from these ranks equals one computed from the scores.
    """
    n_genes = values.shape[1]
    if n_genes > MAX_GENES:
        raise DataError(f"a rank index holds at most {MAX_GENES} genes (int16 ranks), not {n_genes}")
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty(values.shape, dtype=RANK_DTYPE)
    positions = np.broadcast_to(np.arange(1, n_genes + 1, dtype=RANK_DTYPE), values.shape)
    np.put_along_axis(ranks, order, positions, axis=1)
    return ranks


def extreme_norms(values: np.ndarray, ranks: np.ndarray, extreme_n: int) -> np.ndarray:
    """Per signature (row), the norm of its scores over the genes ranked ≤ n or > n_genes − n."""
    n_genes = values.shape[1]
    extreme = (ranks <= extreme_n) | (ranks > n_genes - extreme_n)
    squares = np.square(values, dtype=np.float64)
    return np.sqrt(np.where(extreme, squares, 0.0).sum(axis=1))


def _score_dtype(source: Path) -> np.dtype:
    """float32 for float32 sources (every LINCS release), float64 otherwise: the source's values, exactly."""
    with h5py.File(source, "r") as f:
        stored = f[MATRIX].dtype
    return np.dtype(np.float32) if stored == np.float32 else np.dtype(np.float64)


def _index_genes(source: Path, genes: Sequence[str] | None) -> list[str]:
    """The genes to index, in the file's row order (so ties break as they would on the file's rows)."""
    row_ids = read_gctx_ids(source, "row")
    if genes is None:
        return row_ids
    wanted = {str(g) for g in genes}
    missing = sorted(wanted - set(row_ids))
    if missing:
        raise DataError(f"{source}: {len(missing)} requested genes are not rows of the file: {missing[:10]}")
    return [g for g in row_ids if g in wanted]


def build_rank_index(
    source: str | Path,
    dest: str | Path,
    genes: Sequence[str] | None = None,
    extreme_n: int = 100,
    chunk_size: int = 10_000,
) -> Path:
    """Build the rank index of a level-5 GCTX at ``dest`` (atomically) and return ``dest``.

    ``genes`` restricts the index to those rows (for example the 978 landmarks from
    :func:`l1k_assets.lincs.metadata.landmark_gene_ids`); ranks are then ranks among them, as
    CMap's landmark-space queries use. Signatures are streamed ``chunk_size`` at a time, so
    memory is bounded by one chunk whatever the size of the release.
    """
    source, dest = Path(source), Path(dest)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    gene_ids = _index_genes(source, genes)
    sig_ids = read_gctx_ids(source, "col")
    n_genes, n_sigs = len(gene_ids), len(sig_ids)
    if n_genes < 2 or n_sigs < 1:
        raise DataError(f"{source}: a rank index needs at least 2 genes and 1 signature, the file has {n_genes} × {n_sigs}")
    if n_genes > MAX_GENES:
        raise DataError(f"{source}: a rank index holds at most {MAX_GENES} genes (int16 ranks), not {n_genes}")
    if not 1 <= extreme_n <= n_genes:
        raise ValueError(f"extreme_n must be between 1 and the {n_genes} indexed genes, not {extreme_n}")
    score_dtype = _score_dtype(source)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "source_name": source.name,
        "source_size": source.stat().st_size,
        "source_sha256": file_digest(source),
        "source_shape": list(gctx_shape(source)),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extreme_n": extreme_n,
        "landmark_restricted": genes is not None,
    }
    rows = gene_ids if genes is not None else None
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["header"] = json.dumps(header)
        ranks = f.create_dataset("ranks", shape=(n_genes, n_sigs), dtype=RANK_DTYPE)
        scores = f.create_dataset("scores", shape=(n_genes, n_sigs), dtype=score_dtype)
        norms = f.create_dataset("extreme_norm", shape=(n_sigs,), dtype=np.float64)
        start = 0
        for block in iter_gctx_columns(source, chunk_size, rids=rows):
            values = block.to_numpy().T  # the stored signatures × genes layout, no copy
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise DataError(f"{source}: signatures {block.columns[bad][:5].tolist()} have missing or infinite z-scores")
            block_ranks = signature_ranks(values)
            stop = start + len(values)
            ranks[:, start:stop] = block_ranks.T
            scores[:, start:stop] = values.T.astype(score_dtype, copy=False)
            norms[start:stop] = extreme_norms(values, block_ranks, extreme_n)
            start = stop
        f.create_dataset("gene_ids", data=np.char.encode(np.asarray(gene_ids, dtype=str), "utf-8"))
        f.create_dataset("sig_ids", data=np.char.encode(np.asarray(sig_ids, dtype=str), "utf-8"))
    return dest


class RankIndex:
    """An opened rank index: its ids, header, and block reads of the rows of chosen genes.

    Reads go through one raw file descriptor with ``os.preadv`` at the datasets' offsets, so a
    query's memory is the buffers it asks for (not page-cache mappings counted in its RSS).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(self.path)
        if not h5py.is_hdf5(self.path):
            raise FormatError(self.path, f"an HDF5 {FORMAT} file", found="no HDF5 signature")
        with h5py.File(self.path, "r") as f:
            self.header = self._read_header(f)
            self.gene_ids = pd.Index(f["gene_ids"].asstr()[()], dtype="str", name="gene_id")
            self.sig_ids = pd.Index(f["sig_ids"].asstr()[()], dtype="str", name="sig_id")
            self.extreme_norm = f["extreme_norm"][()]
            self._layout = {name: self._contiguous(f[name]) for name in ("ranks", "scores")}
        self.score_dtype = self._layout["scores"][1]
        self._fd: int | None = os.open(self.path, os.O_RDONLY)

    def _read_header(self, f: h5py.File) -> dict[str, object]:
        """The header attributes, after checking the file is an index whose datasets agree in shape."""
        try:
            header = json.loads(f.attrs["header"])
        except (KeyError, TypeError, ValueError) as err:
            raise FormatError(self.path, f"a {FORMAT} header attribute (JSON)", field="header", found=repr(err)) from err
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise FormatError(
                self.path,
                f"format {FORMAT} version {VERSION}",
                field="header",
                found=f"{header.get('format')} {header.get('version')}",
            )
        absent = [name for name in DATASETS if not isinstance(f.get(name), h5py.Dataset)]
        if absent:
            raise FormatError(self.path, f"datasets {', '.join(DATASETS)}", found=f"no {', '.join(absent)}")
        shape = (f["gene_ids"].shape[0], f["sig_ids"].shape[0])
        for name, expected in (("ranks", shape), ("scores", shape), ("extreme_norm", shape[1:])):
            if f[name].shape != expected:
                raise FormatError(self.path, f"shape {expected} (genes × signatures)", field=name, found=str(f[name].shape))
        return header

    def _contiguous(self, dset: h5py.Dataset) -> tuple[int, np.dtype]:
        """File offset and dtype of a matrix stored as one uncompressed run of bytes (what preadv needs)."""
        offset = dset.id.get_offset()
        if dset.chunks is not None or offset is None or dset.dtype.byteorder == ">":
            raise FormatError(
                self.path, "a contiguous, allocated, little-endian dataset", field=dset.name, found="another layout"
            )
        if dset.name == "/ranks" and dset.dtype != RANK_DTYPE:
            raise FormatError(self.path, "int16 ranks", field=dset.name, found=str(dset.dtype))
        if dset.name == "/scores" and dset.dtype not in (np.float32, np.float64):
            raise FormatError(self.path, "float32 or float64 scores", field=dset.name, found=str(dset.dtype))
        return int(offset), np.dtype(dset.dtype).newbyteorder("=")

    # ------------------------------------------------------------ ids and provenance

    @property
    def n_genes(self) -> int:
        return len(self.gene_ids)

    @property
    def n_signatures(self) -> int:
        return len(self.sig_ids)

    @property
    def extreme_n(self) -> int:
        return int(self.header["extreme_n"])

    def gene_positions(self, genes: Sequence[str], what: str = "query") -> np.ndarray:
        """Row positions of ``genes``; every gene absent from the index is named in one error."""
        wanted = pd.Index([str(g) for g in genes], dtype="str")
        positions = self.gene_ids.get_indexer(wanted)
        missing = wanted[positions < 0]
        if len(missing):
            raise DataError(
                f"{len(missing)} {what} genes are not in the rank index {self.path.name} "
                f"({self.n_genes} genes from {self.header['source_name']}): {missing.tolist()[:20]}"
            )
        return positions

    def check_source(self, source: str | Path) -> None:
        """Raise DataError unless ``source`` is the very file the index was built from (size, then sha256)."""
        source = Path(source)
        size = source.stat().st_size
        same = size == self.header["source_size"] and file_digest(source) == self.header["source_sha256"]
        if not same:
            raise DataError(
                f"rank index {self.path.name} was built from {self.header['source_name']} "
                f"(sha256 {str(self.header['source_sha256'])[:12]}…), not from {source}"
            )

    # ------------------------------------------------------------ reads

    def read_rows(self, genes: np.ndarray, start: int, stop: int, scores: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Ranks (and scores) of the genes at row positions ``genes`` in signatures ``start:stop``.

        Returns arrays of shape (len(genes), stop − start); each gene's block is one read.
        """
        if not 0 <= start <= stop <= self.n_signatures:
            raise ValueError(f"signature range {start}:{stop} is outside 0:{self.n_signatures}")
        ranks = self._read("ranks", genes, start, stop)
        return ranks, (self._read("scores", genes, start, stop) if scores else None)

    def _read(self, name: str, genes: np.ndarray, start: int, stop: int) -> np.ndarray:
        if self._fd is None:
            raise DataError(f"rank index {self.path.name} is closed")
        offset, dtype = self._layout[name]
        out = np.empty((len(genes), stop - start), dtype=dtype)
        row_bytes = self.n_signatures * dtype.itemsize
        want = (stop - start) * dtype.itemsize
        for k, gene in enumerate(np.asarray(genes, dtype=np.int64).tolist()):
            got = os.preadv(self._fd, [memoryview(out[k]).cast("B")], offset + gene * row_bytes + start * dtype.itemsize)
            if got != want:
                raise FormatError(self.path, f"{want} bytes of {name} row {gene}", found=f"{got} (truncated file)")
        return out

    def read_signatures(self, signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ranks and scores of every gene in the signatures at positions ``signatures`` (genes × len).

        Each signature is spread over all gene rows here, so this is meant for a few hundred
        signatures (permutation nulls of a top list), not for scans.
        """
        positions = np.asarray(signatures, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        with h5py.File(self.path, "r") as f:
            ranks = f["ranks"][:, positions[order]] if len(positions) else np.empty((self.n_genes, 0), RANK_DTYPE)
            scores = f["scores"][:, positions[order]] if len(positions) else np.empty((self.n_genes, 0), self.score_dtype)
        return ranks[:, inverse], scores[:, inverse]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RankIndex:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RankIndex({str(self.path)!r}, genes={self.n_genes}, signatures={self.n_signatures})"
