"""Executors from configuration: the variables parse strictly, and each executor really runs steps.

The run tests launch a reconstructable job with ``dagster.execute_job`` (``materialize`` and
``execute_in_process`` would ignore the executor and run in-process), so the Dask steps run on
the cluster's workers and the multiprocess steps in child processes; each asset records where
it ran, and the tests read that back from the Parquet files the real IO manager wrote.
"""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import distributed
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l1k_assets.partitions import GPU_POOL, GPU_TAGS
from l1k_jobs.executors import executor_from_env
from resources.parquet_io import ParquetIOManager

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PARTS = dg.StaticPartitionsDefinition(["a", "b", "c"])
ROWS = {"a": 2, "b": 3, "c": 4}
# 0 + 1, 0 + 1 + 2, 0 + 1 + 2 + 3
TOTALS = {"a": 1, "b": 3, "c": 6}
JOB = "scale_out_job"


def _resolved(executor: dg.ExecutorDefinition) -> dict:
    """The executor config Dagster will hand the executor when a run starts."""
    result = executor.config_schema.resolve_config({})
    assert result.success, result.errors
    return result.value["config"]


# --- parsing ---------------------------------------------------------------------------------


def test_default_is_multiprocess_with_two_processes() -> None:
    executor = executor_from_env({})
    assert executor.name == "multiprocess"
    assert _resolved(executor)["max_concurrent"] == 2


def test_empty_values_mean_default() -> None:
    executor = executor_from_env({"L1K_EXECUTOR": "", "L1K_MAX_CONCURRENT": " "})
    assert executor.name == "multiprocess"
    assert _resolved(executor)["max_concurrent"] == 2


def test_max_concurrent_is_read() -> None:
    assert _resolved(executor_from_env({"L1K_EXECUTOR": "multiprocess", "L1K_MAX_CONCURRENT": "5"}))["max_concurrent"] == 5


def test_in_process() -> None:
    assert executor_from_env({"L1K_EXECUTOR": "in_process"}) is dg.in_process_executor


def test_dask_existing_cluster_from_address() -> None:
    env = {"L1K_EXECUTOR": " Dask ", "L1K_DASK_ADDRESS": "tcp://scheduler:8786", "L1K_DASK_GPU_WAIT": "30"}
    executor = executor_from_env(env)
    assert executor.name == "l1k_dask"
    assert _resolved(executor) == {"address": "tcp://scheduler:8786", "local_workers": 2, "gpu_wait_seconds": 30.0}


def test_dask_local_cluster_without_address() -> None:
    default = {"address": "", "local_workers": 2, "gpu_wait_seconds": 300.0}
    assert _resolved(executor_from_env({"L1K_EXECUTOR": "dask"})) == default
    configured = executor_from_env({"L1K_EXECUTOR": "dask", "L1K_DASK_WORKERS": "3"})
    assert _resolved(configured)["local_workers"] == 3


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan"])
def test_bad_gpu_wait_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=f"L1K_DASK_GPU_WAIT must be a positive number of seconds, got '{value}'"):
        executor_from_env({"L1K_EXECUTOR": "dask", "L1K_DASK_GPU_WAIT": value})


def test_gpu_steps_ask_dask_workers_for_the_gpu_resource() -> None:
    """Every GPU training asks for one GPU of its worker; nothing else asks for any resource."""
    from l1k_jobs.dask_cluster import step_resources
    from l1k_jobs.definitions import ALL_ASSETS

    asked = {key.to_user_string(): step_resources(a.node_def.tags) for a in ALL_ASSETS for key in a.keys}
    gpu = {name for name, resources in asked.items() if resources}
    assert {"model_expression_inference", "model_csg2a_finetuned", "model_csg2a_pretrained"} <= gpu
    assert all(asked[name] == {"GPU": 1.0} for name in gpu)
    assert "core_geo_expression" not in gpu and not step_resources({})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("L1K_EXECUTOR", "in_process")
    assert executor_from_env() is dg.in_process_executor


def test_unknown_executor_names_the_variable_and_choices() -> None:
    with pytest.raises(ValueError) as err:
        executor_from_env({"L1K_EXECUTOR": "celery"})
    message = str(err.value)
    for word in ("L1K_EXECUTOR", "'celery'", "in_process", "multiprocess", "dask"):
        assert word in message


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "2x"])
@pytest.mark.parametrize(("variable", "executor"), [("L1K_MAX_CONCURRENT", "multiprocess"), ("L1K_DASK_WORKERS", "dask")])
def test_bad_counts_name_the_variable(variable: str, executor: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{variable} must be a positive integer, got '{value}'"):
        executor_from_env({"L1K_EXECUTOR": executor, variable: value})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=6))
