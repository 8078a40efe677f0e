"""Where the runs of ``l1k materialize`` execute: here, in a pool of worker processes, or on Dask.

The runner (``l1k_jobs.runner``) decides *when* a run may start; an engine decides *where*:

- one run at a time runs in this process (``--max-concurrent 1``, and what the tests' ephemeral
  instances need);
- several run in worker processes forked once, before any thread of the runner starts, so they
  share the definitions already imported and cost no import time per run.

A *target* says where a run's steps execute: ``LocalTarget`` in the process running the run
(``dg.materialize``), ``DaskTarget`` on a Dask cluster (``execute_job`` with the definitions'
Dask executor, ``L1K_EXECUTOR=dask``), the run's process then only orchestrating.

Every engine returns a ``UnitResult`` rather than raising, so a failed run in a worker reaches the
runner as data (the step, its partition, the cause) and the runner can let the other runs end
before it reports the failure.
"""

from __future__ import annotations

import functools
import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import dagster as dg
from dagster._core.execution.stats import StepEventStatus

from l1k_assets.errors import L1kError
from l1k_jobs.dask_cluster import (
    ADDRESS_SETTING,
    DaskClusterError,
    connect,
    wait_for_gpu_worker,
)
from l1k_jobs.executors import gpu_wait_seconds
from l1k_jobs.monitor import LAUNCH_TAG, StepTiming, peak_rss_mb, reset_peak_rss, run_of_launch, step_timings
from l1k_jobs.plan import Unit


class StepFailedError(Exception):
    """A run of the materialization failed: which run, which step, and the step's own exception as ``cause``."""

    def __init__(self, run: str, step: str | None, cause: BaseException, trace: str = "") -> None:
        super().__init__(run, step, cause, trace)
        self.run, self.step, self.cause, self.trace = run, step, cause, trace

    def __str__(self) -> str:
        return f"{self.step or self.run} failed: {self.cause}"


@dataclass
class UnitRequest:
    """What a run needs, in plain values a worker process can receive: assets, partition, tags and run config."""

    label: str
    keys: list[str]
    partition: str | None
    launch: str
    run_config: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def asset_keys(self) -> list[dg.AssetKey]:
        return [dg.AssetKey.from_user_string(k) for k in self.keys]

    def run_tags(self) -> dict[str, str]:
        """The run's tags: the runner's, the launch id the monitor finds the run by, and the partition."""
        partition = {"dagster/partition": self.partition} if self.partition else {}
        return {**self.tags, LAUNCH_TAG: self.launch, **partition}


@dataclass
class UnitResult:
    """A finished run: its id, each step's seconds and peak memory, and the failure if it failed."""

    run_id: str | None
    steps: list[StepTiming]
    failure: StepFailedError | None = None


class WorkerDiedError(L1kError):
    """A worker process ended in the middle of a run (killed, most often by the kernel when memory ran out)."""


