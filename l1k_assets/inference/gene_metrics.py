"""Seed 002's gene-level inference metrics: gene-level recall and the gene ranking correlation.

The sample-level metrics (error, SCC, PCC per test sample) live in ``metrics.py``; these ones
look at each gene across the test samples instead.

Gene-level recall (LINCS's R_gene, as adapted by seed 002): a gene is well inferred when the
Spearman correlation between its measured and inferred values across the test samples beats
a chance level, the 95th (or 99.9th) percentile of the same correlation taken between
NON-matching genes (truth of gene a against prediction of gene b, a ≠ b). The reference
builds that null as a dense G × G float64 matrix, more than 10 GB at G = 12,320. Two ways
round it here:

- ``method="exact"`` streams the G × G correlations in row blocks twice: the first pass
  histograms them into fine bins, the second keeps only the values in the bins that hold the
  wanted order statistics. Memory is O(block × G) and the percentile is exactly numpy's
  (linear interpolation), up to float32 rounding of each correlation.
- ``method="sample"`` draws n i.i.d. non-matching pairs uniformly. By the
  Dvoretzky–Kiefer–Wolfowitz inequality the empirical CDF of n draws is within
  sqrt(ln(2/δ)/(2n)) of the null's CDF everywhere with probability ≥ 1 − δ; an empirical
  quantile sits between two neighbouring order statistics, which costs one more 1/n. So
  with n = ``dkw_sample_size(ε, δ)`` the estimated p-quantile lies between the null's exact
  (p − ε) and (p + ε) quantiles with probability ≥ 1 − δ (tested against the exact mode).

The exact mode is the default: at the seed's scale (176 samples, 12,320 genes, 151.8 M pairs)
it takes about 3 s on two cores, less than drawing the 10.6 M pairs that ε = 5e-4 needs.
Sampling is for larger gene sets, where two passes over G² pairs grow too slow.

Constant genes (all test samples equal, in the truth or the prediction) have no Spearman
correlation: their own correlation is NaN, they never count as well inferred, they are
reported, and they are left out of the null (their pairs are undefined, not zero).

The gene ranking correlation robust-z-scores every gene across the test samples, separately
for truth and prediction, then takes per sample the Spearman correlation of the two z vectors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from scipy.stats import rankdata

from l1k_assets.errors import DataError
from l1k_assets.inference.metrics import sample_scc

MAD_SCALE = 1.4826  # makes the MAD a consistent estimator of the standard deviation for normal data
DEFAULT_MAD_FLOOR = 0.01  # log2 units: a gene varying less than this across samples is measurement noise
DEFAULT_PERCENTILES = (95.0, 99.9)
DEFAULT_EPSILON = 5e-4  # the 99.9th percentile estimate lands between the exact 99.85th and 99.95th
DEFAULT_DELTA = 0.01
MIN_SAMPLES = 3  # with two samples every Spearman correlation is ±1

_HIST_BINS = 1 << 16  # bins of width 3e-5 over [-1, 1] for the exact mode's first pass
_CHUNK_VALUES = 1 << 18  # float32 correlations computed per block (1 MB), bounding working memory


def check_truth_prediction(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Truth and prediction as float64 samples × genes arrays, or a DataError saying what is wrong."""
    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    if truth.ndim != 2 or truth.shape != pred.shape:
        raise DataError(f"truth {truth.shape} and prediction {pred.shape} must be 2-D arrays (samples × genes) of one shape")
    if truth.shape[0] < MIN_SAMPLES:
        raise DataError(f"gene-level metrics need at least {MIN_SAMPLES} test samples, got {truth.shape[0]}")
    for label, values in (("truth", truth), ("prediction", pred)):
        if not np.isfinite(values).all():
            raise DataError(f"{label} holds {int((~np.isfinite(values)).sum())} NaN or infinite values")
    return truth, pred


def _unit_ranks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per gene: average ranks across samples, centred and scaled to unit length, as a genes × samples array.

    The Spearman correlation of two genes is then the dot product of their rows, so a whole
    block of the null is one matrix product. Constant genes get a zero row and ``valid`` False.
    """
    ranks = rankdata(y, axis=0)
    centred = ranks - ranks.mean(axis=0)
    norms = np.sqrt((centred * centred).sum(axis=0))
    valid = norms > 0
    scaled = np.divide(centred, norms, out=np.zeros_like(centred), where=valid)
    return np.ascontiguousarray(scaled.T), valid


def gene_correlations(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per gene: Spearman correlation across test samples between truth and prediction (NaN for a constant gene)."""
    truth, pred = check_truth_prediction(y_true, y_pred)
    return _own_correlations(*_unit_ranks(truth), *_unit_ranks(pred))


