"""The embedded default's single-cell tissues, for landmark discovery on scRNA-seq (seed 001).

The seed took two PanglaoDB tissues (colon, prostate) with about a dozen cell types each,
kept genes with ≥ 3 reads in ≥ 5 cells and cells with ≥ 1,000 reads, and looked for the
genes that predict all others. For that search to mean something on synthetic data:

* genes form *modules*; each module has ``HUBS_PER_MODULE`` hub genes, always drawn from the
  non-landmark genes, whose latent activity drives every member (a member's rate is a mix of
  its hubs' activities), so a data-driven landmark set should pick the hubs, not the L1000
  landmarks; hubs vary from cell to cell within a type too, so they carry more than cell type;
* cell types differ by which modules are active (types sharing a name across tissues share
  their activity, every module is active in some type of each tissue), and types are unevenly
  abundant, so balanced sampling has work to do;
* counts are Poisson–gamma (negative binomial) around library size × expression share, with
  library sizes spread tenfold (1,500–15,000 reads) and most reads taken by a few housekeeping
  genes (ribosomal- and mitochondrial-like, also listed), so most entries are zero;
* QC has something to remove: about 4% low-quality cells (100–600 reads) and about 5% rare
  genes (a few scattered single reads). At the tiny scale these are exactly what the seed's
  thresholds drop; at larger scales more genes share the same reads, so QC also drops weakly
  expressed ones (the seed's filter removed ~80% of real genes) and the rare genes are a subset.

Truth keys: ``datasets`` (per tissue: ``primary_format``, ``files`` paths relative to the
mirror root, ``n_cells``, ``cell_types``, ``cells_per_type``, ``low_quality_cells``),
``cell_type_column``, ``qc_thresholds``, ``modules`` (gene ids, hubs included), ``hub_genes``,
``hub_gene_kind``, ``active_modules`` (per cell type), ``rare_genes``, ``housekeeping_genes``,
``non_gene_features``.

Mirror layout, every tissue in both formats with identical counts::

    singlecell/<dataset>/<dataset>.h5ad          AnnData: X = counts (colon CSR, prostate CSC),
                                                 obs.cell_type (categorical), var.symbol
    singlecell/<dataset>/10x/matrix.mtx.gz       features × cells, "coordinate integer general"
    singlecell/<dataset>/10x/features.tsv.gz     gene_id, symbol, feature_type; genes, then three
                                                 "Antibody Capture" rows the readers must drop
    singlecell/<dataset>/10x/barcodes.tsv.gz
    singlecell/<dataset>/cell_metadata.tsv.gz    barcode, cell_type (the 10x folder's labels)

``primary_format`` in the truth says how each tissue is "published" (colon as h5ad, prostate
as 10x), so a default pipeline reads one of each. Gene ids are the universe's ``pr_gene_id``
(as text) and symbols its ``pr_gene_symbol``; barcodes end in ``-1`` / ``-2`` per tissue, as
after ``cellranger aggr``, so the two tissues can be stacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from l1k_assets.fileio import atomic_path
from l1k_assets.singlecell.qc import QCConfig
from l1k_assets.singlecell.readers import CELL_TYPE, GENE_EXPRESSION, CountMatrix
from l1k_assets.synthetic.gzipped import BULK_LEVEL, gz_stream, write_gz_text
from l1k_assets.synthetic.lincs_writer import distinct_ints
from l1k_assets.synthetic.universe import Universe

TISSUES: dict[str, tuple[str, ...]] = {
    "colon": (
        "Enterocytes",
        "Goblet Cells",
        "Enteroendocrine Cells",
        "Paneth Cells",
        "Tuft Cells",
        "Stem Cells",
        "Fibroblasts",
        "Smooth Muscle Cells",
        "Endothelial Cells",
        "T Cells",
        "B Cells",
        "Unknown",
    ),
    "prostate": (
        "Basal Cells",
        "Luminal Epithelial Cells",
        "Club Cells",
        "Neuroendocrine Cells",
        "Ductal Cells",
        "Fibroblasts",
        "Smooth Muscle Cells",
        "Endothelial Cells",
        "T Cells",
        "Macrophages",
        "Dendritic Cells",
        "Unknown",
    ),
}
PRIMARY_FORMAT = {"colon": "h5ad", "prostate": "10x"}
H5AD_SPARSE_FORMAT: dict[str, Literal["csr", "csc"]] = {"colon": "csr", "prostate": "csc"}
CELLS_PER_TISSUE = {"tiny": 2000, "default": 6000, "large": 16000}
GENES_PER_MODULE_SLOT = 50  # one module per 50 universe genes: 8 at tiny
HUBS_PER_MODULE = 2
MODULE_MEMBERS = 22
ACTIVE_FRACTION = 0.2  # modules a cell type switches on beyond the ones dealt to it
ACTIVE_LEVEL = (3.0, 8.0)
RESTING_LEVEL = 0.2
CELL_ACTIVITY_SD = 0.6  # within-type spread of a hub's activity (log scale)
MEMBER_NOISE_SD = 0.25
BASE_LOG_WEIGHT = (-1.0, 1.3)  # (mean, sd) of a gene's log expression share
BASE_LOG_WEIGHT_CLIP = (-1.8, 3.0)
HUB_WEIGHT = 4.0
TYPE_SHIFT_SD = 0.4  # cell-type effect on background genes (log scale)
DISPERSION_SHAPE = (0.4, 1.5)  # gamma shape per gene: smaller = more overdispersed
STEADY_SHAPE = 8.0  # hubs and housekeeping genes: well measured, and they carry most of a library
HOUSEKEEPING_FRACTION = 0.04  # ribosomal/mitochondrial-like genes that take most reads, as in droplet data
HOUSEKEEPING_LOG_WEIGHT = 4.5
LIBRARY_SIZE = (1_500.0, 15_000.0)
LOW_QUALITY_FRACTION = 0.04
LOW_QUALITY_LIBRARY_SIZE = (100.0, 600.0)
RARE_GENE_FRACTION = 0.05
RARE_GENE_MEAN = 0.004  # reads per cell: a few scattered single reads, never 3 in one cell
ANTIBODIES = ("CD3", "CD19", "EPCAM")
ANTIBODY_MEAN = 30.0
CELLS_PER_BLOCK = 1024  # cells simulated (and written to the mtx) at a time, so the large scale stays within memory


# ---------------------------------------------------------------- file writers


def write_10x(folder: Path, counts: sp.csr_matrix, features: pd.DataFrame, barcodes: Sequence[str]) -> None:
    """Cells × features integer counts as a Cell Ranger v3 folder (matrix.mtx.gz is features × cells).

    ``features`` has columns gene_id, symbol, feature_type. Entries are written cell by cell
    (column-major, as Cell Ranger does), formatted and compressed a block of cells at a time so
    the large scale's tens of millions of entries never exist as text all at once.
    """
    folder.mkdir(parents=True, exist_ok=True)
    counts = sp.csr_matrix(counts)
    with gz_stream(folder / "matrix.mtx.gz", BULK_LEVEL) as gz:
        gz.write(
            (
                "%%MatrixMarket matrix coordinate integer general\n"
                '%metadata_json: {"software_version": "l1k-synthetic", "format_version": 2}\n'
                f"{counts.shape[1]} {counts.shape[0]} {counts.nnz}\n"
            ).encode()
        )
        for start in range(0, counts.shape[0], CELLS_PER_BLOCK):
            block = counts[start : start + CELLS_PER_BLOCK].tocoo()
            entries = np.column_stack([block.col + 1, block.row + start + 1, np.rint(block.data)]).astype(np.int64)
            gz.write((("%d %d %d\n" * len(entries)) % tuple(entries.ravel().tolist())).encode())
    write_gz_text(
        folder / "features.tsv.gz", features[["gene_id", "symbol", "feature_type"]].to_csv(sep="\t", header=False, index=False)
    )
    write_gz_text(folder / "barcodes.tsv.gz", "".join(f"{b}\n" for b in barcodes))


def write_h5ad(path: Path, matrix: CountMatrix, sparse_format: Literal["csr", "csc"] = "csr") -> None:
    """A CountMatrix as an AnnData file (on-disk spec 0.1/0.2), written with h5py so the platform needs no anndata.

    X holds the counts; obs keeps its columns (categoricals as codes + categories, text as
    string arrays), var its ``symbol``. Timestamps are off so equal content gives equal bytes.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _attrs(f, "anndata", "0.1.0")
        values = matrix.counts.tocsc() if sparse_format == "csc" else matrix.counts
        x = f.create_group("X")
        _attrs(x, f"{sparse_format}_matrix", "0.1.0", shape=np.array(values.shape, dtype=np.int64))
        for name in ("data", "indices", "indptr"):
            x.create_dataset(name, data=getattr(values, name), track_times=False)
        _write_frame(f, "obs", matrix.cells)
        _write_frame(f, "var", matrix.genes)
        for name in ("layers", "obsm", "obsp", "varm", "varp", "uns"):
            _attrs(f.create_group(name), "dict", "0.1.0")


