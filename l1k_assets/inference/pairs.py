"""The paired landmark / full-transcriptome set (GSE92743-like) as one aligned table.

Seed 002 trains on samples profiled twice, by L1000 (landmarks) and by RNA-seq (all genes).
The two GCTX files must describe the same samples in the same order; a mismatch would
silently pair one sample's landmarks with another's transcriptome, so it is an error.
GSE92743's files hold 12,320 genes, among them 970 of the 978 landmarks (the paper's 970):
the model inputs are the landmarks present in both files, and the rest are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, LandmarkCoverage, landmark_coverage
from l1k_assets.lincs.gctx import read_gctx, read_gctx_ids
from l1k_assets.lincs.metadata import read_tsv_table

L1000_PREFIX = "l1000|"
RNASEQ_PREFIX = "rnaseq|"
TISSUE_COLUMN = "tissue"


def load_inference_pairs(
    l1000_path: Path, rnaseq_path: Path, landmark_ids: Sequence[str], min_landmark_share: float = DEFAULT_MIN_SHARE
) -> tuple[pd.DataFrame, LandmarkCoverage]:
    """Samples × (landmark L1000 columns in landmark order, RNA-seq gene columns in file order), and the coverage.

    The L1000 file holds measured landmarks and inferred genes (as GSE92743's does); only the
    measured landmarks are model inputs, so only those rows are read. A landmark counts when
    it is a row of both files (the GNN needs every input as a target node too); fewer than
    ``min_landmark_share`` of them is an error naming the file. Samples that differ between
    the files, or appear in another order, are an error too.
    """
    in_both = set(read_gctx_ids(l1000_path, "row")) & set(read_gctx_ids(rnaseq_path, "row"))
    coverage = landmark_coverage(in_both, landmark_ids).require(min_landmark_share, f"{l1000_path.name} and {rnaseq_path.name}")
    l1000 = read_gctx(l1000_path, rids=coverage.present, meta=False).data
    rnaseq = read_gctx(rnaseq_path, meta=False).data
    if list(l1000.columns) != list(rnaseq.columns):
        only_l = sorted(set(l1000.columns) - set(rnaseq.columns))[:5]
        only_r = sorted(set(rnaseq.columns) - set(l1000.columns))[:5]
        detail = f"only in L1000: {only_l}, only in RNA-seq: {only_r}" if only_l or only_r else "same samples, different order"
        raise DataError(f"{l1000_path.name} and {rnaseq_path.name} do not list the same samples in the same order ({detail})")
    table = pd.concat([l1000.T.add_prefix(L1000_PREFIX), rnaseq.T.add_prefix(RNASEQ_PREFIX)], axis=1)
    table.index.name = "sample_id"
    return table.astype("float32"), coverage


def sample_tissues(inst_info_path: Path, samples: Sequence[str], column: str = "SMTS") -> pd.Series:
    """Each sample's tissue (GTEx's organ, SMTS) from the instance table: the GNN's optional organ feature.

    Every paired sample must have a row; a sample without one is an error naming it.
    """
    table = read_tsv_table(inst_info_path, ["inst_id", column], "instance")
    tissue = table.set_index("inst_id")[column].reindex(list(samples))
    absent = tissue.index[tissue.isna()].tolist()
    if absent:
        raise DataError(f"{Path(inst_info_path).name}: samples {absent[:5]} ({len(absent)} in all) have no {column} value")
    return tissue.rename(TISSUE_COLUMN)