def result_of(future: Future[UnitResult], label: str) -> UnitResult:
    """The run's result; a worker that died under it becomes the run's failure, naming the run and what to try."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        cause = WorkerDiedError(
            f"the worker process running {label} ended abruptly ({exc}); if the kernel killed it for memory, "
            "run fewer at once (--max-concurrent)"
        )
        return UnitResult(None, [], StepFailedError(label, None, cause))


def fail_abandoned_run(instance: dg.DagsterInstance, launch: str, why: str) -> None:
    """Mark the run of ``launch`` failed if its process died before it could, so the UI does not show it running forever."""
    run = run_of_launch(instance, launch)
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, why)


def _portable(exc: BaseException) -> BaseException:
    """The exception, or a copy of it from its arguments, if it survives pickling (to cross from a worker);
    else a RuntimeError with its text. (Dagster may attach unpicklable state to a step's exception.)"""
    for candidate in (exc, lambda: type(exc)(*exc.args)):
        try:
            copy = candidate() if callable(candidate) else candidate
            pickle.loads(pickle.dumps(copy))
        except Exception:
            continue
        return copy
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def failure_of(request: UnitRequest, exc: BaseException, step: str | None) -> StepFailedError:
    """The failure of a run as the runner reports it: the failing step and the exception raised inside it."""
    from dagster._core.errors import DagsterExecutionStepExecutionError

    if isinstance(exc, DagsterExecutionStepExecutionError):
        step, exc = exc.step_key or step, exc.user_exception or exc
    trace = "".join(traceback.format_exception(exc))
    where = f"{step} [{request.partition}]" if step and request.partition else step
    return StepFailedError(request.label, where, _portable(exc), trace)


def _failed_step(instance: dg.DagsterInstance, run_id: str | None) -> str | None:
    """The first failed step of a run, from the instance's step statistics."""
    stats = instance.get_run_step_stats(run_id) if run_id else []
    return next((s.step_key for s in stats if s.status == StepEventStatus.FAILURE), None)


def execute_unit(
    assets: Sequence[dg.AssetsDefinition], resources: Mapping[str, Any], instance: dg.DagsterInstance, request: UnitRequest
) -> UnitResult:
    """Materialize one run in this process; its peak memory is this process's peak during the run."""
    reset_peak_rss()
    try:
        result = dg.materialize(
            assets,
            selection=request.asset_keys,
            partition_key=request.partition,
            instance=instance,
            resources=dict(resources),
            tags={**request.tags, LAUNCH_TAG: request.launch},
            run_config=request.run_config,
        )
    except Exception as exc:
        run = run_of_launch(instance, request.launch)
        run_id = run.run_id if run else None
        steps = step_timings(instance, run_id, request.partition, peak_rss_mb()) if run_id else []
        return UnitResult(run_id, steps, failure_of(request, exc, _failed_step(instance, run_id)))
    return UnitResult(result.run_id, step_timings(instance, result.run_id, request.partition, peak_rss_mb()))


Runner = Callable[[UnitRequest], UnitResult]


class Target(Protocol):
    """Where a run's steps execute: ``prepare`` checks, before any run exists, that it can take the runs;
    ``runner`` is how a process holding ``instance`` executes one run there."""

    def prepare(self, units: Sequence[Unit], say: Callable[[str], None]) -> None: ...

    def runner(self, instance: dg.DagsterInstance) -> Runner: ...


@dataclass
class LocalTarget:
    """Steps execute in the process that runs the run (``dg.materialize``): nothing to check beforehand."""

    assets: Sequence[dg.AssetsDefinition]
    resources: Mapping[str, Any]

    def prepare(self, units: Sequence[Unit], say: Callable[[str], None]) -> None:
        return None

    def runner(self, instance: dg.DagsterInstance) -> Runner:
        return functools.partial(execute_unit, self.assets, self.resources, instance)


@dataclass
class DaskTarget:
    """Steps execute on the Dask cluster at ``address``: each run is the definitions' global asset job with its Dask
    executor (``L1K_EXECUTOR=dask``), launched by ``execute_job``; workers rebuild the job from its module."""

    job: Any  # dagster ReconstructableJob
    address: str
    gpu_wait_seconds: float

    def prepare(self, units: Sequence[Unit], say: Callable[[str], None]) -> None:
        """The scheduler answers, and offers a GPU worker if any run holds a GPU training (else waits, then fails)."""
        with connect(self.address) as client:
            if any(unit.gpu for unit in units):
                wait_for_gpu_worker(client, self.gpu_wait_seconds, say)

    def runner(self, instance: dg.DagsterInstance) -> Runner:
        return functools.partial(execute_job_unit, self.job, instance)


def execute_job_unit(job: Any, instance: dg.DagsterInstance, request: UnitRequest) -> UnitResult:
    """Execute one run with ``execute_job`` and the job's own executor; its memory is the executor's workers'."""
    with dg.execute_job(
        job, instance=instance, run_config=request.run_config, tags=request.run_tags(), asset_selection=request.asset_keys
    ) as result:
        steps = step_timings(instance, result.run_id, request.partition, None)
        if result.success:
            return UnitResult(result.run_id, steps)
        failures = result.get_step_failure_events()
        if failures:
            error, step = failures[0].step_failure_data.error, failures[0].step_key
        else:  # the run failed outside any step (its executor): the run failure event carries why
            ended = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
            error, step = (ended[0].event_specific_data.error if ended else None), None
        why = error.to_string().strip() if error else f"run {result.run_id} ended {result.dagster_run.status.value}"
        cause = RuntimeError(why)
        return UnitResult(result.run_id, steps, StepFailedError(request.label, step, cause))


def dask_target(instance: dg.DagsterInstance, env: Mapping[str, str]) -> DaskTarget:
    """The Dask target of ``l1k materialize``: the definitions' global asset job on the scheduler at ``L1K_DASK_ADDRESS``."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    address = env.get(ADDRESS_SETTING, "").strip()
    if not address:
        raise DaskClusterError(
            f"{ADDRESS_SETTING} (or --dask-address) is empty; expected the address of a running `dask scheduler`, "
            "e.g. tcp://127.0.0.1:8786"
        )
    if not instance.is_persistent:
        raise DaskClusterError("the Dask engine needs a persistent Dagster instance (DAGSTER_HOME with a dagster.yaml)")
    repository = ReconstructableRepository.for_module("l1k_jobs.definitions", "defs")
    return DaskTarget(repository.get_reconstructable_job(IMPLICIT_ASSET_JOB), address, gpu_wait_seconds(env))


class Engine(Protocol):
    """Starts runs: ``submit`` returns a future of the run's ``UnitResult``."""

    def submit(self, request: UnitRequest) -> Future[UnitResult]: ...


@dataclass
class _InlineEngine:
    """Runs each request here and now; the future it returns is already done."""

    run: Runner

    def submit(self, request: UnitRequest) -> Future[UnitResult]:
        future: Future[UnitResult] = Future()
        future.set_result(self.run(request))
        return future


@dataclass
class _PoolEngine:
    pool: ProcessPoolExecutor

    def submit(self, request: UnitRequest) -> Future[UnitResult]:
        return self.pool.submit(_execute_in_worker, request)


IMPLICIT_ASSET_JOB = "__ASSET_JOB"  # the job Dagster makes of every asset; a run selects some of its assets

# What a forked worker runs with: set in the parent just before the pool forks, inherited by the workers.
_WORKER: dict[str, Any] = {}


def _start_worker(threads: int) -> None:
    """In each new worker: limit BLAS/OpenMP threads, open the instance from its reference, make the runner."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    _WORKER["run"] = _WORKER["target"].runner(dg.DagsterInstance.from_ref(_WORKER["instance_ref"]))


def _execute_in_worker(request: UnitRequest) -> UnitResult:
    return _WORKER["run"](request)


def _ready() -> bool:
    return True


@contextmanager
def started(target: Target, instance: dg.DagsterInstance, workers: int, threads: int) -> Iterator[Engine]:
    """An engine running ``workers`` runs at once on ``target``: here for one, else in forked worker processes.

    Workers are forked, all of them, before this returns, so no thread of the runner (monitors)
    exists at the fork; each run is then a whole process's own, as Dagster's logging and
    execution are not thread-safe.
    """
    if workers == 1:
        yield _InlineEngine(target.runner(instance))
        return
    if not instance.is_persistent:
        raise ValueError("running several assets at once needs a persistent Dagster instance (set DAGSTER_HOME)")
    _WORKER.update(target=target, instance_ref=instance.get_ref())
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker, initargs=(threads,)
    )
    try:
        for ready in [pool.submit(_ready) for _ in range(workers)]:
            ready.result()
        yield _PoolEngine(pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()
