"""The paired table cut into model-ready arrays: landmarks in, all genes out, by split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.inference.pairs import L1000_PREFIX, RNASEQ_PREFIX, TISSUE_COLUMN


@dataclass
class InferenceData:
    """Inputs (L1000 landmarks) and targets (RNA-seq, all genes) per split, with the gene ids."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    landmark_ids: list[str]
    target_ids: list[str]
    landmark_positions: list[int]  # where each landmark sits among the targets
    tissue: dict[str, np.ndarray] | None = None  # per split, when the pairs carry a tissue column

    def landmark_mask(self) -> np.ndarray:
        """Over the target genes, True at the input landmarks: seed 002 ranks these with the well-inferred genes."""
        mask = np.zeros(len(self.target_ids), dtype=bool)
        mask[self.landmark_positions] = True
        return mask

    def restrict_landmarks(self, positions: list[int]) -> InferenceData:
        """The same data with only the chosen landmark inputs (by position in ``landmark_ids``)."""
        return InferenceData(
            {k: v[:, positions] for k, v in self.x.items()},
            self.y,
            [self.landmark_ids[p] for p in positions],
            self.target_ids,
            [self.landmark_positions[p] for p in positions],
            self.tissue,
        )

    def with_tissue_covariates(self, categories: list[str]) -> InferenceData:
        """Inputs with a one-hot tissue block appended after the landmarks (the GNN's organ feature).

        ``categories`` fixes the column order, so a checkpoint predicts with the columns it was
        trained on; a tissue outside them is an error rather than an all-zero row.
        """
        if self.tissue is None:
            raise DataError("the paired table has no tissue column: the tissue feature needs the instance table's SMTS")
        unknown = sorted({str(t) for values in self.tissue.values() for t in values} - set(categories))
        if unknown:
            raise DataError(f"tissues {unknown} are not among the model's tissue categories {categories}")
        x = {
            name: np.hstack([values, (self.tissue[name][:, None] == np.asarray(categories)[None, :]).astype(np.float64)])
            for name, values in self.x.items()
        }
        return InferenceData(x, self.y, self.landmark_ids, self.target_ids, self.landmark_positions, self.tissue)


def inference_arrays(pairs: pd.DataFrame, split: pd.DataFrame) -> InferenceData:
    """Arrays per split; every landmark input must also be a target gene (the GNN's landmark nodes)."""
    landmark_cols = [c for c in pairs.columns if c.startswith(L1000_PREFIX)]
    target_cols = [c for c in pairs.columns if c.startswith(RNASEQ_PREFIX)]
    landmark_ids = [c[len(L1000_PREFIX) :] for c in landmark_cols]
    target_ids = [c[len(RNASEQ_PREFIX) :] for c in target_cols]
    position = {g: i for i, g in enumerate(target_ids)}
    absent = [g for g in landmark_ids if g not in position]
    if absent:
        raise DataError(f"landmarks {absent[:5]} ({len(absent)} in all) have no RNA-seq column; the GNN needs them as nodes")
    labels = split.set_index("sample_id").split.reindex(pairs.index)
    if labels.isna().any():
        raise DataError(f"samples {labels.index[labels.isna()][:5].tolist()} have no split assignment")
    x, y, tissue = {}, {}, {}
    for name in ("train", "validation", "test"):
        rows = (labels == name).to_numpy()
        x[name] = pairs.loc[rows, landmark_cols].to_numpy(dtype=np.float64)
        y[name] = pairs.loc[rows, target_cols].to_numpy(dtype=np.float64)
        if TISSUE_COLUMN in pairs.columns:
            tissue[name] = pairs.loc[rows, TISSUE_COLUMN].astype(str).to_numpy()
    return InferenceData(x, y, landmark_ids, target_ids, [position[g] for g in landmark_ids], tissue or None)
