"""Connectivity queries over a rank index: WTCS/NCS, RGES, XSum and XCos from the query genes' rows alone.

A query (up and down gene sets) reads, block by block of signatures, only the index rows of
its own genes: their ranks and z-scores in every signature. Everything else each statistic
needs is either a constant of the index (its number of genes G) or a per-signature constant
computed at build time (the norm over the extreme genes, for XCos).

WTCS from the hit ranks alone. For one signature and a set of n hit genes with ranks
p_1 < … < p_n (1 = most up) and weights w_i = |z_i|, W = Σ w_i, m = 1 / (G − n), CMap's
running sum rises by w_i / W at each hit and falls by m at each miss. It peaks right after a
hit and bottoms out right before one (or at G, where it is 0), so with C_j = Σ_{i≤j} w_i / W
and p_j − j misses before hit j:

    peak_j   = C_j     − (p_j − j)·m      (position p_j)
    trough_j = C_{j−1} − (p_j − j)·m      (position p_j − 1)

and ES = the larger in magnitude of max_j peak_j and min_j trough_j (the earlier position on an
exact tie, as ``argmax`` of |running sum| picks). Sorting n hits replaces the G-long running sum;
the result equals the plain NumPy transcription of ``tests/oracles.py`` (hit weights all 0
give equal steps there and here). WTCS = (ES_up − ES_down) / 2 when the two differ in sign,
else 0; NCS divides by the mean positive (negative) WTCS of the signature's cell line ×
perturbagen type, that oracle.

RGES (Chen et al. 2017) is the unweighted KS of CMap 1: with t sorted hit ranks V(j),
a = max_j j/t − V(j)/G, b = max_j V(j)/G − (j−1)/t, KS = a if a > b else −b (0 for t ≤ 1;
a = b is decided exactly, in integers, not by rounding), combined as KS_up − KS_down under
the same opposite-sign rule. XSum (Cheng et al. 2014) sums the z-scores of the query genes
that are among the signature's ``extreme_n`` top or bottom genes, up minus down; XCos is the
cosine between the ±1 query vector and the signature, both restricted to the signature's
extreme genes: XSum / (√(query genes among them) · ‖z_extreme‖).

The per-signature loops are compiled with numba (present through umap-learn) and run in
parallel over signatures, reading the query genes' rows where they lie: in the index's mapped
matrices (no copy), or in arrays gathered for a permutation null.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd
from numba import njit, prange, uintp
from numba.cpython.unsafe.numbers import trailing_zeros

from l1k_assets.errors import DataError
from l1k_assets.search.ncs import group_codes, ncs_by_group
from l1k_assets.search.rank_index import RankIndex

if TYPE_CHECKING:
    from l1k_assets.search.reference_null import ReferenceNull

Method = Literal["wtcs", "rges", "xsum", "xcos"]
Direction = Literal["reverse", "mimic"]
METHODS: tuple[str, ...] = get_args(Method)
WEIGHTED: frozenset[str] = frozenset({"wtcs", "xsum", "xcos"})  # methods that read the z-scores, not only ranks
NORMALISED: frozenset[str] = frozenset({"wtcs", "es"})  # enrichment scores NCS divides per cell line × perturbagen type
NCS_GROUPS = ("cell_id", "pert_type")
BLOCK = 65_536  # signatures per kernel call: what progress is reported in and filters skip by
TASK = 512  # signatures per parallel task: scratch buffers are allocated once per task
# Signatures whose hit bitmaps and rank-indexed weights are built together: each query row is read 128 signatures
# (256-512 bytes) at a time. At 10^6 signatures one WTCS query takes 0.68 s with 128 against 1.0 s with 32 (the
# same process, interleaved); a batch of 10 queries 6.1 s against 7.6 s.
TILE = 128


# ---------------------------------------------------------------- compiled kernels (one signature per column)


@njit(cache=True, nogil=True)
def _mark_tile(
    ranks: np.ndarray,
    scores: np.ndarray,
    genes: np.ndarray,
    start: int,
    bits: np.ndarray,
    weights: np.ndarray,
    totals: np.ndarray,
) -> None:
    """Mark the hits of signatures ``start + j`` (a tile): bit ``rank`` of ``bits[j]``, |z| at ``weights[j, rank]``.

    The hits are rows ``genes`` of the matrices; ``totals[j]`` sums the |z|. The rows are
    gene-major (each gene's values are contiguous over signatures), so the tile is read gene by
    gene, each gene's stretch in one run: reading signature by signature instead strides a whole
    row per hit. ``scores`` may be ``ranks`` where only the bits are needed.

    Indices are unsigned (``uintp``) here and in the scans: numba wraps a signed index that may
    be negative around the axis, a compare and add per access that cost a sixth of the query.
    """
    for k in range(genes.shape[0]):
        gene = uintp(genes[k])
        for j in range(uintp(bits.shape[0])):
            column = uintp(start) + j
            rank = uintp(ranks[gene, column])
            w = abs(scores[gene, column])
            bits[j, rank >> uintp(6)] |= np.uint64(1) << np.uint64(rank & uintp(63))
            weights[j, rank] = w
            totals[j] += w


@njit(cache=True, nogil=True)
def _in_rank_order(bits: np.ndarray, hit_ranks: np.ndarray) -> None:
    """The ranks marked in one signature's bitmap, ascending; clears the bitmap.

    Ranks within a signature are distinct integers in 1..G, so no comparison sort is needed:
    walking the map's words and each word's set bits (count trailing zeros) lists the n hits
    in rank order in O(n + G/64) with few unpredictable branches.
    """
    i = 0
    for word_at in range(bits.shape[0]):
        word = bits[word_at]
        bits[word_at] = 0
        while word:
            hit_ranks[i] = (word_at << 6) + trailing_zeros(word)
            word &= word - np.uint64(1)
            i += 1


@njit(parallel=True, cache=True, nogil=True)
def _weighted_es(
    ranks: np.ndarray,
    scores: np.ndarray,
    genes: np.ndarray,
    bounds: np.ndarray,
    first: int,
    width: int,
    n_genes: int,
    out: np.ndarray,
) -> None:
    """CMap's weighted ES (weight 1) of gene sets in signatures ``first + j``, from peaks and troughs.

    Set q is rows ``genes[bounds[q]:bounds[q + 1]]``; ``out[q, j]`` its ES in signature
    ``first + j``. Every set is scored in a tile of signatures before the next tile, so a batch
    of queries reads each tile's stretch of the index while it is in cache. The hits are
    visited in rank order straight off each signature's bitmap (as :func:`_in_rank_order` lists
    them), each scored as it comes, clearing the bitmap for the next set.
    """
    words = (n_genes >> 6) + 1
    for tile in prange((width + TILE - 1) // TILE):
        start = tile * TILE
        size = min(width, start + TILE) - start
        bits = np.zeros((size, words), np.uint64)
        weights, totals = np.empty((size, n_genes + 1), scores.dtype), np.zeros(size)  # |z| at each hit rank
        for q in range(bounds.shape[0] - 1):
            members = genes[bounds[q] : bounds[q + 1]]
            n = members.shape[0]
            miss = 1.0 / (n_genes - n)
            totals[:] = 0.0
            _mark_tile(ranks, scores, members, first + start, bits, weights, totals)
            for j in range(uintp(size)):
                equal = totals[j] == 0.0  # hits that all score 0 step up equally, as weighted_es does
                scale = 1.0 / n if equal else 1.0 / totals[j]
                cum = 0.0
                peak, peak_at = -np.inf, 0
                trough, trough_at = np.inf, 0
                i = 0
                for word_at in range(words):
                    word = bits[j, uintp(word_at)]
                    bits[j, uintp(word_at)] = 0
                    while word:
                        r = (word_at << 6) + trailing_zeros(word)
                        word &= word - np.uint64(1)
                        misses = (r - 1 - i) * miss
                        before = cum * scale - misses
                        cum += 1.0 if equal else np.float64(weights[j, uintp(r)])
                        after = cum * scale - misses
                        if after > peak:
                            peak, peak_at = after, r
                        if before < trough:
                            trough, trough_at = before, r - 1
                        i += 1
                if peak > -trough or (peak == -trough and peak_at < trough_at):
                    out[q, start + j] = peak
                else:
                    out[q, start + j] = trough


@njit(parallel=True, cache=True, nogil=True)
def _unweighted_ks(ranks: np.ndarray, genes: np.ndarray, first: int, width: int, n_genes: int, out: np.ndarray) -> None:
    """The signed KS statistic of CMap 1 / RGES of the gene set at rows ``genes`` in signatures ``first + j``.

    a and b are compared exactly, as the integers a·t·G and b·t·G: they tie often (ranks are
    integers), and in floating point the tie would be broken by rounding noise.
    """
    n = genes.shape[0]
    for tile in prange((width + TILE - 1) // TILE):
        start = tile * TILE
        size = min(width, start + TILE) - start
        if n <= 1:
            out[start : start + size] = 0.0
            continue
        bits = np.zeros((size, (n_genes >> 6) + 1), np.uint64)
        unused = np.empty((size, n_genes + 1), ranks.dtype), np.zeros(size)
        _mark_tile(ranks, ranks, genes, first + start, bits, *unused)
        hit_ranks = np.empty(n, np.int64)
        for j in range(size):
            _in_rank_order(bits[j], hit_ranks)
            a, b = -(n * n_genes), -(n * n_genes)
            for i in range(n):
                a = max(a, (i + 1) * n_genes - hit_ranks[i] * n)
                b = max(b, hit_ranks[i] * n - i * n_genes)
            out[start + j] = a / (n * n_genes) if a > b else -b / (n * n_genes)


@njit(parallel=True, cache=True, nogil=True)
def _extreme_sum(
    ranks: np.ndarray,
    scores: np.ndarray,
    genes: np.ndarray,
    first: int,
    width: int,
    n_genes: int,
    n_extreme: int,
    total: np.ndarray,
    count: np.ndarray,
) -> None:
    """Per signature ``first + j``: sum and number of the set's z-scores among its top/bottom ``n_extreme`` genes."""
    for task in prange((width + TASK - 1) // TASK):
        start, stop = task * TASK, min(width, (task + 1) * TASK)
        sums, counts = np.zeros(stop - start), np.zeros(stop - start, np.int64)
        for k in range(genes.shape[0]):  # row by row, so each row of the block is read contiguously
            gene = genes[k]
            row_ranks, row_scores = ranks[gene, first + start : first + stop], scores[gene, first + start : first + stop]
            for j in range(stop - start):
                r = row_ranks[j]
                extreme = (r <= n_extreme) | (r > n_genes - n_extreme)
                sums[j] += np.float64(row_scores[j]) if extreme else 0.0
                counts[j] += extreme
        total[start:stop] = sums
        count[start:stop] = counts


# ---------------------------------------------------------------- statistics over arrays of query rows


@dataclass(frozen=True)
class Rows:
    """One gene set over some signatures: rows ``genes`` and columns ``start:start + width`` of the matrices.

    ``ranks`` and ``scores`` (z-scores, for weighted methods) are read in place: an index's
    mapped matrices, or arrays gathered for a null. ``genes=None`` means every row and
    ``width=None`` every column from ``start``.
    """

    ranks: np.ndarray
    scores: np.ndarray | None
    genes: np.ndarray | None = None
    start: int = 0
    width: int | None = None

    def at(self) -> tuple[np.ndarray, int, int]:
        """The row positions, first column and number of columns the kernels read."""
        genes = np.arange(self.ranks.shape[0]) if self.genes is None else self.genes
        width = self.ranks.shape[1] - self.start if self.width is None else self.width
        return np.asarray(genes, dtype=np.int64), self.start, width

    def columns(self) -> int:
        return self.at()[2]


def _opposed(up: np.ndarray, down: np.ndarray, scale: float) -> np.ndarray:
    """CMap's rule: a connectivity only when the up and down sets move in opposite directions."""
    return np.where(np.sign(up) != np.sign(down), (up - down) * scale, 0.0)


def _es(rows: Rows, n_genes: int) -> np.ndarray:
    genes, first, width = rows.at()
    out = np.empty((1, width))
    _weighted_es(rows.ranks, rows.scores, genes, np.array([0, len(genes)]), first, width, n_genes, out)
    return out[0]


def _ks(rows: Rows, n_genes: int) -> np.ndarray:
    out = np.empty(rows.columns())
    _unweighted_ks(rows.ranks, *rows.at(), n_genes, out)
    return out


def _xsum_parts(rows: Rows, n_genes: int, n_extreme: int) -> tuple[np.ndarray, np.ndarray]:
    total = np.empty(rows.columns())
    count = np.empty(rows.columns(), dtype=np.int64)
    _extreme_sum(rows.ranks, rows.scores, *rows.at(), n_genes, n_extreme, total, count)
    return total, count


def score_rows(method: Method, up: Rows, down: Rows, n_genes: int, n_extreme: int, norms: np.ndarray) -> np.ndarray:
    """The raw score of each signature (column of the rows) for one method.

    ``norms`` (‖z‖ over each signature's extreme genes) is read only by XCos.
    """
    if method == "wtcs":
        return _opposed(_es(up, n_genes), _es(down, n_genes), 0.5)
    if method == "rges":
        return _opposed(_ks(up, n_genes), _ks(down, n_genes), 1.0)
    up_sum, up_count = _xsum_parts(up, n_genes, n_extreme)
    down_sum, down_count = _xsum_parts(down, n_genes, n_extreme)
    xsum = up_sum - down_sum
    if method == "xsum":
        return xsum
    denominator = np.sqrt(up_count + down_count) * norms
    return np.divide(xsum, denominator, out=np.zeros_like(xsum), where=denominator > 0)


# ---------------------------------------------------------------- queries over an index


def _check_method(method: str) -> Method:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    return method  # type: ignore[return-value]


def query_genes(index: RankIndex, up: Sequence[str], down: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index rows of the up and down sets; empty or overlapping sets and unknown genes are errors."""
    up_ids = list(dict.fromkeys(str(g) for g in up))  # a gene set is a set: repeats count once
    down_ids = list(dict.fromkeys(str(g) for g in down))
    if not up_ids or not down_ids:
        raise DataError(f"a query needs a non-empty up and down set (got {len(up_ids)} up, {len(down_ids)} down genes)")
    overlap = sorted(set(up_ids) & set(down_ids))
    if overlap:
        raise DataError(f"genes {overlap[:10]} are in both the up and the down set")
    missing = [g for g in up_ids + down_ids if g not in index.gene_ids]
    if missing:
        index.gene_positions(missing)  # raises, naming every absent gene
    return index.gene_positions(up_ids, "up"), index.gene_positions(down_ids, "down")


def _spans(n_signatures: int, block_size: int, selected: np.ndarray | None) -> list[tuple[int, int]]:
    """Signature blocks to read; blocks without a selected signature are skipped."""
    if block_size < 1:
        raise ValueError(f"block_size must be positive, not {block_size}")
    spans = [(start, min(start + block_size, n_signatures)) for start in range(0, n_signatures, block_size)]
    return spans if selected is None else [(a, b) for a, b in spans if selected[a:b].any()]


def score_signatures(
    index: RankIndex,
    up: Sequence[str],
    down: Sequence[str],
    method: Method = "wtcs",
    selected: np.ndarray | None = None,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Raw score of every signature of the index for one query (NaN outside the boolean mask ``selected``)."""
    return score_many(index, [(up, down)], method, selected, block_size, progress)[0]


def score_many(
    index: RankIndex,
    queries: Sequence[tuple[Sequence[str], Sequence[str]]],
    method: Method = "wtcs",
    selected: np.ndarray | None = None,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Raw scores (queries × signatures) of up/down queries in one pass over the index (NaN outside ``selected``).

    ``progress(done, total)`` is called after each block (signatures covered so far, of all).

    The kernels read the query genes' rows of the index's mapped matrices in place: a batch
    allocates only its output (8 bytes per query and signature). Each block's rows (of every
    query's genes) are prefetched once while the block before it is scored; WTCS scores every
    set of the batch tile by tile of signatures, the other methods query after query per block.
    """
    return _score_positions(index, [query_genes(index, up, down) for up, down in queries], method, selected, block_size, progress)


def _score_positions(
    index: RankIndex,
    positions: Sequence[tuple[np.ndarray, np.ndarray]],
    method: str,
    selected: np.ndarray | None,
    block_size: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    """``score_many`` on queries already checked and placed as index rows (``query_genes``)."""
    method = _check_method(method)
    sets = [rows for pair in positions for rows in pair]
    genes = np.concatenate(sets)
    bounds = np.concatenate([[0], np.cumsum([len(rows) for rows in sets])]).astype(np.int64)
    ranks, scores = index.ranks, (index.scores if method in WEIGHTED else None)
    union = np.unique(genes)
    out = np.full((len(positions), index.n_signatures), np.nan)
    spans = _spans(index.n_signatures, block_size, selected)
    for i, (start, stop) in enumerate(spans):
        for ahead in spans[i : i + 2] if i == 0 else spans[i + 1 : i + 2]:  # the next block is read while this one is scored
            index.prefetch(union, *ahead, scores=scores is not None)
        if method == "wtcs":
            es = np.empty((len(sets), stop - start))
            _weighted_es(ranks, scores, genes, bounds, start, stop - start, index.n_genes, es)
            out[:, start:stop] = _opposed(es[0::2], es[1::2], 0.5)
        else:
            norms = index.extreme_norm[start:stop]
            for q, (up_pos, down_pos) in enumerate(positions):
                up_rows = Rows(ranks, scores, up_pos, start, stop - start)
                down_rows = Rows(ranks, scores, down_pos, start, stop - start)
                out[q, start:stop] = score_rows(method, up_rows, down_rows, index.n_genes, index.extreme_n, norms)
        if progress is not None:
            progress(stop, index.n_signatures)
    if selected is not None:
        out[:, ~selected] = np.nan
    return out


# ---------------------------------------------------------------- signature metadata and filters


@dataclass(frozen=True)
class SignatureFilter:
    """Which signatures a query considers, by their sig_info annotations; ``None`` means any.

    ``dose_range`` is inclusive, in the table's ``pert_dose`` unit (µM in LINCS); ``times`` are
    ``pert_time`` values (hours). Control signatures (``ctl_vehicle``, ``ctl_untrt``, ...) are
    the background a release measures treatments against, not candidates: without
    ``pert_types`` they are left out unless ``controls`` is set; naming a control type in
    ``pert_types`` considers it.
    """

    cell_ids: Collection[str] | None = None
    pert_types: Collection[str] | None = None
    dose_range: tuple[float, float] | None = None
    times: Collection[float] | None = None
    controls: bool = False

    def mask(self, meta: pd.DataFrame) -> np.ndarray:
        """Boolean mask over the rows of an aligned sig_info table."""
        keep = np.ones(len(meta), dtype=bool)
        if self.pert_types is None and not self.controls and "pert_type" in meta.columns:
            keep &= ~is_control(meta.pert_type)
        for column, allowed in (("cell_id", self.cell_ids), ("pert_type", self.pert_types), ("pert_time", self.times)):
            if allowed is not None:
                keep &= _column(meta, column).isin(list(allowed)).to_numpy()
        if self.dose_range is not None:
            low, high = self.dose_range
            keep &= _column(meta, "pert_dose").between(low, high).to_numpy()
        return keep


def is_control(pert_types: pd.Series) -> np.ndarray:
    """Which perturbagen types are controls (``ctl_vehicle``, ``ctl_untrt``, ``ctl_vector``, ...)."""
    return pert_types.astype(str).str.startswith("ctl").to_numpy()


def _column(meta: pd.DataFrame, column: str) -> pd.Series:
    if column not in meta.columns:
        raise DataError(f"signature metadata has no {column} column, which this query needs")
    return meta[column]


def align_signature_metadata(index: RankIndex, sig_info: pd.DataFrame) -> pd.DataFrame:
    """sig_info rows in the index's signature order; a signature it does not describe is an error.

    A table from another release (or an index from another file) leaves signatures undescribed
    and is caught here rather than producing scores with someone else's annotations.
    """
    table = sig_info.set_index("sig_id", drop=False) if "sig_id" in sig_info.columns else sig_info
    table = table.set_axis(pd.Index(table.index.astype(str), dtype="str", name="sig_id"))
    repeated = table.index[table.index.duplicated()]
    if len(repeated):
        raise DataError(f"sig_info lists signatures {repeated.unique()[:5].tolist()} more than once")
    missing = index.sig_ids.difference(table.index)
    if len(missing):
        raise DataError(
            f"sig_info does not describe {len(missing)} of the {index.n_signatures} signatures of {index.path.name} "
            f"(built from {index.header['source_name']}), e.g. {missing[:5].tolist()}: is it from another release?"
        )
    return table.reindex(index.sig_ids).drop(columns="sig_id", errors="ignore")


@dataclass(frozen=True)
class SignatureTable:
    """sig_info aligned to one index's signatures, with each signature's NCS group (cell line × perturbagen type).

    Aligning 10^6 sig_ids and coding their groups costs about 0.2 s; a session that runs many
    queries against one index does it once (:meth:`align`) and passes the table to each.
    """

    meta: pd.DataFrame
    groups: np.ndarray
    n_groups: int
    index_path: Path

    @classmethod
    def align(cls, index: RankIndex, sig_info: pd.DataFrame) -> SignatureTable:
        meta = align_signature_metadata(index, sig_info)
        codes, n_groups = group_codes(meta, NCS_GROUPS) if set(NCS_GROUPS) <= set(meta.columns) else (None, 0)
        return cls(meta, codes, n_groups, index.path)

    def check(self, index: RankIndex) -> None:
        """Raise DataError unless the table was aligned to ``index``."""
        if self.index_path != index.path or len(self.meta) != index.n_signatures:
            raise DataError(f"signature table aligned to {self.index_path.name} used with {index.path.name}")

    def ncs(self, raw: np.ndarray, within: np.ndarray | None) -> np.ndarray:
        """NCS of the raw WTCS of every signature, over the signatures ``within`` (a mask; None: all)."""
        for column in NCS_GROUPS:
            _column(self.meta, column)  # raises, naming the missing column
        if within is None:
            return ncs_by_group(raw, self.groups, self.n_groups)
        out = np.full(len(raw), np.nan)
        out[within] = ncs_by_group(raw[within], self.groups[within], self.n_groups)
        return out

    def whole_groups(self, selected: np.ndarray) -> np.ndarray:
        """``selected`` widened to every signature sharing a cell line × perturbagen type with a selected one.

        NCS normalises by the mean WTCS of the whole group, so a dose or time filter must not shrink it.
        """
        for column in NCS_GROUPS:
            _column(self.meta, column)
        return np.isin(self.groups, np.unique(self.groups[selected]))


# ---------------------------------------------------------------- the search


def _permutation_p_values(
    index: RankIndex,
    method: Method,
    positions: np.ndarray,
    observed: np.ndarray,
    sizes: tuple[int, int],
    permutations: int,
    seed: int,
) -> np.ndarray:
    """P-values of the listed signatures' scores against random up/down sets of the same sizes.

    Every permutation draws n_up + n_down distinct genes (seeded), the first n_up as the up set;
    all permutations × signatures are scored in one call of the kernels, so the null costs one
    read of the listed signatures plus compiled work. p = (1 + #{|null| ≥ |observed|}) / (1 + K).
    """
    ranks, scores = index.read_signatures(positions)
    n_up, n_down = sizes
    rng = np.random.default_rng(seed)
    draws = rng.permuted(np.tile(np.arange(index.n_genes), (permutations, 1)), axis=1)[:, : n_up + n_down]

    def rows(genes: np.ndarray) -> Rows:
        def gather(matrix: np.ndarray) -> np.ndarray:  # (K, n, t) -> (n, K·t): permutation-major columns
            return np.ascontiguousarray(matrix[genes].transpose(1, 0, 2).reshape(genes.shape[1], -1))

        return Rows(gather(ranks), gather(scores))

    norms = np.tile(index.extreme_norm[positions], permutations)
    null = score_rows(method, rows(draws[:, :n_up]), rows(draws[:, n_up:]), index.n_genes, index.extreme_n, norms)
    exceed = np.abs(null.reshape(permutations, len(positions))) >= np.abs(observed)
    return (1 + exceed.sum(axis=0)) / (1 + permutations)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest values in ascending order, ties in position order (a stable sort's top k).

    A partition finds the k-th value in linear time; only values up to it (ties included) are sorted.
    """
    if k >= len(values):
        return np.argsort(values, kind="stable")
    threshold = np.partition(values, k - 1)[k - 1]
    within = np.flatnonzero(values <= threshold)
    return within[np.argsort(values[within], kind="stable")[:k]]


@dataclass(frozen=True)
class Scored:
    """Every signature's scores for one query, which of them the query considers, and their annotations.

    ``scores`` is indexed by sig_id with the method's raw score, ``ncs`` (WTCS with sig_info)
    and ``tau`` (with a reference null); ``meta`` is sig_info aligned to the index, if given.
    """

    method: str  # a connectivity Method, or a query shape's (shapes.PROFILE_METHODS, "es")
    scores: pd.DataFrame
    selected: np.ndarray
    meta: pd.DataFrame | None
    sizes: tuple[int, ...]  # genes per side (up, down), or the one set's / the shared genes' count

    @property
    def key(self) -> str:
        """The column results are ranked by: τ, else NCS, else the raw score."""
        return next(c for c in ("tau", "ncs", self.method) if c in self.scores.columns)

    def considered(self) -> pd.DataFrame:
        """Scores and annotations of the signatures the query considers (what summaries run over)."""
        rows = self.scores[self.selected]
        return rows if self.meta is None else rows.join(self.meta[self.selected])


def score_table(
    index: RankIndex,
    up: Sequence[str],
    down: Sequence[str],
    method: Method = "wtcs",
    sig_info: pd.DataFrame | SignatureTable | None = None,
    filters: SignatureFilter | None = None,
    null: ReferenceNull | None = None,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> Scored:
    """Score every signature one query considers: :func:`score_tables` for a batch of one."""
    return score_tables(index, [(up, down)], method, sig_info, filters, null, block_size, progress)[0]


def score_tables(
    index: RankIndex,
    queries: Sequence[tuple[Sequence[str], Sequence[str]]],
    method: Method = "wtcs",
    sig_info: pd.DataFrame | SignatureTable | None = None,
    filters: SignatureFilter | None = None,
    null: ReferenceNull | None = None,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> list[Scored]:
    """Score every signature the queries consider, in one pass: raw score, NCS (WTCS with ``sig_info``), τ (with ``null``).

    NCS is per cell line × perturbagen type over all signatures of the groups considered; τ is
    the NCS's signed percentile in its perturbagen type's reference null
    (:class:`~l1k_assets.search.tau.ReferenceNull`). ``sig_info`` is the release's table, or a
    :class:`SignatureTable` aligned to this index once for many queries.
    """
    method = _check_method(method)
    positions = [query_genes(index, up, down) for up, down in queries]  # checked and placed once
    sizes = [(len(up), len(down)) for up, down in positions]
    score = lambda mask: _score_positions(index, positions, method, mask, block_size, progress)  # noqa: E731
    return scored_tables(index, score, method, sizes, sig_info, filters, null)


def scored_tables(
    index: RankIndex,
    score: Callable[[np.ndarray | None], np.ndarray],
    method: str,
    sizes: Sequence[tuple[int, ...]],
    sig_info: pd.DataFrame | SignatureTable | None = None,
    filters: SignatureFilter | None = None,
    null: ReferenceNull | None = None,
) -> list[Scored]:
    """Raw scores of queries (``score(mask)``: queries × signatures, NaN outside the mask) with NCS, τ and filters.

    What every query shape shares: sig_info aligned and checked, the filters' mask (widened to
    whole cell line × perturbagen type groups where NCS normalises: WTCS, and the ES of an
    unsigned set), NCS per group, τ against the reference null (WTCS only).
    """
    signatures = SignatureTable.align(index, sig_info) if isinstance(sig_info, pd.DataFrame) else sig_info
    if signatures is not None:
        signatures.check(index)
    meta = None if signatures is None else signatures.meta
    if filters is not None and meta is None:
        raise DataError("filtering signatures needs their sig_info table")
    if null is not None and (method != "wtcs" or meta is None):
        raise DataError("τ needs WTCS (whose NCS it is a percentile of) and the signatures' sig_info")
    selected = None if filters is None or meta is None else filters.mask(meta)
    if selected is not None and not selected.any():
        raise DataError(f"the filters {filters} select none of the {index.n_signatures} signatures")
    if selected is not None and selected.all():
        selected = None  # nothing left out: score every signature without a mask
    normalise = method in NORMALISED and meta is not None
    scored = signatures.whole_groups(selected) if normalise and selected is not None else selected
    out = []
    for raw, size in zip(score(scored), sizes, strict=True):
        table = pd.DataFrame({method: raw}, index=index.sig_ids)
        if normalise:
            table["ncs"] = signatures.ncs(raw, scored)
        if null is not None:
            table["tau"] = null.tau(table.ncs.to_numpy(), meta.pert_type.to_numpy())
        considered = ~np.isnan(raw) if selected is None else selected
        out.append(Scored(method, table, considered, meta, tuple(size)))
    return out


def ranked_signatures(
    index: RankIndex,
    scored: Scored,
    top: int = 50,
    direction: Direction = "reverse",
    permutations: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``top`` considered signatures, best first (by τ, NCS on ties, else NCS, else the raw score).

    ``direction="reverse"`` lists the most negative (signatures that reverse the query, the
    drug-repurposing use), ``"mimic"`` the most positive; a signature without τ (a perturbagen
    type the reference lacks) comes after those with one. ``permutations`` > 0 adds a
    ``p_value`` per listed signature: the raw score's magnitude against random up/down sets of
    the same sizes (seeded by ``seed``).
    """
    if direction not in get_args(Direction):
        raise ValueError(f"direction must be one of {get_args(Direction)}, not {direction!r}")
    if top < 1 or permutations < 0:
        raise ValueError(f"top must be positive and permutations non-negative, not {top} and {permutations}")
    sign = 1.0 if direction == "reverse" else -1.0
    candidates = np.flatnonzero(scored.selected)
    table = scored.scores
    if "tau" in table.columns:  # τ is coarse (a percentile): NCS orders its ties
        tau = sign * table.tau.to_numpy()[candidates]
        order = np.lexsort((sign * table.ncs.to_numpy()[candidates], np.where(np.isnan(tau), np.inf, tau)))
        best = candidates[order[:top]]
    else:
        best = candidates[_smallest(sign * table[scored.key].to_numpy()[candidates], top)]
    result = table.iloc[best].copy()
    if permutations:
        raw = table[scored.method].to_numpy()[best]
        result["p_value"] = _permutation_p_values(index, scored.method, best, raw, scored.sizes, permutations, seed)
    result.insert(0, "rank", np.arange(1, len(result) + 1))
    if scored.meta is not None:
        result = result.join(scored.meta.iloc[best])
    return result.rename_axis("sig_id").reset_index()


def search(
    index: RankIndex,
    up: Sequence[str],
    down: Sequence[str],
    method: Method = "wtcs",
    sig_info: pd.DataFrame | SignatureTable | None = None,
    filters: SignatureFilter | None = None,
    top: int = 50,
    direction: Direction = "reverse",
    permutations: int = 0,
    seed: int = 0,
    block_size: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The ``top`` signatures for an up/down query, best first, with their sig_info annotations.

    :func:`score_table` then :func:`ranked_signatures` (WTCS with ``sig_info`` ranks by NCS).
    """
    scored = score_table(index, up, down, method, sig_info, filters, None, block_size, progress)
    return ranked_signatures(index, scored, top, direction, permutations, seed)
