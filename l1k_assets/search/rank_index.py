"""A gene-major rank index of a level-5 GCTX: what a connectivity query reads instead of the matrix.

Every connectivity statistic l1k offers (WTCS, RGES, XSum, XCos) needs, per signature, only
the *ranks* of the query genes in that signature (rank 1 = most up-regulated) and their
z-scores. A level-5 GCTX stores signatures × genes, so a query over it would read every value
of every signature. The index stores the transpose, one row per gene holding that gene's rank
and z-score in every signature, so a query with a few hundred genes reads a few hundred rows.

Layout (one HDF5 file, written under a temporary name and renamed):

* ``ranks``  genes × signatures int16, rank 1 = highest z; ties broken by gene order (a stable
  sort of the descending scores, CMap's convention and that of the weighted enrichment score).
* ``scores`` genes × signatures, the z-scores in the source's own precision: float32 for every
  LINCS release (6 bytes per entry with the ranks), float64 only for a float64 source. Storing
  anything coarser would make the weighted statistics inexact: float16 |z| carries a relative
  error of 2^-11, which moves an ES by up to ~5e-4, far above the 1e-9 the queries are held to.
* ``extreme_norm`` per signature, the Euclidean norm of its z-scores over its ``extreme_n``
  top and bottom genes (what cosine on extreme genes divides by).
* ``gene_ids``, ``sig_ids`` and root attributes: format, version, the source's name, size and
  sha256, the build time and ``extreme_n``.

Both matrices are *contiguous* HDF5 datasets, not HDF5-chunked: each is one run of bytes at a
known file offset, so an opened index maps them read-only and a query's kernels read the query
genes' rows in place, straight from the page cache. Copying them into buffers first (``preadv``)
cost a memcpy of every byte a query reads (1.8 GB for 300 genes × 10^6 signatures, half a second
on two cores); the mapping costs nothing per query once the rows are resident, the pages are
the kernel's to evict, and nothing is decompressed.

That is 6 bytes per signature × gene for a float32 release (35 GB for GSE92742's 473,647 ×
12,328) plus 8 bytes per signature of ``extreme_norm``, and nothing else: every dataset is read
by a query (ranks by all methods, scores by WTCS/XSum/XCos, the norms by XCos, the ids to name
genes and signatures). Ranks cannot be derived from a gene's row (they depend on the whole
signature) and scores cannot be derived from ranks, so neither can be dropped.

Building reads the source once, in chunks of as many signatures as fit a memory budget, with a
thread hashing the file a chunk ahead (the sha256 the header records doubles as read-ahead).
Ranks come from one vectorised integer sort per signature of distinct 64-bit keys (score bits
above, gene position below), identical to the stable argsort of the negated scores and ~20×
faster; each chunk is transposed tile by tile into gene-major rows written with ``pwrite`` at
offsets allocated up front.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import mmap
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import h5py
import numba
import numpy as np
import pandas as pd
from numba import njit

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_path, file_digest
from l1k_assets.lincs.gctx import MATRIX, read_gctx_ids
from l1k_assets.lincs.gctx_set import GctxSet, as_matrix

FORMAT = "l1k-rank-index"
VERSION = 2  # 2: the header lists every source file (a release may be several per-type files)
RANK_DTYPE = np.dtype(np.int16)
MAX_GENES = int(np.iinfo(RANK_DTYPE).max)
DATASETS = ("ranks", "scores", "extreme_norm", "gene_ids", "sig_ids")

BUILD_MEMORY = 1536 * 2**20  # bytes of chunk buffers a build holds: ~20,000 signatures at 12,328 genes
SORT_ROWS = 256  # signatures whose sort keys one thread holds at a time (25 MB at 12,328 genes)
STAGE_BYTES = 32 * 2**20  # per thread, the gene-major rows of a chunk staged for pwrite
DIGEST_PIECE = 16 * 2**20  # bytes the digest thread reads at a time
TILE = 64  # transpose tile (elements per side)
GENE_BITS = 15  # a gene position (< 2**15, MAX_GENES fits) packed below a float32 score's 32-bit key
_GENE_MASK = np.uint64((1 << GENE_BITS) - 1)
_GENE_SHIFT = np.uint64(GENE_BITS)
_SIGN_BIT = np.uint64(1 << 31)
_LOW_31 = np.uint64((1 << 31) - 1)
_ZERO = np.uint64(0)


@njit(nogil=True, cache=True)
def _packed_keys(bits: np.ndarray, keys: np.ndarray) -> None:
    """Per signature (row) of float32 scores given as their IEEE bits, one distinct uint64 per gene.

    The high 32 bits fall as the score rises (−0.0 is taken as +0.0: the two compare equal), the low
    GENE_BITS hold the gene's position. Ascending keys are therefore the scores in descending order
    with ties in gene order, which is what a stable sort of the negated scores yields, but distinct
    keys need no stable sort: NumPy's vectorised integer sort orders them ~20× faster at 12,328 genes.
    """
    for s in range(bits.shape[0]):
        for g in range(bits.shape[1]):
            b = np.uint64(bits[s, g])
            if b == _SIGN_BIT:
                b = _ZERO
            key = b if b & _SIGN_BIT else ~b & _LOW_31
            keys[s, g] = (key << _GENE_SHIFT) | np.uint64(g)


@njit(nogil=True, cache=True)
def _scatter_ranks(order: np.ndarray, ranks: np.ndarray) -> None:
    """ranks[s, gene] = 1 + the gene's position in row s of ``order`` (genes in the low GENE_BITS)."""
    for s in range(order.shape[0]):
        for position in range(order.shape[1]):
            ranks[s, order[s, position] & _GENE_MASK] = position + 1


