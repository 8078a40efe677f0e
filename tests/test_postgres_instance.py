"""The Docker deployment's dagster.yaml and MLflow service, proven against a real PostgreSQL.

docker/dagster.yaml itself (symlinked into a temporary DAGSTER_HOME, never copied) is loaded with
its DAGSTER_POSTGRES_* variables pointing at a throwaway cluster (tests/postgres.py). A real l1k
asset is materialized into it, ``dagster-daemon run`` is started, stopped (SIGTERM, as ``docker
stop`` does) and started again, and a fresh instance must still read the materialization, its
metadata and the heartbeat of the last daemon process back out of PostgreSQL. The MLflow server
is started with the environment docker-compose.yml gives it. No Docker engine runs here, so the
compose file is otherwise checked as YAML: services, health checks, start order, 127.0.0.1-only
ports and the variables dagster.yaml needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import requests
import yaml
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from l1k_assets.fileio import file_digest
from l1k_assets.genesets.gmt import read_gmt
from l1k_jobs.definitions import ALL_ASSETS
from l1k_jobs.resources_config import build_resources
from resources.tracking import TrackedRun
from tests.postgres import PostgresServer, create_database, free_port, postgres_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCKER = PROJECT_ROOT / "docker"
DAEMON_START_TIMEOUT = 120.0
MLFLOW_START_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def database(cluster: PostgresServer) -> PostgresServer:
    """A database of its own for each test, as compose gives Dagster its own ``dagster`` database."""
    return create_database(cluster, f"dagster_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def dagster_home(tmp_path: Path, database: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME whose dagster.yaml IS docker/dagster.yaml, with the variables compose would set."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(DOCKER / "dagster.yaml")
    for name, value in database.dagster_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def daemon_environment(dagster_home: Path, l1k_home: Path) -> dict[str, str]:
    """The test's environment (with the PostgreSQL variables) and a tiny embedded l1k home for the code server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("L1K_")}
    env.update(DAGSTER_HOME=str(dagster_home), L1K_HOME=str(l1k_home), L1K_MODE="embedded", L1K_SCALE="tiny")
    return env


def heartbeat_ids(instance: dg.DagsterInstance) -> dict[str, str]:
    """Daemon type -> id of the daemon process that last reported it alive."""
    return {kind: beat.daemon_id for kind, beat in instance.get_daemon_heartbeats().items()}


def run_daemon_until_heartbeats(dagster_home: Path, env: dict[str, str], stale_ids: set[str]) -> str:
    """Start ``dagster-daemon run`` on the project workspace, wait until every daemon it must run has
    reported in with a new process id, stop it with SIGTERM and return that id."""
    command = [sys.executable, "-m", "dagster._daemon", "run", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    log = dagster_home / f"daemon-{len(stale_ids)}.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            required = set(instance.get_required_daemon_types())
            deadline = time.monotonic() + DAEMON_START_TIMEOUT
            while time.monotonic() < deadline and daemon.poll() is None:
                ids = heartbeat_ids(instance)
                fresh = {ids.get(kind) for kind in required}
                if len(fresh) == 1 and not fresh & (stale_ids | {None}):
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"daemon did not report all of {sorted(required)} (exit {daemon.poll()}):\n{log.read_text()[-4000:]}")
        daemon.terminate()
        assert daemon.wait(timeout=60) == 0, log.read_text()[-4000:]
        return fresh.pop()
    finally:
        stop_process_group(daemon)


