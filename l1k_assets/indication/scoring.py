"""Score every level-5 signature with the calibrated classifier, streamed from the GCTX files.

A real level 5 holds ~10^6 signatures × 12,328 genes (LINCS 2020: six files, one per
perturbagen type); only the classifier's genes are read (row subset), a chunk of signatures
at a time, so memory depends on the chunk size and the classifier, never on the number of
signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, landmark_coverage
from l1k_assets.lincs.gctx_set import GctxSet, as_matrix
from l1k_assets.progress import Progress

Imputation = Literal["none", "zero"]


def classifier_rows(
    level5: GctxSet,
    classifier_genes: Sequence[str],
    genes: pd.DataFrame,
    imputation: Imputation = "none",
    min_share: float = DEFAULT_MIN_SHARE,
) -> tuple[list[str], list[int]]:
    """Map the classifier's gene symbols (in its order) to the file's row ids.

    Returns the row ids to read and the positions of the classifier's features they fill. A
    gene absent from the file is an error naming it, unless ``imputation="zero"``: a level-5
    z-score of 0 means "no change", the least informative value a missing gene can take. Even
    then fewer than ``min_share`` of the classifier's genes present is an error (the landmark rule).
    """
    by_symbol = genes.drop_duplicates("gene_symbol").set_index("gene_symbol").gene_id.astype(str)
    in_file = set(level5.row_ids())
    rows, positions, missing = [], [], []
    for i, symbol in enumerate(classifier_genes):
        gene_id = by_symbol.get(symbol)
        if gene_id is None or gene_id not in in_file:
            missing.append(symbol)
        else:
            rows.append(gene_id)
            positions.append(i)
    if missing and imputation == "none":
        raise DataError(
            f"{level5.paths[0].name}: {len(missing)} of the classifier's {len(classifier_genes)} genes are not in the signature "
            f"matrix: {missing[:10]}; set imputation='zero' to score them as unchanged"
        )
    present = [g for g in classifier_genes if g not in set(missing)]
    landmark_coverage(present, classifier_genes).require(min_share, f"{level5.paths[0].name} (the classifier's genes)")
    return rows, positions


def stream_probabilities(
    level5: str | Path | GctxSet,
    predict_proba: Callable[[np.ndarray], np.ndarray],
    classes: Sequence[str],
    classifier_genes: Sequence[str],
    genes: pd.DataFrame,
    chunk_size: int = 20_000,
    imputation: Imputation = "none",
    progress: Progress | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
) -> Iterator[pd.DataFrame]:
    """Yield (signatures × classes) probability blocks, one per chunk of the GCTX.

    ``progress`` gets one step per chunk with the signatures scored so far.
    """
    matrix = as_matrix(level5)
    rows, positions = classifier_rows(matrix, classifier_genes, genes, imputation, min_share)
    n_features = len(classifier_genes)
    done = 0
    for step, block in enumerate(matrix.iter_columns(chunk_size, rids=rows), start=1):
        x = np.zeros((block.shape[1], n_features), dtype=np.float64)
        x[:, positions] = block.loc[rows].to_numpy(dtype=np.float64).T
        if np.isnan(x).any():
            bad = block.columns[np.isnan(x).any(axis=1)][:5].tolist()
            raise DataError(f"level 5: missing values in signatures {bad} on the classifier's genes")
        yield pd.DataFrame(predict_proba(x), index=pd.Index(block.columns, name="sig_id"), columns=list(classes))
        done += block.shape[1]
        if progress is not None:
            progress.update(step, signatures=done)
