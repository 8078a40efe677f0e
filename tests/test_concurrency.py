"""Both cores in ``l1k materialize``: the plan of runs, their waits, the default and the limits of --max-concurrent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from l1k_jobs.concurrency import RUN_MEMORY_GIB, ConcurrencyError, blas_threads, check_max_concurrent, default_max_concurrent
from l1k_jobs.plan import plan_units
from l1k_jobs.runner import _chain_lengths, materialize_all

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("cores", "memory", "expected"), [(2, 24.0, 2), (8, 24.0, 8), (8, 10.0, 3), (2, 2.0, 1), (1, None, 1), (4, None, 4)]
)
def test_default_is_one_run_per_core_bounded_by_memory(cores: int, memory: float | None, expected: int) -> None:
    assert default_max_concurrent(cores, memory) == expected


def test_zero_or_negative_is_refused_naming_the_option() -> None:
    for bad in (0, -3):
        with pytest.raises(ConcurrencyError, match=f"--max-concurrent must be at least 1 .* got {bad}"):
            check_max_concurrent(bad, memory_gib=24.0)


def test_more_runs_than_memory_holds_is_refused_with_the_largest_that_fits() -> None:
    with pytest.raises(ConcurrencyError) as err:
        check_max_concurrent(9, memory_gib=20.0)
    message = str(err.value)
    assert f"--max-concurrent 9 needs about {9 * RUN_MEMORY_GIB:g} GiB" in message and "use at most 6" in message
    assert check_max_concurrent(6, memory_gib=20.0) == 6
    assert check_max_concurrent(None, memory_gib=20.0) == default_max_concurrent(memory_gib=20.0)


def test_blas_threads_share_the_cores() -> None:
    assert [blas_threads(runs, cores=8) for runs in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


@pytest.mark.parametrize(("value", "named"), [("0", "at least 1"), ("100000", "GiB available")])
def test_cli_refuses_before_anything_runs(tmp_path: Path, value: str, named: str) -> None:
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tmp_path), "--scale", "tiny", "materialize"]
    done = subprocess.run([*command, "--max-concurrent", value], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--max-concurrent" in done.stderr and named in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mirror").exists() and not (tmp_path / "tables").exists(), "nothing may run"


def test_plan_splits_stages_into_independent_runs_that_wait_only_for_their_upstreams(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("L1K_HOME", str(tmp_path))
    from l1k_jobs.definitions import ALL_ASSETS

    with dg.DagsterInstance.ephemeral() as instance:
        units = plan_units(ALL_ASSETS, instance)
    by_label = {u.label: u for u in units}
    # every cohort is its own run, waiting for its own raw files and the landmark genes only
    cohort = by_label["core_geo_expression [GSE10072]"]
    waits = sorted(units[i].label for i in cohort.after)
    assert waits[:2] == ["raw_geo_platform [GSE10072]", "raw_geo_series_matrix [GSE10072]"] and len(waits) == 3
    assert "core_landmark_genes" in waits[2]
    # the five inference models wait for the same references, not for each other
    models = [u for u in units if u.names == ["model_expression_inference"]]
    assert len(models) == 5 and all(m.gpu for m in models) and len({frozenset(m.after) for m in models}) == 1
    assert not any(m.index in other.after for m in models for other in models)
    # the benchmark of the models waits for all five
    (benchmark,) = [u for u in units if u.names == ["out_inference_benchmark"]]
    assert {m.index for m in models} <= benchmark.after
    # plan order is a valid order, and every asset is in exactly one run per partition
    assert all(before < unit.index for unit in units for before in unit.after)
    assert sum(len(u.keys) for u in units if u.partition is None) == sum(
        1 for a in ALL_ASSETS for _ in a.keys if a.partitions_def is None
    )
    # the longest chain starts first: the raw references lead to the GNN, a cohort's raw files do not
    chain = _chain_lengths(units)
    geo_raw = by_label["raw_geo_platform [GSE10072]"]
    references = next(u for u in units if "core_inference_pairs" in u.names)
    assert chain[references.index] > chain[geo_raw.index]


@dg.asset
def upstream_one() -> int:
    return 1


@dg.asset
def broken(upstream_one: int) -> int:
    raise ValueError(f"planted failure after {upstream_one}")


@dg.asset
def after_broken(broken: int) -> int:
    return broken


def test_a_failed_run_stops_new_runs_and_names_the_step(tmp_path: Path) -> None:
    from l1k_jobs.engines import StepFailedError

    resources = {"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))}
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(StepFailedError) as err:
            materialize_all([upstream_one, broken, after_broken], resources, instance, emit=lines.append)
        assert instance.get_latest_materialization_event(dg.AssetKey("upstream_one")) is not None
        assert instance.get_latest_materialization_event(dg.AssetKey("after_broken")) is None
    assert err.value.step == "broken" and isinstance(err.value.cause, ValueError)
    assert str(err.value) == "broken failed: planted failure after 1"
    assert any(line.startswith("✗ failed broken") for line in lines)


@dg.asset
def nap_a() -> float:
    started = time.time()
    time.sleep(3)
    return started


@dg.asset
def nap_b() -> float:
    started = time.time()
    time.sleep(3)
    return started


@dg.asset
def doomed() -> int:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return 0


def test_two_independent_assets_run_at_once_in_worker_processes(tmp_path: Path) -> None:
    for folder in ("io", "dagster"):
        (tmp_path / folder).mkdir()
    resources = {"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))}
    lines: list[str] = []
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        outcomes = materialize_all([nap_a, nap_b], resources, instance, emit=lines.append, max_concurrent=2)
        spans = []
        for outcome in outcomes:
            (stats,) = instance.get_run_step_stats(outcome.run_id)
            spans.append((stats.start_time, stats.end_time))
    (_, a_end), (b_start, _) = sorted(spans)
    assert b_start < a_end, f"the two naps ran one after the other: {spans}"
    assert {line.split()[1] for line in lines if line.startswith("✓")} == {"nap_a", "nap_b"}
    assert all(o.steps[0].peak_rss_mb is None or o.steps[0].peak_rss_mb > 10 for o in outcomes)


def test_a_worker_killed_mid_run_is_a_named_failure_and_its_run_is_closed(tmp_path: Path) -> None:
    from l1k_jobs.engines import StepFailedError, WorkerDiedError

    for folder in ("io", "dagster"):
        (tmp_path / folder).mkdir()
    resources = {"io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))}
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        with pytest.raises(StepFailedError) as err:
            materialize_all([doomed, nap_a], resources, instance, max_concurrent=2)
        statuses = [run.status for run in instance.get_runs()]
    assert isinstance(err.value.cause, WorkerDiedError) and "--max-concurrent" in str(err.value.cause)
    # the killed run is closed as failed, not left "started"; the pool's other run was interrupted with it
    assert statuses == [dg.DagsterRunStatus.FAILURE] * 2