def stop_process_group(process: subprocess.Popen, grace: float = 60) -> None:
    """SIGTERM a server started here in its own session (as ``docker stop`` does), then SIGKILL what is
    left of that session: the children it spawned (a daemon's code server, MLflow's workers)."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def count_rows(server: PostgresServer, query: str, *params: object) -> int:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_docker_instance_keeps_materializations_and_heartbeats_in_postgres(
    dagster_home: Path, database: PostgresServer, tmp_path: Path
) -> None:
    l1k_home = tmp_path / "l1k_home"
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        resources = build_resources(env={}, home=str(l1k_home), scale="tiny")
        result = dg.materialize(ALL_ASSETS, selection=["raw_gene_sets"], resources=resources, instance=instance)
        assert result.success

    env = daemon_environment(dagster_home, l1k_home)
    first = run_daemon_until_heartbeats(dagster_home, env, stale_ids=set())
    second = run_daemon_until_heartbeats(dagster_home, env, stale_ids={first})

    with dg.DagsterInstance.from_config(str(dagster_home)) as fresh:
        run = fresh.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        event = fresh.get_latest_materialization_event(dg.AssetKey("raw_gene_sets"))
        assert event is not None and event.run_id == result.run_id
        metadata = event.asset_materialization.metadata
        table = pd.read_parquet(metadata["path"].value)
        assert metadata["dagster/row_count"].value == len(table) == 3
        assert metadata["table_sha256"].value == file_digest(metadata["path"].value)
        assert metadata["gene_sets_per_library"].data == {row.role: len(read_gmt(row.path)) for row in table.itertuples()}
        assert set(metadata["source_sha256"].data) == set(table["role"])
        beats = heartbeat_ids(fresh)
        assert {beats[kind] for kind in fresh.get_required_daemon_types()} == {second}
        assert "QUEUED_RUN_COORDINATOR" in beats

    # The same facts, read straight from PostgreSQL's tables.
    assert count_rows(database, "SELECT count(*) FROM runs WHERE run_id = %s AND status = 'SUCCESS'", result.run_id) == 1
    materialized = "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'"
    assert count_rows(database, materialized, result.run_id) == 1
    heartbeats = "SELECT count(*) FROM daemon_heartbeats WHERE daemon_id = %s"
    assert count_rows(database, heartbeats, second) == len(beats) >= 4
    assert count_rows(database, heartbeats, first) == 0


def test_run_queue_and_tag_limits_are_what_the_instance_reports(dagster_home: Path) -> None:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)
        assert instance.run_coordinator.dequeue_interval_seconds == 5
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 4
        assert queue.max_user_code_failure_retries == 3
        assert queue.user_code_failure_retry_delay == 30
        limits = [{"key": "l1k/gpu", "limit": 1}, {"key": "l1k/memory", "value": "heavy", "limit": 1}]
        assert list(queue.tag_concurrency_limits) == limits
        assert not instance.telemetry_enabled
        assert not instance.nux_enabled

        def run(tags: dict[str, str]) -> dg.DagsterRun:
            return dg.DagsterRun(job_name="lincs_release_job", tags=tags)

        gpu, heavy = run({"l1k/gpu": "0"}), run({"l1k/memory": "heavy"})
        counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, [gpu, heavy])
        assert counter.is_blocked(run({"l1k/gpu": "1"}))
        assert counter.is_blocked(run({"l1k/memory": "heavy"}))
        assert not counter.is_blocked(run({"l1k/memory": "light"}))
        assert not counter.is_blocked(run({}))


# ---- the compose file, parsed (no Docker engine here) ----


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def env_names(value: object) -> set[str]:
    """Every ``env:`` variable a dagster.yaml section reads."""
    if isinstance(value, dict):
        return {value["env"]} if set(value) == {"env"} else set().union(*map(env_names, value.values()))
    if isinstance(value, list):
        return set().union(*map(env_names, value))
    return set()


def test_compose_services_start_in_order_and_publish_on_loopback_only(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgresql", "user_code", "webserver", "daemon", "mlflow"}
    assert services["postgresql"]["image"] == "postgres:15"
    assert all("test" in service["healthcheck"] for service in services.values())
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published)
    assert {port.split(":")[1] for port in published} == {"3000", "5000"}
    healthy = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    assert healthy == {
        "postgresql": set(),
        "mlflow": {"postgresql"},
        "user_code": {"postgresql", "mlflow"},
        "webserver": {"postgresql", "user_code"},
        "daemon": {"postgresql", "user_code"},
    }
    conditions = {dep["condition"] for service in services.values() for dep in service.get("depends_on", {}).values()}
    assert conditions == {"service_healthy"}
    assert set(compose["volumes"]) >= {"postgresql-data", "l1k-home", "mlflow-artifacts"}


def test_compose_wires_dagster_processes_to_one_instance_and_code_server(compose: dict) -> None:
    services = compose["services"]
    needed = env_names(yaml.safe_load((DOCKER / "dagster.yaml").read_text()))
    assert needed == {f"DAGSTER_POSTGRES_{part}" for part in ("HOST", "PORT", "USER", "PASSWORD", "DB")}
    for name in ("user_code", "webserver", "daemon"):
        assert needed <= set(services[name]["environment"]), name
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert services[name]["environment"]["DAGSTER_POSTGRES_HOST"] == "postgresql"
    code = services["user_code"]
    assert code["command"][:3] == ["dagster", "code-server", "start"]
    assert code["command"][code["command"].index("-m") + 1] == "l1k_jobs.definitions"
    assert code["environment"]["L1K_HOME"] == "/var/lib/l1k"
    assert "l1k-home:/var/lib/l1k" in code["volumes"]
    assert code["environment"]["L1K_MLFLOW_URI"] == "http://mlflow:5000"
    (location,) = yaml.safe_load((DOCKER / "workspace.yaml").read_text())["load_from"]
    assert location["grpc_server"]["host"] == "user_code"
    assert str(location["grpc_server"]["port"]) == code["command"][code["command"].index("-p") + 1]
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/home/workspace.yaml" in services[name]["command"]
    mlflow_store = services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert re.fullmatch(r"postgresql\+psycopg2://\S+@postgresql:5432/mlflow", mlflow_store)
    assert "CREATE DATABASE mlflow" in compose["configs"]["mlflow-database"]["content"]
    allowed = services["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert {"mlflow:5000", "127.0.0.1:5000"} <= set(allowed)


COMPOSE_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}``, with ``variables`` standing in for the operator's environment."""
    return COMPOSE_DEFAULT.sub(lambda m: variables.get(m.group(1), m.group(2)), value)