def test_max_concurrent_fuzz(value: str) -> None:
    """Any text either is a positive count and is used as is, or is refused with the variable's name."""
    env = {"L1K_MAX_CONCURRENT": value}
    text = value.strip()
    if not text:
        assert _resolved(executor_from_env(env))["max_concurrent"] == 2
    elif text.isdecimal() and int(text) >= 1:
        assert _resolved(executor_from_env(env))["max_concurrent"] == int(text)
    else:
        with pytest.raises(ValueError, match="L1K_MAX_CONCURRENT"):
            executor_from_env(env)


# --- GPU tags ---------------------------------------------------------------------------------


def test_gpu_tags_and_pool_are_accepted_by_an_asset() -> None:
    @dg.asset(op_tags=GPU_TAGS, pool=GPU_POOL)
    def gpu_model() -> int:
        return 1

    tags = gpu_model.op.tags
    assert gpu_model.op.pool == "gpu"
    assert tags["l1k/gpu"] == "1"
    assert tags["dagster/concurrency_key"] == "gpu"
    # Dagster stores the dict as JSON; dagster-k8s parses it back into the step pod's spec.
    k8s = json.loads(tags["dagster-k8s/config"])
    assert k8s == {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                "limits": {"nvidia.com/gpu": "1"},
            }
        }
    }
    assert dg.materialize([gpu_model]).success


# --- real runs ----------------------------------------------------------------------------------


def _worker_address() -> str:
    """The Dask worker running this step, or "" outside a Dask worker."""
    try:
        return distributed.get_worker().address
    except ValueError:
        return ""


@dg.asset(partitions_def=PARTS)
def scale_rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
    key = context.partition_key
    n = ROWS[key]
    return pd.DataFrame({"partition": [key] * n, "value": np.arange(n), "pid": os.getpid(), "worker": _worker_address()})


@dg.asset(partitions_def=PARTS)
def scale_totals(context: dg.AssetExecutionContext, scale_rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition": [context.partition_key],
            "total": [int(scale_rows["value"].sum())],
            "pid": [os.getpid()],
            "worker": [_worker_address()],
        }
    )


def build_job(home: str, env: dict[str, str]) -> dg.JobDefinition:
    """The test job, rebuilt the same way in every process that runs one of its steps."""
    job = dg.define_asset_job(JOB, partitions_def=PARTS, executor_def=executor_from_env(env))
    defs = dg.Definitions(assets=[scale_rows, scale_totals], jobs=[job], resources={"io_manager": ParquetIOManager(home=home)})
    return defs.resolve_job_def(JOB)


def _run(tmp_path: Path, env: dict[str, str], keys: list[str]) -> None:
    """Run the job once per partition key on a persistent temporary instance; every run must succeed."""
    home = tmp_path / "home"
    recon = dg.build_reconstructable_job(
        __name__,
        build_job.__name__,
        reconstructable_kwargs={"home": str(home), "env": env},
        reconstructor_working_directory=str(PROJECT_ROOT),
    )
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        for key in keys:
            result = dg.execute_job(recon, instance=instance, tags={"dagster/partition": key})
            assert result.success, f"run of partition {key} failed"
            materialized = {e.asset_key for e in result.get_asset_materialization_events()}
            assert materialized == {dg.AssetKey("scale_rows"), dg.AssetKey("scale_totals")}


