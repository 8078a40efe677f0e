"""How many runs ``l1k materialize`` keeps going at once, and how many threads each may use.

The default is one run per core, bounded by memory: each concurrent run is budgeted
``RUN_MEMORY_GIB``, the main job's measured peak for one process at the default scale (2.8 GB,
``benchmarks/main_job.py``) rounded up, and the machine's available memory (``MemAvailable``)
must hold them all. A request the machine cannot hold is refused before anything runs, naming the
setting, rather than letting the kernel's OOM killer end a run half way.

Each run then gets ``cores // runs`` (at least one) BLAS/OpenMP threads, so concurrent NumPy and
scikit-learn work does not oversubscribe the cores; torch keeps ``L1K_THREADS`` (default 1).
"""

from __future__ import annotations

import os
from pathlib import Path

from l1k_assets.errors import L1kError

RUN_MEMORY_GIB = 3.0
MAX_CONCURRENT_OPTION = "--max-concurrent"


class ConcurrencyError(L1kError):
    """A ``--max-concurrent`` this machine cannot honour."""


def usable_cores() -> int:
    """Cores this process may run on (its affinity, which containers and ``taskset`` narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def available_memory_gib(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """``MemAvailable`` in GiB (what can be allocated without swapping), or None where the kernel does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_max_concurrent(cores: int | None = None, memory_gib: float | None = None) -> int:
    """One run per core, but no more than available memory holds at ``RUN_MEMORY_GIB`` each (and at least one)."""
    cores = usable_cores() if cores is None else cores
    memory_gib = available_memory_gib() if memory_gib is None else memory_gib
    by_memory = cores if memory_gib is None else int(memory_gib // RUN_MEMORY_GIB)
    return max(1, min(cores, by_memory))


def check_max_concurrent(requested: int | None, memory_gib: float | None = None) -> int:
    """The number of concurrent runs to use: the default when None, else ``requested`` if it is at least 1 and fits in memory."""
    memory_gib = available_memory_gib() if memory_gib is None else memory_gib
    if requested is None:
        return default_max_concurrent(memory_gib=memory_gib)
    if requested < 1:
        raise ConcurrencyError(f"{MAX_CONCURRENT_OPTION} must be at least 1 (one run at a time), got {requested}")
    if memory_gib is not None and requested * RUN_MEMORY_GIB > memory_gib:
        fits = max(1, int(memory_gib // RUN_MEMORY_GIB))
        raise ConcurrencyError(
            f"{MAX_CONCURRENT_OPTION} {requested} needs about {requested * RUN_MEMORY_GIB:g} GiB "
            f"({RUN_MEMORY_GIB:g} GiB per run), but this machine has {memory_gib:.1f} GiB available; "
            f"use at most {fits}"
        )
    return requested


def blas_threads(runs: int, cores: int | None = None) -> int:
    """BLAS/OpenMP threads per run so that ``runs`` concurrent runs share the cores without oversubscribing them."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, runs))
