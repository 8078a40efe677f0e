"""Steps on a Dask cluster, GPU trainings included: l1k's Dask executor and the checks before a run.

dagster-dask's executor hands each task the run object itself; distributed walks task arguments
that look like tuples, and Dagster's run record with op concurrency (every run holding a step of
the ``gpu`` pool) refuses to be iterated, so such runs failed before any step started. This
executor hands workers the run *serialized* (Dagster's serdes), which distributed leaves alone.

The GPU limit then comes from Dask itself: a step tagged ``l1k/gpu`` asks for the worker resource
``GPU`` (``resources={"GPU": 1}``), which only workers started with ``--resources GPU=1`` offer,
one task per unit at a time. So GPU trainings run only on GPU workers and never two at once on
one GPU, whichever run they belong to. Task keys carry the run id, so concurrent runs of the same
job on one scheduler never share a task.

Before anything is submitted, ``check_cluster`` makes sure the scheduler answers and, when GPU
steps are planned, that a GPU worker is there (waiting for one to join, with a message, up to a
timeout). Both failures are ``DaskClusterError``s naming the setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.execution.retries import RetryMode

from l1k_assets.errors import L1kError
from l1k_jobs.plan import GPU_TAG

GPU_RESOURCE = "GPU"
ADDRESS_SETTING = "L1K_DASK_ADDRESS"
GPU_WAIT_SETTING = "L1K_DASK_GPU_WAIT"
DEFAULT_GPU_WAIT_SECONDS = 300.0
CONNECT_TIMEOUT_SECONDS = 10.0


class DaskClusterError(L1kError):
    """The Dask cluster cannot take the run: its scheduler does not answer, or no worker offers a GPU."""


def step_resources(tags: Mapping[str, Any]) -> dict[str, float]:
    """The Dask worker resources a step asks for: one ``GPU`` for a step tagged ``l1k/gpu``."""
    return {GPU_RESOURCE: float(tags[GPU_TAG])} if GPU_TAG in tags else {}


def gpu_workers(client: Any) -> list[str]:
    """Addresses of the workers that offer the ``GPU`` resource."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sorted(address for address, info in workers.items() if info.get("resources", {}).get(GPU_RESOURCE, 0) >= 1)


def connect(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Any:
    """A ``distributed.Client`` on the scheduler at ``address``, or a ``DaskClusterError`` if it does not answer in time."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskClusterError(
            f"{ADDRESS_SETTING}={address!r}: no Dask scheduler answered within {timeout:g} s ({exc}); "
            "expected the address of a running `dask scheduler`, e.g. tcp://127.0.0.1:8786"
        ) from None


def wait_for_gpu_worker(client: Any, wait_seconds: float, say: Callable[[str], None], poll_seconds: float = 2.0) -> list[str]:
    """The GPU workers, waiting up to ``wait_seconds`` for one to join (saying so), else a ``DaskClusterError``."""
    deadline = time.monotonic() + wait_seconds
    told = False
    while not (found := gpu_workers(client)):
        left = deadline - time.monotonic()
        if left <= 0:
            raise DaskClusterError(
                f"no Dask worker offers the resource {GPU_RESOURCE} after {wait_seconds:g} s ({GPU_WAIT_SETTING}); "
                f"GPU trainings need one: start it with `dask worker {client.scheduler.address} --resources {GPU_RESOURCE}=1`"
            )
        if not told:
            say(f"waiting up to {left:.0f} s for a Dask worker with `--resources {GPU_RESOURCE}=1` (GPU trainings need one)")
            told = True
        time.sleep(min(poll_seconds, left))
    return found


def _run_step(
    upstream: Sequence[Any], job: Any, run_blob: str, run_config: Mapping[str, Any], step_key: str, instance_ref: Any
) -> list[dg.DagsterEvent]:
    """On a worker: execute one step of the run (``upstream`` only makes Dask wait for the steps it reads)."""
    from dagster._core.execution.api import create_execution_plan, execute_plan
    from dagster._serdes import deserialize_value

    run = deserialize_value(run_blob, dg.DagsterRun)
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        subset = job.get_subset(op_selection=run.resolved_op_selection)
        plan = create_execution_plan(subset, run_config=run_config, step_keys_to_execute=[step_key])
        return list(execute_plan(plan, subset, instance, run, run_config=run_config))


class L1kDaskExecutor(dg.Executor):
    """Each step of a run is one Dask task on the scheduler at ``address`` (or a local cluster of ``local_workers``)."""

    def __init__(self, address: str, local_workers: int, gpu_wait_seconds: float) -> None:
        self.address, self.local_workers, self.gpu_wait_seconds = address, local_workers, gpu_wait_seconds

    @property
    def retries(self) -> RetryMode:
        return RetryMode.DISABLED  # a failed step fails its run; Dask does not re-run it

    def _client(self) -> Any:
        if self.address:
            return connect(self.address)
        from distributed import Client, LocalCluster

        return Client(LocalCluster(n_workers=self.local_workers, threads_per_worker=1))  # Dagster steps are not thread-safe

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[dg.DagsterEvent]:
        from dagster._serdes import serialize_value
        from distributed import as_completed

        if not plan_context.instance.is_persistent:
            raise DaskClusterError("the Dask executor needs a persistent Dagster instance (DAGSTER_HOME with a dagster.yaml)")
        steps = execution_plan.get_steps_to_execute_in_topo_order()
        run = plan_context.dagster_run
        with self._client() as client:
            if any(GPU_TAG in step.tags for step in steps):
                notes: list[str] = []
                workers = wait_for_gpu_worker(client, self.gpu_wait_seconds, notes.append)
                for note in [*notes, f"GPU steps go to {', '.join(workers)}"]:
                    yield dg.DagsterEvent.engine_event(plan_context, note, EngineEventData())
            run_blob = serialize_value(run)
            futures: dict[str, Any] = {}
            for step in steps:
                upstream = [futures[key] for put in step.step_inputs for key in put.dependency_keys if key in futures]
                futures[step.key] = client.submit(
                    _run_step,
                    upstream,
                    plan_context.reconstructable_job,
                    run_blob,
                    plan_context.run_config,
                    step.key,
                    plan_context.instance.get_ref(),
                    key=f"{run.run_id}.{step.key}",
                    resources=step_resources(step.tags),
                    pure=False,
                )
            for _future, events in as_completed(list(futures.values()), with_results=True):
                yield from events


@dg.executor(
    name="l1k_dask",
    config_schema={
        "address": dg.Field(str, default_value="", description="scheduler address; empty starts a local cluster per run"),
        "local_workers": dg.Field(int, default_value=2, description="workers of that local cluster"),
        "gpu_wait_seconds": dg.Field(float, default_value=DEFAULT_GPU_WAIT_SECONDS, description="wait for a GPU worker"),
    },
)
def l1k_dask_executor(init_context: dg.InitExecutorContext) -> L1kDaskExecutor:
    """Dask executor whose GPU steps ask workers for the ``GPU`` resource (see the module docstring)."""
    config = init_context.executor_config
    return L1kDaskExecutor(config["address"], config["local_workers"], config["gpu_wait_seconds"])