def _tables(tmp_path: Path, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two Parquet files the IO manager wrote for one partition."""
    tables = tmp_path / "home" / "tables"
    return pd.read_parquet(tables / "scale_rows" / f"{key}.parquet"), pd.read_parquet(tables / "scale_totals" / f"{key}.parquet")


def _assert_contents(tmp_path: Path, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, totals = _tables(tmp_path, key)
    assert rows["partition"].tolist() == [key] * ROWS[key]
    assert rows["value"].tolist() == list(range(ROWS[key]))
    assert totals["total"].tolist() == [TOTALS[key]]
    return rows, totals


@pytest.fixture
def dask_cluster() -> Iterator[distributed.LocalCluster]:
    """Two single-thread workers in this process: real scheduling, no process start-up cost."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster


def test_dask_executor_runs_steps_on_the_cluster(tmp_path: Path, dask_cluster: distributed.LocalCluster) -> None:
    env = {"L1K_EXECUTOR": "dask", "L1K_DASK_ADDRESS": dask_cluster.scheduler_address}
    _run(tmp_path, env, list(ROWS))
    workers = {worker.address for worker in dask_cluster.workers.values()}
    for key in ROWS:
        rows, totals = _assert_contents(tmp_path, key)
        assert set(rows["worker"]) <= workers
        assert set(totals["worker"]) <= workers


def test_dask_executor_without_address_starts_a_local_cluster(tmp_path: Path) -> None:
    """The default Dask set-up: the run starts its own cluster of worker processes and closes it."""
    _run(tmp_path, {"L1K_EXECUTOR": "dask", "L1K_DASK_WORKERS": "1"}, ["c"])
    rows, totals = _assert_contents(tmp_path, "c")
    (worker,) = set(rows["worker"]) | set(totals["worker"])
    assert worker.startswith("tcp://")
    assert set(rows["pid"]) == set(totals["pid"])
    assert os.getpid() not in set(rows["pid"])


def test_multiprocess_executor_runs_each_step_in_its_own_process(tmp_path: Path) -> None:
    _run(tmp_path, {"L1K_EXECUTOR": "multiprocess", "L1K_MAX_CONCURRENT": "2"}, ["b"])
    rows, totals = _assert_contents(tmp_path, "b")
    step_pids = {int(rows["pid"].iloc[0]), int(totals["pid"].iloc[0])}
    assert len(step_pids) == 2
    assert os.getpid() not in step_pids
    assert set(rows["worker"]) == set(totals["worker"]) == {""}


def test_in_process_executor_runs_steps_here(tmp_path: Path) -> None:
    _run(tmp_path, {"L1K_EXECUTOR": "in_process"}, ["a"])
    rows, totals = _assert_contents(tmp_path, "a")
    assert set(rows["pid"]) == set(totals["pid"]) == {os.getpid()}


# --- the GPU pool -------------------------------------------------------------------------------


def _busy_span() -> pd.DataFrame:
    """Hold the 'GPU' for a second and record when."""
    start = time.time()
    time.sleep(1.0)
    return pd.DataFrame({"start": [start], "end": [time.time()]})


@dg.asset(op_tags=GPU_TAGS, pool=GPU_POOL)
def gpu_first() -> pd.DataFrame:
    return _busy_span()


@dg.asset(op_tags=GPU_TAGS, pool=GPU_POOL)
def gpu_second() -> pd.DataFrame:
    return _busy_span()


def build_gpu_job(home: str) -> dg.JobDefinition:
    """Two independent GPU trainings that the executor alone would run side by side."""
    job = dg.define_asset_job("gpu_job", executor_def=executor_from_env({"L1K_MAX_CONCURRENT": "2"}))
    defs = dg.Definitions(assets=[gpu_first, gpu_second], jobs=[job], resources={"io_manager": ParquetIOManager(home=home)})
    return defs.resolve_job_def("gpu_job")


def test_gpu_pool_limit_of_one_serialises_gpu_steps(tmp_path: Path) -> None:
    """With ``dagster instance concurrency set gpu 1`` two GPU steps never overlap, even with room for two processes."""
    home = tmp_path / "home"
    recon = dg.build_reconstructable_job(
        __name__,
        build_gpu_job.__name__,
        reconstructable_kwargs={"home": str(home)},
        reconstructor_working_directory=str(PROJECT_ROOT),
    )
    (tmp_path / "dagster").mkdir()
    overrides = {"concurrency": {"pools": {"granularity": "op"}}}
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster"), overrides=overrides) as instance:
        instance.event_log_storage.set_concurrency_slots(GPU_POOL, 1)
        result = dg.execute_job(recon, instance=instance)
        assert result.success
        messages = [entry.message for entry in instance.all_logs(result.run_id)]
    assert "Step blocked by limit for pool gpu" in messages
    first, second = (pd.read_parquet(home / "tables" / name / "__all__.parquet").iloc[0] for name in ("gpu_first", "gpu_second"))
    assert first["end"] <= second["start"] or second["end"] <= first["start"]
