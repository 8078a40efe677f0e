"""Shared fixtures: the real public files in ../shared/data and a tiny generated universe."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
TEST_BUDGET_SCALE = 100


class FakeClock:
    """A clock a test moves by hand, so throttling and budgets are checked without sleeping."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: with several threads on a busy host, OpenMP waits dominate and tests crawl."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real fixtures, used by relative path and never copied into the project."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real fixtures not found at {SHARED_DATA}; the project expects ../shared/data beside it")
    return SHARED_DATA


@dataclass
class MaterializedHome:
    """An l1k home after ``l1k materialize`` ran on the tiny embedded universe (as the README does)."""

    home: Path
    dagster_home: Path
    output: str

    def table(self, asset: str, partition: str | None = None) -> pd.DataFrame:
        """A materialized Parquet table, read from where the IO manager wrote it."""
        return pd.read_parquet(self.home / "tables" / asset / f"{partition or '__all__'}.parquet")

    def env(self) -> dict[str, str]:
        """The environment of a user's shell for this home: no stray L1K_/DAGSTER_ settings, DAGSTER_HOME set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("L1K_", "DAGSTER_"))}
        return env | {"DAGSTER_HOME": str(self.dagster_home)}

    def manifest(self) -> dict:
        """The embedded mirror's manifest: the planted truth."""
        (mirror,) = (self.home / "mirror").glob("tiny-seed*")
        return json.loads((mirror / "manifest.json").read_text())

    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance the runs were recorded in (what ``l1k ui`` shows)."""
        return dg.DagsterInstance.from_config(str(self.dagster_home))

    def metadata(self, asset: str, partition: str | None = None) -> dict:
        """Metadata of the latest materialization of an asset (partition)."""
        with self.instance() as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            if partition is not None:
                records = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
                ).records
                event = records[0].event_log_entry
            assert event is not None, f"{asset} was never materialized"
            return event.asset_materialization.metadata


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> MaterializedHome:
    """Run the main command once, in a subprocess like a user would, on the tiny scale.

    The demo profile's wall-clock budgets are stretched 100-fold: on the tiny universe every
    training ends by its patience or epoch limit, so what the tests assert cannot depend on
    how loaded the machine is.
    """
    home = tmp_path_factory.mktemp("l1k_home")
    materialized = MaterializedHome(home, home / "dagster", "")
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(home), "--scale", "tiny", "materialize"]
    command += ["--budget-scale", str(TEST_BUDGET_SCALE)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=materialized.env(), capture_output=True, text=True, timeout=1500)
    if done.returncode != 0:
        pytest.fail(f"l1k materialize failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    materialized.output = done.stdout
    return materialized
