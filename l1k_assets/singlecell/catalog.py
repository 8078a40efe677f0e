"""The single-cell dataset catalog: which count matrices the landmark-discovery assets read.

Single-cell data has no one server the way GEO has, so datasets are rows of a versioned CSV
(``datasets.csv``), each a path under the ``singlecell`` base URL (the embedded mirror, a
file:// folder or an HTTP server with the same layout). A user adds a dataset by adding a
row; it becomes a partition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from l1k_assets.errors import FormatError

DEFAULT_DATASETS = Path(__file__).with_name("datasets.csv")
DATASET_COLUMNS = ("dataset", "tissue", "format", "path", "metadata", "cell_type_column", "description")
FORMATS = ("h5ad", "10x")
TENX_FILES = {"matrix": "matrix.mtx.gz", "features": "features.tsv.gz", "barcodes": "barcodes.tsv.gz"}
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Dataset:
    """One tissue's count matrix: where it is, in which format, and which obs column holds the cell type."""

    dataset: str
    tissue: str
    format: str
    path: str  # relative to the singlecell base URL: a .h5ad file or a 10x folder
    metadata: str  # optional cell metadata table (10x), relative like ``path``; "" if none
    cell_type_column: str
    description: str

    def files(self) -> dict[str, str]:
        """Role → relative path of every file to fetch."""
        files = {"h5ad": self.path} if self.format == "h5ad" else {r: f"{self.path}/{n}" for r, n in TENX_FILES.items()}
        return files | ({"metadata": self.metadata} if self.metadata else {})


def _safe_relative(value: str, path: Path, line: int, field: str) -> str:
    """A relative path without ``..`` or a leading ``/``: catalog values become URL and cache path segments."""
    parts = value.split("/")
    if not value or value.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise FormatError(path, "a relative path without '..'", line=line, field=field, found=repr(value))
    return value


def load_datasets(path: Path = DEFAULT_DATASETS) -> list[Dataset]:
    """Read and validate the catalog; errors name the line and the column."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in DATASET_COLUMNS if c not in table.columns]
    if missing:
        raise FormatError(path, f"columns {', '.join(DATASET_COLUMNS)}", line=1, found=f"no {', '.join(missing)}")
    datasets = []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        if not SAFE_ID.fullmatch(row.dataset):
            raise FormatError(
                path, "a dataset id of letters, digits, '_', '-' or '.'", line=i, field="dataset", found=row.dataset
            )
        if row.format not in FORMATS:
            raise FormatError(path, f"one of {FORMATS}", line=i, field="format", found=row.format)
        _safe_relative(row.path, path, i, "path")
        if row.metadata:
            _safe_relative(row.metadata, path, i, "metadata")
        datasets.append(Dataset(**{c: getattr(row, c) for c in DATASET_COLUMNS}))
    ids = [d.dataset for d in datasets]
    repeated = sorted({d for d in ids if ids.count(d) > 1})
    if repeated:
        raise FormatError(path, "unique dataset ids", field="dataset", found=f"{repeated} more than once")
    return datasets