def _own_correlations(zt: np.ndarray, valid_t: np.ndarray, zp: np.ndarray, valid_p: np.ndarray) -> np.ndarray:
    return np.where(valid_t & valid_p, np.clip((zt * zp).sum(axis=1), -1.0, 1.0), np.nan)


class _Null:
    """The null's ingredients: float32 unit ranks and the genes whose correlations are defined."""

    def __init__(self, zt: np.ndarray, valid_t: np.ndarray, zp: np.ndarray, valid_p: np.ndarray) -> None:
        self.zt = zt.astype(np.float32)
        self.zp = zp.astype(np.float32)
        self.rows = np.flatnonzero(valid_t)  # truth genes that are not constant
        self.cols = np.flatnonzero(valid_p)  # predicted genes that are not constant
        self.population = len(self.rows) * len(self.cols) - len(np.intersect1d(self.rows, self.cols))
        if self.population == 0:
            raise DataError("no pair of distinct non-constant genes: the null distribution is empty")

    def blocks(self, block_rows: int | None = None) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]]:
        """Row blocks of the truth × prediction correlation matrix, with the positions of matching pairs.

        Correlations are clipped to [-1, 1] (float32 rounding can step just outside).
        """
        zp_t = self.zp[self.cols].T
        col_pos = np.full(self.zt.shape[0], -1)
        col_pos[self.cols] = np.arange(len(self.cols))
        step = block_rows or max(1, _CHUNK_VALUES // len(self.cols))
        for start in range(0, len(self.rows), step):
            rows = self.rows[start : start + step]
            block = self.zt[rows] @ zp_t
            np.clip(block, -1.0, 1.0, out=block)
            pos = col_pos[rows]
            matching = np.flatnonzero(pos >= 0)
            yield block, (matching, pos[matching])

    def sample(self, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
        """Correlations of ``n_pairs`` non-matching pairs drawn i.i.d. uniformly (with replacement).

        A matching pair is redrawn as a whole pair: redrawing only b would over-weight truth
        genes that are not among the prediction's valid genes.
        """
        a = self.rows[rng.integers(len(self.rows), size=n_pairs)]
        b = self.cols[rng.integers(len(self.cols), size=n_pairs)]
        clash = np.flatnonzero(a == b)
        while len(clash):
            a[clash] = self.rows[rng.integers(len(self.rows), size=len(clash))]
            b[clash] = self.cols[rng.integers(len(self.cols), size=len(clash))]
            clash = clash[a[clash] == b[clash]]
        out = np.empty(n_pairs, dtype=np.float32)
        step = max(1, _CHUNK_VALUES // self.zt.shape[1])
        for start in range(0, n_pairs, step):
            stop = start + step
            out[start:stop] = np.einsum("ij,ij->i", self.zt[a[start:stop]], self.zp[b[start:stop]])
        return np.clip(out, -1.0, 1.0, out=out)

    def all_pairs(self) -> np.ndarray:
        """Every non-matching pair's correlation (float32, 4 bytes per pair: for small and medium G only)."""
        out = np.empty(self.population, dtype=np.float32)
        filled = 0
        for block, matching in self.blocks():
            keep = np.ones(block.shape, dtype=bool)
            keep[matching] = False
            values = block[keep]
            out[filled : filled + len(values)] = values
            filled += len(values)
        return out

    def exact_percentiles(self, percentiles: np.ndarray, block_rows: int | None = None) -> np.ndarray:
        """numpy's linear-interpolation percentiles of the full null, from two streamed passes."""
        counts = np.zeros(_HIST_BINS, dtype=np.int64)
        for block, matching in self.blocks(block_rows):
            counts += np.bincount(_bin_index(block, matching).ravel(), minlength=_HIST_BINS + 1)[:_HIST_BINS]
        positions = (self.population - 1) * percentiles / 100.0
        low = np.floor(positions).astype(np.int64)
        high = np.minimum(low + 1, self.population - 1)
        ranks = np.unique(np.concatenate([low, high]))
        # one bin of margin each side: a value that float rounding moves across a bin edge between the passes stays in the window
        target_bins = np.searchsorted(np.cumsum(counts), ranks, side="right")
        window_of = {int(b): (max(b - 1, 0), min(b + 1, _HIST_BINS - 1)) for b in target_bins}
        windows = list(dict.fromkeys(window_of.values()))
        below = np.zeros(len(windows), dtype=np.int64)
        inside: list[list[np.ndarray]] = [[] for _ in windows]
        for block, matching in self.blocks(block_rows):
            block_below, block_inside = _window_values(block, matching, windows)
            below += block_below
            for kept, values in zip(inside, block_inside, strict=True):
                kept.append(values)
        sorted_windows = [np.sort(np.concatenate(values)) for values in inside]
        order_stats = {}
        for rank, b in zip(ranks, target_bins, strict=True):
            w = windows.index(window_of[int(b)])  # the window centred on this rank's bin, margin on both sides
            order_stats[int(rank)] = float(sorted_windows[w][rank - below[w]])
        x_low = np.array([order_stats[int(r)] for r in low])
        x_high = np.array([order_stats[int(r)] for r in high])
        return x_low + (positions - low) * (x_high - x_low)


def _bin_index(block: np.ndarray, matching: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Histogram bin of each correlation; matching pairs go to the overflow bin ``_HIST_BINS``, outside every window."""
    scaled = block + np.float32(1.0)
    scaled *= np.float32(_HIST_BINS / 2)
    index = scaled.astype(np.intp)  # bincount's own index type: no hidden converted copy
    del scaled  # in-place steps and an early release keep the working set at about three blocks
    np.minimum(index, _HIST_BINS - 1, out=index)
    index[matching] = _HIST_BINS
    return index


def _window_values(
    block: np.ndarray, matching: tuple[np.ndarray, np.ndarray], windows: list[tuple[int, int]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per bin window [lo, hi]: how many of the block's correlations fall below it, and the ones inside it.

    A function of its own so the bin indices are released before the next block is computed.
    """
    index = _bin_index(block, matching)
    below = np.array([np.count_nonzero(index < lo) for lo, _ in windows], dtype=np.int64)
    return below, [block[(index >= lo) & (index <= hi)] for lo, hi in windows]


def dkw_sample_size(epsilon: float, delta: float) -> int:
    """Smallest n with sqrt(ln(2/δ)/(2n)) + 1/n ≤ ε: the DKW band plus one order statistic of quantile slack.

    With that many i.i.d. draws, the sample p-quantile lies between the population's (p − ε)
    and (p + ε) quantiles with probability at least 1 − δ.
    """
    if not 0 < epsilon < 1 or not 0 < delta < 1:
        raise ValueError(f"epsilon and delta must lie in (0, 1), got {epsilon} and {delta}")
    c = math.sqrt(math.log(2 / delta) / 2)
    root = (-c + math.sqrt(c * c + 4 * epsilon)) / 2  # the s = 1/sqrt(n) solving c·s + s² = ε
    return math.ceil(1 / root**2)


def _null(truth: np.ndarray, pred: np.ndarray) -> tuple[_Null, np.ndarray]:
    zt, valid_t = _unit_ranks(truth)
    zp, valid_p = _unit_ranks(pred)
    return _Null(zt, valid_t, zp, valid_p), _own_correlations(zt, valid_t, zp, valid_p)


def null_correlations(y_true: np.ndarray, y_pred: np.ndarray, n_pairs: int | None = None, seed: int = 0) -> np.ndarray:
    """The seed's null: Spearman correlations between truth of gene a and prediction of gene b, a ≠ b.

    ``n_pairs`` given: that many pairs drawn i.i.d. uniformly among the non-matching pairs of
    non-constant genes. ``None``: all of them, G·(G − 1) float32 values (small and medium G;
    ``null_percentiles(method="exact")`` gets percentiles without holding them).
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    null, _ = _null(truth, pred)
    if n_pairs is None:
        return null.all_pairs()
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be positive, got {n_pairs}")
    return null.sample(n_pairs, np.random.default_rng(seed))


def _percentile_array(percentiles: Sequence[float]) -> np.ndarray:
    values = np.asarray(percentiles, dtype=float).ravel()
    if values.size == 0 or (values < 0).any() or (values > 100).any():
        raise ValueError(f"percentiles must be a non-empty list of numbers in [0, 100], got {list(percentiles)}")
    return values


def _null_thresholds(
    null: _Null, percentiles: np.ndarray, method: str, epsilon: float, delta: float, seed: int, block_rows: int | None
) -> dict:
    """Percentiles of the null and how they were obtained.

    Sampling is skipped when the requested sample would not be smaller than the population:
    the exact null is then cheaper and has no error.
    """
    if method not in ("sample", "exact"):
        raise ValueError(f"method must be 'sample' or 'exact', got {method!r}")
    n_pairs = dkw_sample_size(epsilon, delta) if method == "sample" else null.population
    if n_pairs >= null.population:
        thresholds = null.exact_percentiles(percentiles, block_rows)
        return {"method": "exact", "thresholds": thresholds, "n_null_pairs": null.population, "epsilon": 0.0, "delta": 0.0}
    sample = null.sample(n_pairs, np.random.default_rng(seed))
    thresholds = np.percentile(sample.astype(float), percentiles)
    return {"method": "sample", "thresholds": thresholds, "n_null_pairs": n_pairs, "epsilon": epsilon, "delta": delta}


def null_percentiles(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    method: str = "exact",
    epsilon: float = DEFAULT_EPSILON,
    delta: float = DEFAULT_DELTA,
    seed: int = 0,
    block_rows: int | None = None,
) -> dict:
    """Percentiles of the non-matching-pair null: keys method, thresholds (array), n_null_pairs, null_population, epsilon, delta.

    ``method="sample"`` guarantees each threshold lies between the exact null's (p − ε) and
    (p + ε) percentiles with probability ≥ 1 − δ; ``"exact"`` streams the whole null.
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    null, _ = _null(truth, pred)
    result = _null_thresholds(null, _percentile_array(percentiles), method, epsilon, delta, seed, block_rows)
    return {**result, "null_population": null.population}


def gene_recall(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    method: str = "exact",
    epsilon: float = DEFAULT_EPSILON,
    delta: float = DEFAULT_DELTA,
    seed: int = 0,
    gene_ids: Sequence[str] | None = None,
) -> dict:
    """Well-inferred genes: own correlation strictly above the null's percentile, per requested percentile.

    Returns a dict with ``correlations`` (per gene), ``constant_genes`` (their ids: truth or
    prediction constant across samples), the null's ``method``/``n_null_pairs``/
    ``null_population``/``epsilon``/``delta``, and per percentile (dict keyed by the
    percentile as float) ``thresholds``, ``n_well_inferred``, ``fraction_well_inferred`` (of
    all genes), ``well_inferred_mask`` and ``well_inferred_genes`` (ids, default the column
    indices).
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    ids = list(range(truth.shape[1])) if gene_ids is None else list(gene_ids)
    if len(ids) != truth.shape[1]:
        raise DataError(f"{len(ids)} gene ids for {truth.shape[1]} gene columns")
    wanted = _percentile_array(percentiles)
    null, correlations = _null(truth, pred)
    found = _null_thresholds(null, wanted, method, epsilon, delta, seed, None)
    masks = {float(p): correlations > t for p, t in zip(wanted, found["thresholds"], strict=True)}
    return {
        "correlations": correlations,
        "constant_genes": [ids[i] for i in np.flatnonzero(np.isnan(correlations))],
        "method": found["method"],
        "n_null_pairs": found["n_null_pairs"],
        "null_population": null.population,
        "epsilon": found["epsilon"],
        "delta": found["delta"],
        "thresholds": {float(p): float(t) for p, t in zip(wanted, found["thresholds"], strict=True)},
        "n_well_inferred": {p: int(m.sum()) for p, m in masks.items()},
        "fraction_well_inferred": {p: float(m.mean()) for p, m in masks.items()},
        "well_inferred_mask": masks,
        "well_inferred_genes": {p: [ids[i] for i in np.flatnonzero(m)] for p, m in masks.items()},
    }


def robust_z(y: np.ndarray, mad_floor: float = DEFAULT_MAD_FLOOR, reference: np.ndarray | None = None) -> np.ndarray:
    """Per gene across samples: (x − median) / (1.4826 · max(MAD, floor)).

    The floor keeps near-constant genes from getting huge z-scores out of noise; a constant
    gene (MAD 0) is divided by the floor and so gets z = 0 in every sample. With ``reference``
    (samples × the same genes) the median and MAD are the reference's: new samples put on the
    scale another set was scaled by.
    """
    if mad_floor <= 0:
        raise ValueError(f"mad_floor must be positive, got {mad_floor}")
    values = np.asarray(y, dtype=float)
    base = values if reference is None else np.asarray(reference, dtype=float)
    if values.ndim != 2 or base.ndim != 2 or base.shape[1] != values.shape[1]:
        raise DataError(f"robust z-scores need 2-D samples × genes arrays on the same genes, got {values.shape}, {base.shape}")
    median = np.median(base, axis=0)
    mad = np.median(np.abs(base - median), axis=0)
    return (values - median) / (MAD_SCALE * np.maximum(mad, mad_floor))


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample sd over the finite values (NaN correlations of constant profiles are skipped)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def ranking_correlation(
    y_true: np.ndarray, y_pred: np.ndarray, genes_mask: np.ndarray | None = None, mad_floor: float = DEFAULT_MAD_FLOOR
) -> tuple[float, float]:
    """Gene ranking correlation: mean and sd over samples of the Spearman correlation of robust-z profiles.

    Truth and prediction are z-scored separately (each against its own median and MAD), over
    all genes or only those in ``genes_mask`` (e.g. the well-inferred ones).
    """
    truth, pred = check_truth_prediction(y_true, y_pred)
    mask = np.ones(truth.shape[1], dtype=bool) if genes_mask is None else np.asarray(genes_mask, dtype=bool)
    if mask.shape != (truth.shape[1],):
        raise DataError(f"genes_mask has shape {mask.shape}, expected ({truth.shape[1]},)")
    if mask.sum() < 2:
        raise DataError(f"ranking correlation needs at least 2 genes, the mask keeps {int(mask.sum())}")
    return _mean_sd(sample_scc(robust_z(truth, mad_floor)[:, mask], robust_z(pred, mad_floor)[:, mask]))