@njit(nogil=True, cache=True)
def _square_sum(order: np.ndarray, values: np.ndarray, first: int, stop: int) -> float:
    total = 0.0
    for position in range(first, stop):
        z = np.float64(values[order[position] & _GENE_MASK])
        total += z * z
    return total


@njit(nogil=True, cache=True)
def _extreme_norms(order: np.ndarray, values: np.ndarray, extreme_n: int, norms: np.ndarray) -> None:
    """Per signature, the norm of its scores at the first and last ``extreme_n`` positions of ``order``."""
    n_genes = order.shape[1]
    top, bottom = min(extreme_n, n_genes), max(extreme_n, n_genes - extreme_n)  # the two ranges never overlap
    for s in range(order.shape[0]):
        norms[s] = np.sqrt(_square_sum(order[s], values[s], 0, top) + _square_sum(order[s], values[s], bottom, n_genes))


@njit(nogil=True, cache=True)
def _non_finite_rows(values: np.ndarray) -> np.ndarray:
    """Which signatures (rows) hold a NaN or infinite score."""
    bad = np.zeros(values.shape[0], dtype=np.bool_)
    for s in range(values.shape[0]):
        for g in range(values.shape[1]):
            if not np.isfinite(values[s, g]):
                bad[s] = True
                break
    return bad


@njit(nogil=True, cache=True)
def _transpose(source: np.ndarray, dest: np.ndarray) -> None:
    """dest = source.T, tile by tile so both sides stay in cache (NumPy's strided copy is ~2× slower here)."""
    n_rows, n_cols = source.shape
    for r0 in range(0, n_rows, TILE):
        for c0 in range(0, n_cols, TILE):
            for c in range(c0, min(n_cols, c0 + TILE)):
                for r in range(r0, min(n_rows, r0 + TILE)):
                    dest[c, r] = source[r, c]