def mlflow_service_environment(compose: dict, database: PostgresServer, artifacts: Path, port: int) -> dict[str, str]:
    """The mlflow service's environment from the compose file, aimed at the throwaway cluster.

    Only what cannot be the same outside Docker changes: the database host, the artifact folder,
    and the published port added to the allowed Host headers.
    """
    credentials = {"L1K_POSTGRES_USER": database.user, "L1K_POSTGRES_PASSWORD": database.password}
    service = {k: interpolate(str(v), credentials) for k, v in compose["services"]["mlflow"]["environment"].items()}
    store = service["MLFLOW_BACKEND_STORE_URI"].replace(
        "@postgresql:5432/mlflow", f"@{database.host}:{database.port}/{database.database}"
    )
    assert store != service["MLFLOW_BACKEND_STORE_URI"]
    return {
        **os.environ,
        **service,
        "MLFLOW_BACKEND_STORE_URI": store,
        "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts),
        "MLFLOW_SERVER_ALLOWED_HOSTS": f"{service['MLFLOW_SERVER_ALLOWED_HOSTS']},127.0.0.1:{port}",
    }


def wait_for_health(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + MLFLOW_START_TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    pytest.fail(f"MLflow server not healthy (exit {server.poll()}):\n{log.read_text()[-4000:]}")


def test_mlflow_service_tracks_into_its_own_postgres_database(compose: dict, cluster: PostgresServer, tmp_path: Path) -> None:
    database = create_database(cluster, f"mlflow_{uuid.uuid4().hex[:12]}")
    artifacts, log, port = tmp_path / "artifacts", tmp_path / "mlflow.log", free_port()
    env = mlflow_service_environment(compose, database, artifacts, port)
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(f"{base}/health", server, log)
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        assert requests.get(search, headers={"Host": "mlflow:5000"}, timeout=30).status_code == 200
        assert requests.get(search, headers={"Host": "attacker.example"}, timeout=30).status_code == 403

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=base)
        experiment_id = client.create_experiment("l1k")
        run = TrackedRun(client, client.create_run(experiment_id).info.run_id, experiment_id, "http://127.0.0.1:5000")
        run.log_metrics({"balanced_accuracy": 0.75})
        table = pd.DataFrame({"predicted_LUAD": [3, 1]}, index=["LUAD", "LUSC"])
        run.log_table("confusion", table)
    finally:
        stop_process_group(server)

    (stored,) = artifacts.glob(f"*/{run.run_id}/artifacts/tables/confusion.csv")
    assert stored.read_text() == table.to_csv()
    metric = "SELECT count(*) FROM metrics WHERE run_uuid = %s AND key = 'balanced_accuracy' AND value = 0.75"
    assert count_rows(database, metric, run.run_id) == 1
    assert run.url == f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run.run_id}"
