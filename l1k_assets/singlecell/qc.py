"""The seed's single-cell QC and normalisation, as plain sparse functions on a CountMatrix.

Seed 001 preprocessed with scprep: keep genes with at least three reads in at least five
cells, drop cells with library size below 1,000, normalise library sizes, log-transform, and
sample cell types about equally. ``run_qc`` does this in an order chosen so each step sees
the right cells:

1. cells whose library size (reads over *all* genes: depth is a property of the capture, not
   of which genes survive) is below ``min_library_size`` go first, so low-quality cells do not
   vote on which genes count as expressed;
2. optionally at most ``max_cells_per_type`` cells per cell type (seeded), before the gene
   filter, so the kept genes are the ones expressed in the cells actually used;
3. genes with ≥ ``min_reads`` reads in ≥ ``min_cells`` cells are kept;
4. cells left without a read in the kept genes are dropped, since they cannot be normalised;
5. each cell is scaled to ``target_sum`` reads over the kept genes (scprep's
   ``library_size_normalize`` default, 10,000; ``"median"`` uses the median library size), then
   log(1 + x) — natural log unless ``log_base`` says otherwise (scprep's ``transform.log``
   defaults to base 10; the seed does not say which it used).

Everything stays sparse and vectorised; the result is dense float32 only on request, and only
after the gene filter has shrunk it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from l1k_assets.errors import DataError
from l1k_assets.singlecell.readers import CELL_TYPE, CountMatrix


@dataclass(frozen=True)
class QCConfig:
    """Thresholds and normalisation; the defaults are the seed's."""

    min_reads: int = 3
    min_cells: int = 5
    min_library_size: float = 1_000.0
    target_sum: float | Literal["median"] = 10_000.0
    log_base: float | None = math.e  # None: no log transform
    max_cells_per_type: int | None = None  # None: keep every cell
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_reads <= 0:  # zero reads would count the implicit zeros: not a sparse operation, and meaningless
            raise ValueError(f"min_reads must be positive, got {self.min_reads}")
        if self.min_cells < 0:
            raise ValueError(f"min_cells must not be negative, got {self.min_cells}")
        if self.target_sum != "median" and not (isinstance(self.target_sum, int | float) and self.target_sum > 0):
            raise ValueError(f"target_sum must be a positive number or 'median', got {self.target_sum!r}")
        if self.log_base is not None and (self.log_base <= 0 or self.log_base == 1):
            raise ValueError(f"log_base must be positive and not 1, got {self.log_base}")
        if self.max_cells_per_type is not None and self.max_cells_per_type < 1:
            raise ValueError(f"max_cells_per_type must be at least 1, got {self.max_cells_per_type}")


@dataclass(frozen=True)
class Expression:
    """Normalised, log-transformed expression of the cells and genes that passed QC."""

    values: sp.csr_matrix | np.ndarray  # cells × genes, float32
    cells: pd.DataFrame
    genes: pd.DataFrame
    source: str


@dataclass(frozen=True)
class QCReport:
    """What QC kept and removed, and the per-cell arrays behind the seed's library-size plots."""

    n_cells_before: int
    n_genes_before: int
    n_cells_after: int
    n_genes_after: int
    dropped_cells: pd.Series  # barcode -> reason
    dropped_genes: pd.Series  # gene id -> reason
    library_size: np.ndarray  # reads per input cell, over all genes
    genes_per_cell: np.ndarray  # genes with at least one read, per input cell
    target_sum: float

    def summary(self) -> dict[str, Any]:
        """Plain numbers for asset metadata and logs."""
        return {
            "cells_before": self.n_cells_before,
            "cells_after": self.n_cells_after,
            "genes_before": self.n_genes_before,
            "genes_after": self.n_genes_after,
            "cells_dropped": {str(k): int(v) for k, v in self.dropped_cells.value_counts().items()},
            "genes_dropped": {str(k): int(v) for k, v in self.dropped_genes.value_counts().items()},
            "target_sum": self.target_sum,
        }


def library_size(counts: sp.spmatrix) -> np.ndarray:
    """Total reads per cell."""
    return np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()


def genes_per_cell(counts: sp.spmatrix) -> np.ndarray:
    """Genes with at least one read, per cell."""
    return np.asarray((counts > 0).sum(axis=1)).ravel()


def expressed_genes(counts: sp.spmatrix, min_reads: float, min_cells: int) -> np.ndarray:
    """Boolean mask of genes with ≥ ``min_reads`` reads in ≥ ``min_cells`` cells (``min_reads`` > 0)."""
    csr = sp.csr_matrix(counts)
    if not csr.has_canonical_format:  # duplicate entries must be summed before comparing with min_reads
        csr = csr.copy()
        csr.sum_duplicates()
    hits = csr.data >= min_reads
    return np.bincount(csr.indices[hits], minlength=csr.shape[1]) >= min_cells