def _attrs(node: h5py.Group | h5py.Dataset, encoding: str, version: str, **extra: Any) -> None:
    node.attrs["encoding-type"] = encoding
    node.attrs["encoding-version"] = version
    for key, value in extra.items():
        node.attrs[key] = value


def _write_array(group: h5py.Group, name: str, values: np.ndarray) -> None:
    if values.dtype.kind in "OUT":
        group.create_dataset(name, data=values.astype(object), dtype=h5py.string_dtype(), track_times=False)
        _attrs(group[name], "string-array", "0.2.0")
    else:
        group.create_dataset(name, data=values, track_times=False)
        _attrs(group[name], "array", "0.2.0")


def _write_frame(f: h5py.File, key: str, frame: pd.DataFrame) -> None:
    group = f.create_group(key)
    _attrs(group, "dataframe", "0.2.0", _index="_index", **{"column-order": np.array(list(frame.columns), dtype=object)})
    _write_array(group, "_index", frame.index.to_numpy(dtype=object))
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            sub = group.create_group(column)
            _attrs(sub, "categorical", "0.2.0", ordered=bool(series.cat.ordered))
            _write_array(sub, "codes", series.cat.codes.to_numpy())
            _write_array(sub, "categories", series.cat.categories.to_numpy())
        else:
            _write_array(group, column, series.to_numpy(dtype=object if series.dtype.kind not in "biuf" else None))