def _descending_order(values: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
    """Per signature (row), its genes from highest to lowest score, ties in gene order, in the low GENE_BITS.

    float32 scores (every LINCS release) are sorted as packed keys (:func:`_packed_keys`, into
    ``keys`` when given); float64 ones do not fit beside a gene position in 64 bits and take a
    stable argsort of the negated scores.
    """
    if values.dtype != np.float32:
        return np.argsort(-values, axis=1, kind="stable").view(np.uint64)
    keys = np.empty(values.shape, dtype=np.uint64) if keys is None else keys[: len(values)]
    _packed_keys(np.ascontiguousarray(values).view(np.uint32), keys)
    keys.sort(axis=1)
    return keys


def _check_gene_count(n_genes: int, what: object) -> None:
    if n_genes > MAX_GENES:
        raise DataError(f"{what}: a rank index holds at most {MAX_GENES} genes (int16 ranks), not {n_genes}")


def signature_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of the genes (columns) within each signature (row) of ``values``: 1 = highest score.

    Ties keep gene order (stable sort of the negated scores), exactly how the weighted enrichment score
    orders genes, so a statistic computed from these ranks equals one computed from the scores.
    """
    _check_gene_count(values.shape[1], "signature_ranks")
    ranks = np.empty(values.shape, dtype=RANK_DTYPE)
    _scatter_ranks(_descending_order(values), ranks)
    return ranks


def _score_dtype(sources: Sequence[Path]) -> np.dtype:
    """float32 when every source is float32 (every LINCS release), float64 otherwise: the sources' values, exactly."""
    stored = []
    for source in sources:
        with h5py.File(source, "r") as f:
            stored.append(f[MATRIX].dtype)
    return np.dtype(np.float32) if all(d == np.float32 for d in stored) else np.dtype(np.float64)


def _index_genes(matrix: GctxSet, genes: Sequence[str] | None) -> list[str]:
    """The genes to index in the first file's row order (so ties break as on the file's rows)."""
    row_ids = matrix.row_ids()
    if genes is None:
        return row_ids
    wanted = {str(g) for g in genes}
    missing = sorted(wanted - set(row_ids))
    if missing:
        raise DataError(f"{matrix.paths[0]}: {len(missing)} requested genes are not rows of the file: {missing[:10]}")
    return [g for g in row_ids if g in wanted]


def _file_rows(path: Path, gene_ids: list[str]) -> np.ndarray | None:
    """Positions of ``gene_ids`` among the file's rows; None when they are all its rows in that order (no gather)."""
    rows = pd.Index(read_gctx_ids(path, "row")).get_indexer(gene_ids)
    return None if len(rows) == len(read_gctx_ids(path, "row")) and np.array_equal(rows, np.arange(len(rows))) else rows


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` items split into ``parts`` contiguous ranges (some empty when n < parts)."""
    return list(itertools.pairwise(np.linspace(0, n, parts + 1).astype(int).tolist()))


class _FollowingDigest:
    """The sha256 of a file, read by a thread that stays at most ``lead`` bytes ahead of the build.

    The build's HDF5 reads then find the source in the page cache (the digest thread is their
    read-ahead) and the file is read from disk once, instead of once for the digest and once
    for the values. ``allow(fraction)`` tells how far (as a fraction of the file) the build got.
    """

    def __init__(self, path: Path, lead: int) -> None:
        self._size, self._lead = path.stat().st_size, lead
        self._allowed, self._stopped = float(lead), False
        self._moved = threading.Condition()
        self._pool = ThreadPoolExecutor(1)
        self._digest = self._pool.submit(self._run, path)

    def _run(self, path: Path) -> str | None:
        sha, offset = hashlib.sha256(), 0
        with open(path, "rb", buffering=0) as fh:
            while self._may_read(offset):
                piece = fh.read(DIGEST_PIECE)
                if not piece:
                    return sha.hexdigest()
                sha.update(piece)
                offset += len(piece)
        return None

    def _may_read(self, offset: int) -> bool:
        """Wait until the build allows reading at ``offset``; False once the digest is stopped."""
        with self._moved:
            self._moved.wait_for(lambda: self._stopped or offset < self._allowed)
            return not self._stopped

    def _move(self, allowed: float, stopped: bool = False) -> None:
        with self._moved:
            self._allowed, self._stopped = max(self._allowed, allowed), stopped
            self._moved.notify()

    def allow(self, fraction: float) -> None:
        self._move(fraction * self._size + self._lead)

    def result(self) -> str:
        """The hex digest, once the rest of the file (past the build's reads) is hashed."""
        self._move(float("inf"))
        digest = self._digest.result()
        assert digest is not None  # only a stopped digest returns None
        return digest

    def __enter__(self) -> _FollowingDigest:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the thread if the build ended early (after :meth:`result` it is done already)."""
        self._move(float("inf"), stopped=True)
        self._pool.shutdown()


@dataclass(frozen=True)
class _Plan:
    """How a build streams the source: signatures per read, worker threads, and their buffer sizes."""

    chunk: int
    threads: int
    stage_bytes: int

    @classmethod
    def fit(cls, n_sigs: int, source_genes: int, n_genes: int, itemsize: int, chunk_size: int | None, memory: int) -> _Plan:
        """The largest chunk whose buffers fit ``memory`` bytes (and at most ``chunk_size`` signatures).

        Per signature a chunk holds its source row as read, its indexed genes' scores (a second
        buffer only when genes are restricted) and their int16 ranks; each thread adds its sort
        keys (SORT_ROWS signatures × genes × 8 bytes) and a staging buffer for the gene-major writes.
        """
        threads = max(1, numba.get_num_threads())
        stage_bytes = STAGE_BYTES
        per_thread = SORT_ROWS * n_genes * 8 + stage_bytes
        per_signature = source_genes * itemsize + (n_genes * itemsize if n_genes != source_genes else 0) + n_genes * 2
        fitting = max(1, (memory - threads * per_thread) // per_signature)
        return cls(max(1, min(n_sigs, fitting, chunk_size or n_sigs)), threads, stage_bytes)


def _create_layout(
    path: Path, n_genes: int, n_sigs: int, score_dtype: np.dtype, gene_ids: list[str], sig_ids: list[str]
) -> dict[str, int]:
    """Create the index file with its ids and contiguous matrices allocated now; return the matrices' file offsets.

    Allocating early gives ``ranks`` and ``scores`` fixed offsets, so the build writes their rows
    with ``pwrite`` (as queries map them) instead of through HDF5 hyperslabs;
    no fill value is written, so nothing is written twice.
    """
    with h5py.File(path, "w") as f:
        for name, dtype in (("ranks", RANK_DTYPE), ("scores", score_dtype)):
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            f.create_dataset(name, shape=(n_genes, n_sigs), dtype=dtype, dcpl=dcpl, fill_time="never")
        f.create_dataset("extreme_norm", shape=(n_sigs,), dtype=np.float64)
        f.create_dataset("gene_ids", data=np.char.encode(np.asarray(gene_ids, dtype=str), "utf-8"))
        f.create_dataset("sig_ids", data=np.char.encode(np.asarray(sig_ids, dtype=str), "utf-8"))
        return {name: int(f[name].id.get_offset()) for name in ("ranks", "scores")}


def _pwrite_all(fd: int, data: np.ndarray, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class _Builder:
    """A build's buffers and threads: ranks each chunk of signatures and writes it gene-major with pwrite."""

    def __init__(self, path: Path, offsets: dict[str, int], plan: _Plan, n_genes: int, n_sigs: int, extreme_n: int) -> None:
        self.plan, self.offsets, self.n_sigs, self.extreme_n = plan, offsets, n_sigs, extreme_n
        self.ranks = np.empty((plan.chunk, n_genes), dtype=RANK_DTYPE)
        self.keys = [np.empty((SORT_ROWS, n_genes), dtype=np.uint64) for _ in range(plan.threads)]
        self.stages = [np.empty(plan.stage_bytes, dtype=np.uint8) for _ in range(plan.threads)]
        self.norms = np.empty(n_sigs, dtype=np.float64)
        self.pool = ThreadPoolExecutor(plan.threads)
        self.fd = os.open(path, os.O_WRONLY)

    def __enter__(self) -> _Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()
        os.close(self.fd)

    def chunk(self, values: np.ndarray, start: int) -> np.ndarray:
        """Rank ``values`` (signatures ``start`` onwards × genes) and write both; return which signatures were not finite.

        Threads split the signatures for ranking, then the genes for writing (each thread
        transposes its genes' rows into its staging buffer and writes one run per gene).
        """
        ranks = self.ranks[: len(values)]
        ranking = functools.partial(self._rank, values, ranks, start)
        bad = np.concatenate(list(self.pool.map(ranking, _split(len(values), self.plan.threads), self.keys)))
        if not bad.any():
            gene_parts = _split(values.shape[1], self.plan.threads)
            for matrix, name in ((values, "scores"), (ranks, "ranks")):
                list(self.pool.map(functools.partial(self._write, matrix, name, start), gene_parts, self.stages))
        return bad

    def _rank(self, values: np.ndarray, ranks: np.ndarray, start: int, span: tuple[int, int], keys: np.ndarray) -> np.ndarray:
        bad = _non_finite_rows(values[span[0] : span[1]])
        if bad.any():
            return bad
        for a in range(span[0], span[1], SORT_ROWS):
            b = min(a + SORT_ROWS, span[1])
            order = _descending_order(values[a:b], keys)
            _scatter_ranks(order, ranks[a:b])
            _extreme_norms(order, values[a:b], self.extreme_n, self.norms[start + a : start + b])
        return bad

    def _write(self, matrix: np.ndarray, name: str, start: int, span: tuple[int, int], stage: np.ndarray) -> None:
        """Genes ``span`` of ``matrix`` (signatures × genes) into their index rows at signature ``start``."""
        width, item = len(matrix), matrix.dtype.itemsize
        row_bytes = self.n_sigs * item
        step = max(1, len(stage) // (width * item))
        for g0 in range(span[0], span[1], step):
            g1 = min(g0 + step, span[1])
            rows = stage[: (g1 - g0) * width * item].view(matrix.dtype).reshape(g1 - g0, width)
            _transpose(matrix[:, g0:g1], rows)
            for k in range(g1 - g0):
                _pwrite_all(self.fd, rows[k], self.offsets[name] + (g0 + k) * row_bytes + start * item)


def _source_chunks(
    matrix: GctxSet, gene_ids: list[str], chunk: int, dtype: np.dtype, digests: list[str]
) -> Iterator[tuple[int, np.ndarray]]:
    """(first signature, signatures × indexed genes) for each chunk, file after file, read into reused buffers.

    Each block is valid until the next is read. Reading a slice with ``read_direct`` copies the
    stored rows straight into the buffer (no fancy-index selection, no per-chunk allocation).
    Each file's sha256 is appended to ``digests`` once it is read to the end.
    """
    values = np.empty((chunk, len(gene_ids)), dtype=dtype)
    raw: np.ndarray | None = None
    offset = 0
    for path in matrix.paths:
        rows = _file_rows(path, gene_ids)
        with h5py.File(path, "r") as f:
            dset = f[MATRIX]
            n_sigs, source_genes = dset.shape
            if rows is not None and (raw is None or raw.shape[1] != source_genes):
                raw = np.empty((chunk, source_genes), dtype=dtype)
            lead = 2 * chunk * source_genes * dtype.itemsize  # the digest reads up to a chunk ahead of the build
            with _FollowingDigest(path, lead) as digest:
                for start in range(0, n_sigs, chunk):
                    width = min(chunk, n_sigs - start)
                    if rows is None:
                        dset.read_direct(values, np.s_[start : start + width], np.s_[0:width])
                    else:
                        assert raw is not None
                        dset.read_direct(raw, np.s_[start : start + width], np.s_[0:width])
                        np.take(raw[:width], rows, axis=1, out=values[:width])
                    digest.allow((start + width) / n_sigs)
                    yield offset + start, values[:width]
                digests.append(digest.result())
        offset += n_sigs


def _sources_header(matrix: GctxSet, digests: list[str]) -> dict[str, object]:
    """What the index records of its sources: each file's name, size, columns and sha256, and one digest of them all.

    For a single file ``source_sha256`` is that file's sha256; for several it is the sha256 of
    their ``<sha256>  <name>`` lines, so one value still identifies exactly the data indexed.
    """
    files = [
        {"name": path.name, "size": path.stat().st_size, "columns": len(ids), "sha256": digest}
        for (path, ids), digest in zip(matrix.columns_by_file(), digests, strict=True)
    ]
    combined = (
        digests[0]
        if len(files) == 1
        else hashlib.sha256("".join(f"{d}  {f['name']}\n" for f, d in zip(files, digests, strict=True)).encode()).hexdigest()
    )
    return {
        "sources": files,
        "source_name": ", ".join(f["name"] for f in files),
        "source_size": sum(int(f["size"]) for f in files),
        "source_sha256": combined,
    }


def build_rank_index(
    source: str | Path | GctxSet,
    dest: str | Path,
    genes: Sequence[str] | None = None,
    extreme_n: int = 100,
    chunk_size: int | None = None,
    memory: int = BUILD_MEMORY,
) -> Path:
    """Build the rank index of a level-5 matrix (one GCTX, or a release's per-type files) at ``dest`` (atomically).

    ``genes`` restricts the index to those rows (for example the 978 landmarks from
    :func:`l1k_assets.lincs.metadata.landmark_gene_ids`); ranks are then ranks among them, as
    CMap's landmark-space queries use. Signatures are streamed a chunk at a time, as many as
    fit ``memory`` bytes of buffers (and at most ``chunk_size``), so memory is bounded whatever
    the size of the release. Ranking and writing run on ``numba.get_num_threads()`` threads.
    """
    matrix, dest = as_matrix(source), Path(dest)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    gene_ids = _index_genes(matrix, genes)
    sig_ids = matrix.col_ids()
    n_genes, n_sigs = len(gene_ids), len(sig_ids)
    names = ", ".join(p.name for p in matrix.paths)
    if n_genes < 2 or n_sigs < 1:
        raise DataError(f"{names}: a rank index needs at least 2 genes and 1 signature, the files have {n_genes} × {n_sigs}")
    _check_gene_count(n_genes, names)
    if not 1 <= extreme_n <= n_genes:
        raise ValueError(f"extreme_n must be between 1 and the {n_genes} indexed genes, not {extreme_n}")
    score_dtype = _score_dtype(matrix.paths)
    source_genes = len(matrix.row_ids())
    header: dict[str, object] = {
        "format": FORMAT,
        "version": VERSION,
        "source_shape": [source_genes, n_sigs],
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extreme_n": extreme_n,
        "landmark_restricted": genes is not None,
    }
    plan = _Plan.fit(n_sigs, source_genes, n_genes, score_dtype.itemsize, chunk_size, memory)
    digests: list[str] = []
    with atomic_path(dest) as tmp:
        offsets = _create_layout(tmp, n_genes, n_sigs, score_dtype, gene_ids, sig_ids)
        with _Builder(tmp, offsets, plan, n_genes, n_sigs, extreme_n) as builder:
            for start, values in _source_chunks(matrix, gene_ids, plan.chunk, score_dtype, digests):
                bad = np.flatnonzero(builder.chunk(values, start))
                if len(bad):
                    named = [sig_ids[start + i] for i in bad[:5]]
                    raise DataError(f"{names}: signatures {named} have missing or infinite z-scores")
        header |= _sources_header(matrix, digests)
        with h5py.File(tmp, "r+") as f:
            f["extreme_norm"][:] = builder.norms
            f.attrs["header"] = json.dumps(header)
    return dest


class RankIndex:
    """An opened rank index: its ids, header, and its two matrices mapped read-only (:attr:`ranks`, :attr:`scores`).

    The mapped pages a query touches count in the process's RSS as shared file pages: the
    kernel reclaims them under pressure, and a second query over the same genes finds them
    mapped already. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(self.path)
        if not h5py.is_hdf5(self.path):
            raise FormatError(self.path, f"an HDF5 {FORMAT} file", found="no HDF5 signature")
        try:
            f = h5py.File(self.path, "r")
        except OSError as err:  # HDF5 checks its own end-of-file: a cut-off index fails here
            raise FormatError(self.path, f"an intact HDF5 {FORMAT} file", found=str(err)) from err
        with f:
            self.header = self._read_header(f)
            self.gene_ids = pd.Index(f["gene_ids"].asstr()[()], dtype="str", name="gene_id")
            self.sig_ids = pd.Index(f["sig_ids"].asstr()[()], dtype="str", name="sig_id")
            self.extreme_norm = f["extreme_norm"][()]
            self._layout = {name: self._contiguous(f[name]) for name in ("ranks", "scores")}
        self.score_dtype = self._layout["scores"][1]
        self._map: mmap.mmap | None = self._mapped()
        self._matrices = {name: self._matrix(name) for name in self._layout}

    def _mapped(self) -> mmap.mmap:
        """The whole file mapped read-only, after checking it holds both matrices (a short file would fault on access)."""
        needed = max(offset + self.n_genes * self.n_signatures * dtype.itemsize for offset, dtype in self._layout.values())
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < needed:
                raise FormatError(self.path, f"{needed} bytes holding the ranks and scores", found=f"{size} (truncated file)")
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def _matrix(self, name: str) -> np.ndarray:
        offset, dtype = self._layout[name]
        count = self.n_genes * self.n_signatures
        return np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(self.n_genes, self.n_signatures)

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
        """File offset and dtype of a matrix stored as one uncompressed run of bytes (what the mapping needs)."""
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

    def check_source(self, source: str | Path | GctxSet) -> None:
        """Raise DataError unless ``source`` holds the very files the index was built from (sizes, then sha256s)."""
        files = list(self.header["sources"])  # type: ignore[call-overload]
        paths = as_matrix(source).paths
        same = len(paths) == len(files) and all(
            p.name == f["name"] and p.stat().st_size == f["size"] for p, f in zip(paths, files, strict=True)
        )
        same = same and all(file_digest(p) == f["sha256"] for p, f in zip(paths, files, strict=True))
        if not same:
            raise DataError(
                f"rank index {self.path.name} was built from {self.header['source_name']} "
                f"(sha256 {str(self.header['source_sha256'])[:12]}…), not from {', '.join(str(p) for p in paths)}"
            )

    # ------------------------------------------------------------ reads

    @property
    def ranks(self) -> np.ndarray:
        """Genes × signatures int16 ranks, read-only, mapped from the file."""
        return self._matrix_named("ranks")

    @property
    def scores(self) -> np.ndarray:
        """Genes × signatures z-scores, read-only, mapped from the file."""
        return self._matrix_named("scores")

    def _matrix_named(self, name: str) -> np.ndarray:
        if self._map is None:
            raise DataError(f"rank index {self.path.name} is closed")
        return self._matrices[name]

    def prefetch(self, genes: np.ndarray, start: int, stop: int, scores: bool = True) -> None:
        """Ask the kernel to start reading the pages of rows ``genes``, signatures ``start:stop`` (madvise WILLNEED).

        On a cold index a mapped read otherwise waits on one small read-around per fault;
        issued a block ahead, the reads run as large asynchronous requests while the current
        block is scored. Resident pages cost a page-cache lookup.
        """
        if self._map is None:
            raise DataError(f"rank index {self.path.name} is closed")
        for name in ("ranks", "scores") if scores else ("ranks",):
            offset, dtype = self._layout[name]
            row_bytes = self.n_signatures * dtype.itemsize
            for gene in np.asarray(genes, dtype=np.int64).tolist():
                begin = offset + gene * row_bytes + start * dtype.itemsize
                aligned = begin - begin % mmap.PAGESIZE
                self._map.madvise(mmap.MADV_WILLNEED, aligned, begin + (stop - start) * dtype.itemsize - aligned)

    def read_rows(self, genes: np.ndarray, start: int, stop: int, scores: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Copies of the ranks (and scores) of the genes at row positions ``genes`` in signatures ``start:stop``.

        Returns arrays of shape (len(genes), stop − start). Queries read :attr:`ranks` and
        :attr:`scores` in place instead; this is for looking at a few rows.
        """
        if not 0 <= start <= stop <= self.n_signatures:
            raise ValueError(f"signature range {start}:{stop} is outside 0:{self.n_signatures}")
        rows = np.asarray(genes, dtype=np.int64)
        return self.ranks[rows, start:stop], (self.scores[rows, start:stop] if scores else None)

    def read_signatures(self, signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the ranks and scores of every gene in the signatures at positions ``signatures`` (genes × len).

        Each signature is spread over all gene rows here, so this is meant for a few hundred
        signatures (permutation nulls of a top list), not for scans.
        """
        positions = np.asarray(signatures, dtype=np.int64)
        return self.ranks[:, positions], self.scores[:, positions]

    def close(self) -> None:
        """Unmap the file; an array a caller still holds keeps the mapping alive until it is dropped."""
        if self._map is not None:
            mapping, self._map, self._matrices = self._map, None, {}
            with contextlib.suppress(BufferError):  # views still referenced: the mapping goes with the last of them
                mapping.close()

    def __enter__(self) -> RankIndex:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RankIndex({str(self.path)!r}, genes={self.n_genes}, signatures={self.n_signatures})"
