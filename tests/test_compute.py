"""The compute resource: device choice, the cuda error, threads, dtypes, seeding, lazy torch import."""

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from l1k_assets.errors import L1kError
from resources.compute import ComputeResource, DeviceUnavailableError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def keep_torch_threads() -> Iterator[None]:
    """Tests change torch's process-wide thread count; put it back for the rest of the suite."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_is_cpu() -> None:
    assert ComputeResource(device="cpu").torch_device() == torch.device("cpu")


def test_auto_on_this_cpu_only_machine_is_cpu() -> None:
    assert not torch.cuda.is_available(), "this test describes the CPU-only CI machine"
    assert ComputeResource().torch_device() == torch.device("cpu")


def test_auto_picks_cuda_when_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ComputeResource(device="auto").torch_device() == torch.device("cuda")
    assert ComputeResource(device="cpu").torch_device() == torch.device("cpu")


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    compute = ComputeResource(device="cuda")
    with pytest.raises(DeviceUnavailableError, match=r"'cuda' was requested.*L1K_DEVICE=cpu") as err:
        compute.configure()
    assert isinstance(err.value, L1kError)
    with pytest.raises(DeviceUnavailableError):
        compute.describe()


@pytest.mark.parametrize(
    ("precision", "dtype"), [("float32", torch.float32), ("float64", torch.float64), ("bfloat16", torch.bfloat16)]
)
def test_dtype_mapping(precision: str, dtype: torch.dtype) -> None:
    assert ComputeResource(precision=precision).torch_dtype() is dtype


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        ComputeResource(device="tpu")
    with pytest.raises(ValidationError):
        ComputeResource(precision="float16")
    with pytest.raises(ValidationError):
        ComputeResource(threads=-1)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_applied(threads: int) -> None:
    torch.set_num_threads(3)
    assert ComputeResource(threads=threads).configure() == torch.device("cpu")
    assert torch.get_num_threads() == threads


def test_zero_threads_keeps_torch_default() -> None:
    torch.set_num_threads(3)
    ComputeResource(threads=0).configure()
    assert torch.get_num_threads() == 3


def _draws() -> tuple[list[float], list[float], float]:
    return torch.rand(4).tolist(), np.random.rand(4).tolist(), random.random()


def test_configure_seeds_torch_numpy_and_random() -> None:
    compute = ComputeResource(seed=7)
    compute.configure()
    first = _draws()
    compute.configure()
    assert _draws() == first
    ComputeResource(seed=8).configure()
    other = _draws()
    assert all(a != b for a, b in zip(other, first, strict=True))


def test_describe_reports_the_effective_settings() -> None:
    compute = ComputeResource(device="auto", threads=1, precision="float64", seed=5)
    compute.configure()
    assert compute.describe() == {
        "device": "cpu",
        "threads": 1,
        "precision": "float64",
        "seed": 5,
        "torch_version": torch.__version__,
    }


def test_describe_names_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"Test GPU on {device}")
    info = ComputeResource(device="cuda").describe()
    assert info["device"] == "cuda"
    assert info["cuda_device_name"] == "Test GPU on cuda"


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, json; import resources.compute; print(json.dumps('torch' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_an_asset_reads_the_resource() -> None:
    """How training assets use it: configure at the start, record describe() with the model."""

    @dg.asset
    def tiny_model(context: dg.AssetExecutionContext, compute: ComputeResource) -> None:
        device = compute.configure()
        weights = torch.randn(3, dtype=compute.torch_dtype(), device=device)
        context.add_output_metadata({**compute.describe(), "weights": json.dumps(weights.tolist())})

    resources = {"compute": ComputeResource(device="cpu", precision="float64", seed=3)}
    result = dg.materialize([tiny_model], resources=resources)
    metadata = result.asset_materializations_for_node("tiny_model")[0].metadata
    assert metadata["device"].value == "cpu"
    assert metadata["precision"].value == "float64"
    torch.manual_seed(3)
    assert json.loads(metadata["weights"].value) == torch.randn(3, dtype=torch.float64).tolist()