# ---------------------------------------------------------------- the planted biology


@dataclass(frozen=True)
class GenePlan:
    """Per universe gene: its module (-1 for none), hub slot (-1 for members and others), rarity and expression."""

    gene_ids: np.ndarray
    symbols: np.ndarray
    module: np.ndarray
    hub_slot: np.ndarray
    rare: np.ndarray
    housekeeping: np.ndarray  # take most reads, like ribosomal and mitochondrial genes
    log_weight: np.ndarray  # base log expression share
    dispersion: np.ndarray  # gamma shape of the Poisson–gamma counts
    hub_mix: np.ndarray  # genes × hubs: how much each hub of its module drives a member

    @property
    def n_modules(self) -> int:
        return int(self.module.max()) + 1


def plan_genes(universe: Universe, rng: np.random.Generator) -> GenePlan:
    """Draw modules, hubs and rare genes over the universe's genes.

    Hubs are non-landmark genes; members and rare genes come from any gene, landmarks included
    (many L1000 landmarks are barely detected in droplet data).
    """
    genes = universe.genes
    n = len(genes)
    n_modules = max(2, n // GENES_PER_MODULE_SLOT)
    non_landmarks = np.flatnonzero(genes.pr_is_lm.to_numpy() == 0)
    hubs = rng.choice(non_landmarks, (n_modules, HUBS_PER_MODULE), replace=False)
    rest = rng.permutation(np.setdiff1d(np.arange(n), hubs.ravel()))
    n_rare = max(1, round(RARE_GENE_FRACTION * n))
    n_members = n_modules * MODULE_MEMBERS
    members = rest[n_rare : n_rare + n_members].reshape(n_modules, -1)
    housekeeping = rest[n_rare + n_members : n_rare + n_members + max(1, round(HOUSEKEEPING_FRACTION * n))]
    module = np.full(n, -1)
    module[hubs] = np.arange(n_modules)[:, None]
    module[members] = np.arange(n_modules)[:, None]
    hub_slot = np.full(n, -1)
    hub_slot[hubs] = np.arange(HUBS_PER_MODULE)
    log_weight = np.clip(rng.normal(*BASE_LOG_WEIGHT, n), *BASE_LOG_WEIGHT_CLIP)
    log_weight[hubs] += np.log(HUB_WEIGHT)
    log_weight[housekeeping] = HOUSEKEEPING_LOG_WEIGHT
    dispersion = rng.uniform(*DISPERSION_SHAPE, n)
    dispersion[np.concatenate([hubs.ravel(), housekeeping])] = STEADY_SHAPE
    return GenePlan(
        gene_ids=genes.pr_gene_id.astype(str).to_numpy(),
        symbols=genes.pr_gene_symbol.to_numpy(),
        module=module,
        hub_slot=hub_slot,
        rare=np.isin(np.arange(n), rest[:n_rare]),
        housekeeping=np.isin(np.arange(n), housekeeping),
        log_weight=log_weight,
        dispersion=dispersion,
        hub_mix=rng.dirichlet(np.ones(HUBS_PER_MODULE), n),
    )


def cell_type_programs(plan: GenePlan, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cell type (shared by name across tissues): module activity (types × modules) and the
    log shift of background genes (types × genes). Each tissue deals every module to one of its
    types, so no module is silent in a tissue, and types switch on a few more at random."""
    names = sorted({t for types in TISSUES.values() for t in types})
    row = {name: i for i, name in enumerate(names)}
    active = rng.random((len(names), plan.n_modules)) < ACTIVE_FRACTION
    for types in TISSUES.values():
        dealt = [row[types[j % len(types)]] for j in range(plan.n_modules)]
        active[dealt, rng.permutation(plan.n_modules)] = True
    activity = np.where(active, rng.uniform(*ACTIVE_LEVEL, active.shape), RESTING_LEVEL)
    shift = rng.normal(0.0, TYPE_SHIFT_SD, (len(names), len(plan.gene_ids)))
    return pd.DataFrame(activity, index=names), pd.DataFrame(shift, index=names)


def barcodes(n: int, library: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct 16-base 10x barcodes with the library suffix, sorted as Cell Ranger lists them."""
    codes = distinct_ints(rng, 0, 4**16, n)
    bases = np.array(list("ACGT"))[(codes[:, None] >> (2 * np.arange(15, -1, -1))) & 3]
    return np.sort(np.char.add(bases.view("<U16")[:, 0], f"-{library}").astype(object))


def simulate_counts(
    plan: GenePlan,
    programs: tuple[pd.DataFrame, pd.DataFrame],
    cell_type: np.ndarray,
    library: np.ndarray,
    rng: np.random.Generator,
) -> sp.csr_matrix:
    """Cells × genes integer counts, given each cell's type (its module activity and background shift) and target library size."""
    activity, shift = (table.to_numpy() for table in programs)
    type_row = programs[0].index.get_indexer(cell_type)
    in_module, rare = plan.module >= 0, plan.rare
    module, slot = plan.module[in_module], plan.hub_slot[in_module]
    blocks = []
    for start in range(0, len(library), CELLS_PER_BLOCK):
        block = slice(start, start + CELLS_PER_BLOCK)
        n = len(library[block])
        rows = type_row[block]
        noise = np.exp(rng.normal(0.0, CELL_ACTIVITY_SD, (n, plan.n_modules, HUBS_PER_MODULE)))
        hubs = (activity[rows][:, :, None] * noise)[:, module, :]  # cells × module genes × hubs
        member = (hubs * plan.hub_mix[in_module]).sum(axis=2) * np.exp(rng.normal(0.0, MEMBER_NOISE_SD, hubs.shape[:2]))
        own_hub = np.take_along_axis(hubs, np.maximum(slot, 0)[None, :, None], axis=2)[:, :, 0]
        drive = np.exp(shift[rows])
        drive[:, in_module] = np.where(slot >= 0, own_hub, member)
        weight = np.exp(plan.log_weight) * drive * ~rare
        mean = library[block, None] * weight / weight.sum(axis=1, keepdims=True)
        counts = rng.poisson(rng.gamma(plan.dispersion, mean / plan.dispersion))
        counts[:, rare] = rng.poisson(RARE_GENE_MEAN, (n, int(rare.sum())))
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
    return sp.vstack(blocks, format="csr")


def simulate_tissue(
    name: str, plan: GenePlan, programs: tuple[pd.DataFrame, pd.DataFrame], n_cells: int, rng: np.random.Generator
) -> tuple[CountMatrix, np.ndarray]:
    """One tissue's count matrix (cells sorted by barcode) and the barcodes of its low-quality cells."""
    types = TISSUES[name]
    share = 0.5 / len(types) + 0.5 * rng.dirichlet(np.ones(len(types)))  # uneven, no type vanishingly rare
    cell_type = np.asarray(types)[rng.choice(len(types), n_cells, p=share)]
    library = np.exp(rng.uniform(*np.log(LIBRARY_SIZE), n_cells))
    low = rng.choice(n_cells, max(1, round(LOW_QUALITY_FRACTION * n_cells)), replace=False)
    library[low] = np.exp(rng.uniform(*np.log(LOW_QUALITY_LIBRARY_SIZE), len(low)))
    counts = simulate_counts(plan, programs, cell_type, library, rng)
    order = rng.permutation(n_cells)  # barcodes are sorted, so cells of a type are scattered through the file
    names = barcodes(n_cells, list(TISSUES).index(name) + 1, rng)
    cells = pd.DataFrame(
        {CELL_TYPE: pd.Categorical(cell_type[order], categories=sorted(types))}, index=pd.Index(names, name="barcode")
    )
    genes = pd.DataFrame({"symbol": plan.symbols}, index=pd.Index(plan.gene_ids, name="gene_id"))
    is_low = np.zeros(n_cells, bool)
    is_low[low] = True
    return CountMatrix(counts[order], cells, genes, name), names[is_low[order]]


def write_tissue(root: Path, name: str, matrix: CountMatrix, rng: np.random.Generator) -> dict[str, str]:
    """Both formats of one tissue (the 10x folder with antibody-capture rows) and its cell metadata; returns the paths."""
    folder = root / "singlecell" / name
    write_h5ad(folder / f"{name}.h5ad", matrix, H5AD_SPARSE_FORMAT[name])
    antibodies = pd.DataFrame({"gene_id": [f"{a}_TotalSeqB" for a in ANTIBODIES], "symbol": list(ANTIBODIES)})
    features = pd.concat(
        [matrix.genes.reset_index().assign(feature_type=GENE_EXPRESSION), antibodies.assign(feature_type="Antibody Capture")]
    )
    adt = sp.csr_matrix(rng.poisson(ANTIBODY_MEAN, (matrix.shape[0], len(ANTIBODIES))).astype(np.float32))
    write_10x(folder / "10x", sp.hstack([matrix.counts, adt], format="csr"), features, matrix.cells.index)
    metadata = matrix.cells[[CELL_TYPE]].reset_index()
    write_gz_text(folder / "cell_metadata.tsv.gz", metadata.to_csv(sep="\t", index=False, lineterminator="\n"))
    relative = {"h5ad": f"{name}.h5ad", "10x": "10x", "cell_metadata": "cell_metadata.tsv.gz"}
    return {kind: str((folder / path).relative_to(root)) for kind, path in relative.items()}


def write_singlecell(universe: Universe, root: Path) -> dict[str, Any]:
    """Write both tissues in both formats under ``root/singlecell``; return the planted truth for the manifest."""
    rng = universe.rng("singlecell")
    plan = plan_genes(universe, rng)
    programs = cell_type_programs(plan, rng)
    n_cells = CELLS_PER_TISSUE.get(universe.scale.name, CELLS_PER_TISSUE["tiny"])
    datasets: dict[str, Any] = {}
    for name in TISSUES:
        matrix, low_quality = simulate_tissue(name, plan, programs, n_cells, rng)
        cells_per_type = matrix.cells[CELL_TYPE].value_counts().sort_index()
        datasets[name] = {
            "primary_format": PRIMARY_FORMAT[name],
            "files": write_tissue(root, name, matrix, rng),
            "n_cells": matrix.shape[0],
            "cell_types": list(TISSUES[name]),
            "cells_per_type": {str(k): int(v) for k, v in cells_per_type.items()},
            "low_quality_cells": low_quality.tolist(),
        }
    qc = QCConfig()
    module_names = [f"module_{m:02d}" for m in range(plan.n_modules)]
    hub = plan.hub_slot >= 0
    return {
        "datasets": datasets,
        "cell_type_column": CELL_TYPE,
        "qc_thresholds": {"min_reads": qc.min_reads, "min_cells": qc.min_cells, "min_library_size": qc.min_library_size},
        "modules": {name: plan.gene_ids[plan.module == m].tolist() for m, name in enumerate(module_names)},
        "hub_genes": {name: plan.gene_ids[(plan.module == m) & hub].tolist() for m, name in enumerate(module_names)},
        "hub_gene_kind": "non-landmark",
        "active_modules": {
            cell_type: [module_names[m] for m in np.flatnonzero(row > RESTING_LEVEL)] for cell_type, row in programs[0].iterrows()
        },
        "rare_genes": plan.gene_ids[plan.rare].tolist(),
        "housekeeping_genes": plan.gene_ids[plan.housekeeping].tolist(),
        "non_gene_features": [f"{a}_TotalSeqB" for a in ANTIBODIES],
    }
