"""How steps run is configuration, not code: one executor chosen from environment variables.

The same definitions run on a laptop (several processes), in a debugger (one process) and on a
Dask cluster, so the choice is read from ``L1K_EXECUTOR`` when the definitions load and turned
into a ``.configured(...)`` executor definition. A typo fails loudly at load time, naming the
variable and what it accepts, instead of silently falling back to a different executor.

GPU-bound training assets carry ``l1k_assets.partitions.GPU_TAGS`` and ``pool=GPU_POOL`` so that one GPU is never
shared by two trainings (Dagster's concurrency pool, limit 1) and so that dagster-k8s schedules
their step pods on a node with a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

EXECUTOR_ENV = "L1K_EXECUTOR"
MAX_CONCURRENT_ENV = "L1K_MAX_CONCURRENT"
DASK_ADDRESS_ENV = "L1K_DASK_ADDRESS"
DASK_WORKERS_ENV = "L1K_DASK_WORKERS"
EXECUTORS = ("in_process", "multiprocess", "dask")
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


def _dask_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    """The Dask executor on an existing scheduler, or on a local cluster started per run.

    dagster-dask (and distributed) load only when Dask is chosen: most runs never need them.
    """
    from dagster_dask import dask_executor

    address = _setting(env, DASK_ADDRESS_ENV)
    if address:
        cluster: dict[str, Any] = {"existing": {"address": address}}
    else:
        cluster = {"local": {"n_workers": _positive_int(env, DASK_WORKERS_ENV, DEFAULT_DASK_WORKERS)}}
    return dask_executor.configured({"cluster": cluster})


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor named by ``L1K_EXECUTOR`` (``os.environ`` by default), configured from its variables.

    ``multiprocess`` (default) runs each step in its own process, at most ``L1K_MAX_CONCURRENT``
    (default 2) at a time; ``in_process`` runs everything in the run's process; ``dask`` sends
    steps to the scheduler at ``L1K_DASK_ADDRESS``, or without it to a local cluster of
    ``L1K_DASK_WORKERS`` (default 2) workers.
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
    raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}; got {env[EXECUTOR_ENV]!r}")
