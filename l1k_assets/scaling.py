"""Per-column standardisation from training rows, with columns constant in training made explicit.

Every model that z-scores expression (the inference zoo, CSG2A's pretraining) uses this one
scaler, so a gene that a real matrix floors to one value in every training sample is handled
the same way everywhere instead of exploding at test time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_SD_FLOOR = 1e-3  # a column this far below the typical sd counts as constant in training


@dataclass
class Scaler:
    """Per-column mean and standard deviation from the training rows, with constant columns made explicit.

    A column whose training sd is at most ``RELATIVE_SD_FLOOR`` × the median sd of the columns
    that vary is constant as far as training can tell (a landmark floored to one value in every training
    sample of a real HG-U95 matrix). Dividing by its own tiny sd would send a test sample where
    it varies to |z| ≈ 10^7 and wreck every model, and even float noise around the floor lets
    least squares fit it with a huge coefficient. Training can teach nothing about such a
    column, so it reaches the model as 0 (its training mean) in training and at prediction
    alike, and a constant target is predicted at its constant (its sd is set to the typical
    one, so nothing divides by ~0). ``constant`` lists those columns for the asset page.
    """

    mean: np.ndarray
    sd: np.ndarray
    constant: np.ndarray  # bool per column

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """The scaler of the training rows ``values`` (rows × columns)."""
        sd = values.std(axis=0)
        varying = sd[sd > 0]
        typical = float(np.median(varying)) if len(varying) else 1.0
        constant = sd <= RELATIVE_SD_FLOOR * typical
        return cls(values.mean(axis=0), np.where(constant, typical, sd), constant)

    @classmethod
    def identity(cls, n: int) -> Scaler:
        """No scaling (targets a loss needs on their own scale)."""
        return cls(np.zeros(n), np.ones(n), np.zeros(n, dtype=bool))

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Values as the model sees them: z-scores, 0 in the constant columns."""
        return np.where(self.constant, 0.0, (values - self.mean) / self.sd)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Model outputs back on the original scale; a constant column is its training mean."""
        return np.where(self.constant, self.mean, values * self.sd + self.mean)