def balanced_sample(labels: pd.Series | np.ndarray, max_per_type: int, seed: int) -> np.ndarray:
    """Boolean mask keeping at most ``max_per_type`` cells of each label, drawn uniformly without replacement.

    Cells with a missing label form a group of their own rather than being dropped silently.
    """
    codes, _ = pd.factorize(pd.Series(labels), use_na_sentinel=False)
    order = np.random.default_rng(seed).permutation(len(codes))
    rank = pd.Series(codes[order]).groupby(codes[order]).cumcount().to_numpy()
    keep = np.zeros(len(codes), dtype=bool)
    keep[order[rank < max_per_type]] = True
    return keep


def normalize_total(counts: sp.spmatrix, target_sum: float) -> sp.csr_matrix:
    """Scale each cell to ``target_sum`` reads (float32 CSR); every cell must have reads."""
    sizes = library_size(counts)
    if (sizes <= 0).any():
        raise ValueError(f"{int((sizes <= 0).sum())} cells have no reads; drop them before normalising")
    out = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    out.data *= np.repeat(target_sum / sizes, np.diff(out.indptr))
    return out.astype(np.float32)


def log_transform(values: sp.csr_matrix | np.ndarray, base: float = math.e) -> sp.csr_matrix | np.ndarray:
    """log(1 + x) in the given base; zeros stay zeros, so sparse input stays sparse."""
    if sp.issparse(values):
        out = sp.csr_matrix(values, copy=True)
        out.data = (np.log1p(out.data) / np.log(base)).astype(out.dtype)
        return out
    return (np.log1p(values) / np.log(base)).astype(values.dtype)


def run_qc(matrix: CountMatrix, config: QCConfig | None = None, *, dense: bool = False) -> tuple[Expression, QCReport]:
    """Filter, sample, normalise and log-transform ``matrix`` (see the module docstring for the order and why).

    Raises DataError naming the threshold when a step leaves no cells or no genes.
    """
    config = config or QCConfig()
    counts, source = matrix.counts, matrix.source
    n_cells, n_genes = matrix.shape
    sizes, detected = library_size(counts), genes_per_cell(counts)
    reason = np.full(n_cells, "", dtype=object)

    kept = sizes >= config.min_library_size
    reason[~kept] = f"library size < {config.min_library_size:g}"
    if not kept.any():
        largest = f"{sizes.max():g}" if n_cells else "none"
        raise DataError(
            f"{source}: min_library_size={config.min_library_size:g} removed all {n_cells} cells (largest library size {largest})"
        )

    if config.max_cells_per_type is not None:
        if CELL_TYPE not in matrix.cells.columns:
            raise DataError(
                f"{source}: balanced sampling needs a {CELL_TYPE!r} column; read the matrix with cell_type_column=..."
            )
        sampled = np.zeros(n_cells, dtype=bool)
        sampled[kept] = balanced_sample(matrix.cells[CELL_TYPE].to_numpy()[kept], config.max_cells_per_type, config.seed)
        reason[kept & ~sampled] = f"balanced sampling (more than {config.max_cells_per_type} cells of its type)"
        kept = sampled

    gene_kept = expressed_genes(counts[kept], config.min_reads, config.min_cells)
    if not gene_kept.any():
        raise DataError(
            f"{source}: min_reads={config.min_reads}, min_cells={config.min_cells} removed all {n_genes} genes "
            f"(over the {int(kept.sum())} cells kept)"
        )
    no_reads = np.zeros(n_cells, dtype=bool)
    no_reads[np.flatnonzero(kept)[library_size(counts[kept][:, gene_kept]) == 0]] = True
    reason[no_reads] = "no reads in the kept genes"
    kept &= ~no_reads
    if not kept.any():
        raise DataError(f"{source}: no cell has a read in the {int(gene_kept.sum())} genes kept by min_reads/min_cells")

    passed = matrix.subset(kept, gene_kept)
    target = float(np.median(library_size(passed.counts))) if config.target_sum == "median" else float(config.target_sum)
    values: sp.csr_matrix | np.ndarray = normalize_total(passed.counts, target)
    if config.log_base is not None:
        values = log_transform(values, config.log_base)
    if dense:
        values = values.toarray()
    report = QCReport(
        n_cells_before=n_cells,
        n_genes_before=n_genes,
        n_cells_after=passed.shape[0],
        n_genes_after=passed.shape[1],
        dropped_cells=pd.Series(reason[reason != ""], index=matrix.cells.index[reason != ""], name="reason", dtype=object),
        dropped_genes=pd.Series(
            f"fewer than {config.min_cells} cells with ≥ {config.min_reads} reads",
            index=matrix.genes.index[~gene_kept],
            name="reason",
            dtype=object,
        ),
        library_size=sizes,
        genes_per_cell=detected,
        target_sum=target,
    )
    return Expression(values, passed.cells, passed.genes, source), report
