"""Where and how a model trains: device, dtype, seed and CPU threads, as plain values a notebook can build.

The compute resource resolves these from its settings (``auto`` becomes ``cuda`` or ``cpu``,
a missing GPU is an error there); the training protocols only read them, so they run the
same from an asset and from a notebook (``TorchSetup()`` is one CPU thread, float32, seed 0).
torch is imported only by ``configure``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TorchSetup:
    """The device (``cpu``, ``cuda``, ``cuda:1``), parameter dtype, seed and intra-op threads (0: torch's default)."""

    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    threads: int = 1

    def configure(self) -> None:
        """Apply the thread count and seed torch, numpy and random, so a rerun starts from the same state."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        random.seed(self.seed)

    def torch_options(self) -> dict[str, object]:
        """The ``device``, ``dtype`` and ``seed`` arguments every l1k torch estimator takes."""
        return {"device": self.device, "dtype": self.dtype, "seed": self.seed}
