"""How steps run is configuration, not code: one executor chosen from environment variables.

The same definitions run on a laptop (several processes), in a debugger (one process) and on a
Dask cluster, so the choice is read from ``L1K_EXECUTOR`` when the definitions load and turned
into a ``.configured(...)`` executor definition. A typo fails loudly at load time, naming the
variable and what it accepts, instead of silently falling back to a different executor.

GPU-bound training assets carry ``l1k_assets.partitions.GPU_TAGS`` and ``pool=GPU_POOL`` so that one GPU is never
shared by two trainings (Dagster's concurrency pool, limit 1; on Dask, the worker resource
``GPU``) and so that dagster-k8s schedules their step pods on a node with a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

EXECUTOR_ENV = "L1K_EXECUTOR"
MAX_CONCURRENT_ENV = "L1K_MAX_CONCURRENT"
DASK_ADDRESS_ENV = "L1K_DASK_ADDRESS"
DASK_WORKERS_ENV = "L1K_DASK_WORKERS"
EXECUTORS = ("in_process", "multiprocess", "dask", "k8s")
DEFAULT_EXECUTOR = "multiprocess"
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_DASK_WORKERS = 2


def _setting(env: Mapping[str, str], name: str) -> str:
    """A variable's value; empty counts as unset, as an empty ``export`` usually means "default"."""
    return env.get(name, "").strip()


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer setting, or a ValueError that names the variable and the bad value."""
    raw = _setting(env, name)
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds, or a ValueError that names the variable and the bad value."""
    raw = _setting(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def gpu_wait_seconds(env: Mapping[str, str]) -> float:
    """``L1K_DASK_GPU_WAIT``: how long a run with GPU steps waits for a Dask worker offering ``GPU``."""
    from l1k_jobs.dask_cluster import DEFAULT_GPU_WAIT_SECONDS, GPU_WAIT_SETTING

    return _positive_float(env, GPU_WAIT_SETTING, DEFAULT_GPU_WAIT_SECONDS)


def _dask_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    """l1k's Dask executor (``l1k_jobs.dask_cluster``) on an existing scheduler, or on a local cluster started per run."""
    from l1k_jobs.dask_cluster import l1k_dask_executor

    return l1k_dask_executor.configured(
        {
            "address": _setting(env, DASK_ADDRESS_ENV),
            "local_workers": _positive_int(env, DASK_WORKERS_ENV, DEFAULT_DASK_WORKERS),
            "gpu_wait_seconds": gpu_wait_seconds(env),
        }
    )


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor named by ``L1K_EXECUTOR`` (``os.environ`` by default), configured from its variables.

    ``multiprocess`` (default) runs each step in its own process, at most ``L1K_MAX_CONCURRENT``
    (default 2) at a time; ``in_process`` runs everything in the run's process; ``dask`` sends
    steps to the scheduler at ``L1K_DASK_ADDRESS``, or without it to a local cluster of
    ``L1K_DASK_WORKERS`` (default 2) workers, GPU steps only to workers offering ``GPU`` and
    waiting up to ``L1K_DASK_GPU_WAIT`` seconds for one.
    """
    env = os.environ if env is None else env
    name = (_setting(env, EXECUTOR_ENV) or DEFAULT_EXECUTOR).lower()
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        max_concurrent = _positive_int(env, MAX_CONCURRENT_ENV, DEFAULT_MAX_CONCURRENT)
        return dg.multiprocess_executor.configured({"max_concurrent": max_concurrent})
    if name == "dask":
        return _dask_executor(env)
    if name == "k8s":
        from l1k_jobs.k8s import k8s_executor

        return k8s_executor(env)
    raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}; got {env[EXECUTOR_ENV]!r}")
