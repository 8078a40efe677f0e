"""The whole tiny main job on a real Dask cluster: a scheduler and two workers on 127.0.0.1, one with a GPU.

The scheduler and the workers are separate ``dask`` processes (workers without a nanny, so a
worker's pid is the pid that executes its steps), and the Dagster instance is PostgreSQL
(docker/dagster.yaml on a throwaway cluster, tests/postgres.py), as a cluster needs: every
worker records its steps' events there. ``l1k materialize --executor dask`` runs the job with
the commands docs/scale_out.md gives.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from l1k_jobs.dask_cluster import GPU_RESOURCE
from l1k_jobs.plan import GPU_TAG
from tests.postgres import PostgresServer, create_database, free_port, postgres_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    workers: dict[str, subprocess.Popen]  # name → worker process (its pid runs the steps)


def _environment(tmp_path: Path, database: PostgresServer) -> dict[str, str]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(PROJECT_ROOT / "docker" / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("L1K_", "DAGSTER_"))}
    env.update(database.dagster_env())
    env.update(DAGSTER_HOME=str(dagster_home), L1K_HOME=str(tmp_path / "home"), L1K_MODE="embedded", L1K_SCALE="tiny")
    return env


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer) -> Iterator[Cluster]:
    """A scheduler and the workers the test asks for (``{name: resources}`` by indirect parametrisation)."""
    env = _environment(tmp_path, create_database(postgres, f"dagster_{uuid.uuid4().hex[:12]}"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env["L1K_DASK_ADDRESS"] = address
    processes = [
        _start(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env,
            tmp_path / "scheduler.log",
        )
    ]
    workers = {}
    for name, resources in request.param.items():
        command = [str(BIN / "dask"), "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        command += ["--host", "127.0.0.1"] + (["--resources", resources] if resources else [])
        workers[name] = _start(command, env, tmp_path / f"worker-{name}.log")
    processes += workers.values()
    try:
        _wait_for_workers(address, len(workers))
        yield Cluster(address, env, workers)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _materialize(cluster: Cluster, *extra: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", cluster.env["L1K_HOME"], "--scale", "tiny", "materialize"]
    command += ["--executor", "dask", "--dask-address", cluster.address, *extra]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=cluster.env, capture_output=True, text=True, timeout=timeout)


def _instance(cluster: Cluster) -> dg.DagsterInstance:
    for name in ("DAGSTER_HOME", *[k for k in cluster.env if k.startswith("DAGSTER_POSTGRES_")]):
        os.environ[name] = cluster.env[name]
    return dg.DagsterInstance.get()


@pytest.mark.parametrize("cluster", [{"cpu": "", "gpu": f"{GPU_RESOURCE}=1"}], indirect=True)
def test_tiny_main_job_runs_on_two_dask_workers_and_gpu_steps_only_on_the_gpu_worker(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from l1k_jobs.definitions import ALL_ASSETS

    done = _materialize(cluster, "--max-concurrent", "2")
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    monkeypatch.setenv("L1K_HOME", cluster.env["L1K_HOME"])
    gpu_ops = {k.to_user_string() for a in ALL_ASSETS if GPU_TAG in a.node_def.tags for k in a.keys}
    pids = {name: worker.pid for name, worker in cluster.workers.items()}
    with _instance(cluster) as instance:
        for asset in ALL_ASSETS:
            for key in asset.keys:
                assert instance.get_latest_materialization_event(key) is not None, f"{key.to_user_string()} not materialized"
        starts, ends = {}, {}
        for run in instance.get_runs(filters=dg.RunsFilter(tags={"l1k/runner": "main"})):
            assert run.status == dg.DagsterRunStatus.SUCCESS
            for record in instance.get_records_for_run(run.run_id).records:
                event = record.event_log_entry.dagster_event
                if event is None or event.event_type not in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS):
                    continue
                step = (run.run_id, event.step_key)
                if event.event_type == dg.DagsterEventType.STEP_START:
                    starts[step] = (record.event_log_entry.timestamp, event.pid)
                else:
                    ends[step] = record.event_log_entry.timestamp
    assert starts and set(starts) == set(ends)
    ran_in = {pid for _, pid in starts.values()}
    assert ran_in <= set(pids.values()), f"steps ran outside the workers: {ran_in - set(pids.values())}"
    assert ran_in == set(pids.values()), "both workers took steps"
    gpu_steps = sorted((starts[s][0], ends[s], starts[s][1], s[1]) for s in starts if s[1] in gpu_ops)
    assert {step for *_, step in gpu_steps} == gpu_ops
    assert {pid for _, _, pid, _ in gpu_steps} == {pids["gpu"]}, "GPU steps ran only on the GPU worker"
    for (_, first_end, _, first), (second_start, _, _, second) in itertools.pairwise(gpu_steps):
        assert second_start >= first_end, f"{first} and {second} held the GPU at once"


@pytest.mark.parametrize("cluster", [{"cpu": ""}], indirect=True)
def test_gpu_asset_on_a_cluster_without_gpu_worker_waits_then_stops_before_any_run(cluster: Cluster) -> None:
    cluster.env["L1K_DASK_GPU_WAIT"] = "3"
    started = time.monotonic()
    done = _materialize(cluster, "--select", "key:model_expression_inference", "--max-concurrent", "1", timeout=300)
    assert done.returncode == 2, done.stderr[-4000:]
    assert "waiting up to" in done.stdout and "--resources GPU=1" in done.stdout
    assert "no Dask worker offers the resource GPU after 3 s (L1K_DASK_GPU_WAIT)" in done.stderr
    assert "Traceback" not in done.stderr and time.monotonic() - started < 240
    with _instance(cluster) as instance:
        assert instance.get_runs() == [], "no run may be recorded"


def test_dask_address_that_does_not_answer_is_refused_before_any_run(tmp_path: Path, postgres: PostgresServer) -> None:
    env = _environment(tmp_path, create_database(postgres, f"dagster_{uuid.uuid4().hex[:12]}"))
    silent = Cluster(f"tcp://127.0.0.1:{free_port()}", env, {})
    done = _materialize(silent, "--max-concurrent", "1", timeout=300)
    assert done.returncode == 2, done.stderr[-4000:]
    assert f"L1K_DASK_ADDRESS={silent.address!r}: no Dask scheduler answered" in done.stderr
    assert "Traceback" not in done.stderr
    with _instance(silent) as instance:
        assert instance.get_runs() == []
