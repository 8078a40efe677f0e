"""The compute resource: which device, how many threads, which precision and seed training uses.

Training assets ask this resource for their device instead of calling
``torch.cuda.is_available()`` themselves, so one setting (``L1K_DEVICE`` and friends) moves
every model between CPU and GPU, and the choice is recorded with each model. Asking for
``cuda`` on a machine without a usable GPU is an error, not a silent fall-back to a CPU run
that would take hours longer than planned.

torch is imported only when a method needs it: loading the definitions (the UI, the CLI,
every non-training run) must not pay torch's import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from l1k_assets.errors import L1kError
from l1k_assets.torch_setup import TorchSetup

if TYPE_CHECKING:
    import torch

Precision = Literal["float32", "float64", "bfloat16"]


class DeviceUnavailableError(L1kError):
    """The configured device does not exist on this machine."""


class ComputeResource(dg.ConfigurableResource):
    """Device, CPU threads, floating-point precision and seed of model training."""

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda if available, else cpu")
    # One thread by default: the models' per-batch operations are small, and with torch's default
    # of one thread per core every barrier spin-waits; on a 2-core machine with anything else
    # running, a GNN epoch measured 4x and an MLP epoch 17x slower with 2 threads than with 1.
    threads: int = Field(1, ge=0, description="torch intra-op CPU threads; 0 keeps torch's default (one per core)")
    precision: Precision = Field("float32", description="dtype of model parameters and tensors")
    seed: int = Field(0, description="seed of torch, numpy and random, set by configure()")

    def torch_device(self) -> torch.device:
        """The device to train on; ``cuda`` without a usable GPU raises DeviceUnavailableError."""
        import torch

        cuda = torch.cuda.is_available()
        if self.device == "cuda" and not cuda:
            raise DeviceUnavailableError(
                f"device 'cuda' was requested but torch {torch.__version__} sees no CUDA device "
                f"(CUDA build: {torch.version.cuda or 'none'}); set L1K_DEVICE=cpu or auto to train on the CPU"
            )
        return torch.device("cuda" if self.device == "cuda" or (self.device == "auto" and cuda) else "cpu")

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype named by ``precision``."""
        import torch

        return {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}[self.precision]

    def setup(self) -> TorchSetup:
        """The resolved device with this resource's dtype, seed and threads: what training protocols take."""
        return TorchSetup(str(self.torch_device()), self.precision, self.seed, self.threads)

    def configure(self) -> torch.device:
        """Apply the thread count, seed torch, numpy and random, and return the device.

        Call it at the start of each training so that a rerun with the same inputs and
        settings starts from the same random state.
        """
        device = self.torch_device()
        TorchSetup(str(device), self.precision, self.seed, self.threads).configure()
        return device

    def describe(self) -> dict[str, Any]:
        """What the training ran on, for asset metadata and MLflow parameters."""
        import torch

        device = self.torch_device()
        info: dict[str, Any] = {
            "device": device.type,
            "threads": torch.get_num_threads(),
            "precision": self.precision,
            "seed": self.seed,
            "torch_version": torch.__version__,
        }
        if device.type == "cuda":
            info["cuda_device_name"] = torch.cuda.get_device_name(device)
        return info
