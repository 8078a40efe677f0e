"""Materialize every asset in dependency order, running independent runs side by side.

``l1k_jobs.plan`` cuts the asset graph into runs (one per connected part of a stage and
partition key) with the runs each must wait for; this module starts them as they become ready,
at most ``max_concurrent`` at once, on an engine (``l1k_jobs.engines``), longest chain of waiting
runs first, and follows each with a ``RunMonitor``. Runs go to the given instance, so they show up
in the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from l1k_assets.errors import DataError
from l1k_jobs.concurrency import blas_threads
from l1k_jobs.engines import (
    Engine,
    LocalTarget,
    StepFailedError,
    Target,
    UnitRequest,
    UnitResult,
    WorkerDiedError,
    fail_abandoned_run,
    result_of,
    started,
)
from l1k_jobs.monitor import RunMonitor, StepTiming, new_launch_id
from l1k_jobs.plan import Unit, plan_units


class SelectionError(DataError):
    """An asset selection that does not parse, or names no asset."""


def resolve_selection(assets: Sequence[dg.AssetsDefinition], resources: dict[str, Any], selection: str) -> set[dg.AssetKey]:
    """The asset keys a Dagster selection string names; a typo that names nothing is an error, not an empty run."""
    graph = dg.Definitions(assets=assets, resources=resources).resolve_asset_graph()
    try:
        keys = set(dg.AssetSelection.from_string(selection).resolve(graph))
    except dg.DagsterError as exc:
        raise SelectionError(f"--select {selection!r} is not a valid asset selection: {exc}") from exc
    if not keys:
        raise SelectionError(f"--select {selection!r} matches no asset (asset keys look like key:out_compound_scores)")
    return keys


class RunConfigError(DataError):
    """A ``--config`` file that is not YAML, not shaped like Dagster's run config, or configures no asset."""


def read_asset_config(path: Path, assets: Sequence[dg.AssetsDefinition]) -> dict[str, dict[str, Any]]:
    """Asset name → its ``config`` from a YAML run config (``ops: {asset: {config: {...}}}``, the launchpad's shape).

    Values are checked by Dagster when the asset's run starts; names that are no asset are
    refused here, before anything runs.
    """
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunConfigError(f"{path}: not a readable YAML run config: {exc}") from None
    ops = body.get("ops") if isinstance(body, dict) else None
    if not isinstance(ops, dict) or set(body) != {"ops"}:
        raise RunConfigError(f"{path}: expected one top-level key 'ops' mapping asset names to {{config: ...}}")
    names = {key.to_user_string() for asset in assets for key in asset.keys}
    unknown = sorted(set(ops) - names)
    if unknown:
        raise RunConfigError(f"{path}: {', '.join(unknown)} is not an asset (asset names look like model_csg2a_finetuned)")
    bad = sorted(name for name, entry in ops.items() if not isinstance(entry, dict) or set(entry) != {"config"})
    if bad:
        raise RunConfigError(f"{path}: ops.{bad[0]} must hold exactly one key, 'config'")
    return {name: entry["config"] for name, entry in ops.items()}


@dataclass
class RunOutcome:
    """A finished run of the materialization: which assets and partition, its run id and its steps' timings."""

    unit: Unit
    run_id: str | None
    steps: list[StepTiming]


def _chain_lengths(units: Sequence[Unit]) -> list[int]:
    """For each run, the most runs on one path from it to the end: what to start first when several are ready."""
    waiting: dict[int, list[int]] = {u.index: [] for u in units}
    for unit in units:
        for before in unit.after:
            waiting[before].append(unit.index)
    length = [1] * len(units)
    for unit in reversed(units):  # plan order is topological
        length[unit.index] = 1 + max((length[w] for w in waiting[unit.index]), default=0)
    return length


def _request(unit: Unit, log_level: str, asset_config: Mapping[str, dict[str, Any]]) -> UnitRequest:
    ops = {name: {"config": asset_config[name]} for name in unit.names if name in asset_config}
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}, "ops": ops}
    return UnitRequest(unit.label, unit.names, unit.partition, new_launch_id(), run_config, {"l1k/runner": "main"})


def run_units(
    units: Sequence[Unit],
    engine: Engine,
    instance: dg.DagsterInstance,
    max_concurrent: int,
    emit: Callable[[str], None],
    on_run: Callable[[RunOutcome], None],
    log_level: str = "WARNING",
    asset_config: Mapping[str, dict[str, Any]] | None = None,
) -> list[RunOutcome]:
    """Start each run once the runs it waits for succeeded, at most ``max_concurrent`` at once.

    After a failure no new run starts; the runs already going finish (their work is kept), then
    the first failure is raised as a ``StepFailedError``.
    """
    chain = _chain_lengths(units)
    pending = {u.index: u for u in units}
    succeeded: set[int] = set()
    running: dict[Future[UnitResult], tuple[Unit, RunMonitor]] = {}
    outcomes: list[RunOutcome] = []
    failure: StepFailedError | None = None
    while pending or running:
        ready = sorted((u for u in pending.values() if u.after <= succeeded), key=lambda u: (-chain[u.index], u.index))
        for unit in ready[: max(0, max_concurrent - len(running))] if failure is None else []:
            del pending[unit.index]
            request = _request(unit, log_level, asset_config or {})
            monitor = RunMonitor(instance, request.launch, f"[{unit.partition}]" if unit.partition else "", emit)
            monitor.start()
            running[engine.submit(request)] = (unit, monitor)
        if not running:
            break
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            unit, monitor = running.pop(future)
            monitor.stop()
            result = result_of(future, unit.label)
            if result.failure is not None and isinstance(result.failure.cause, WorkerDiedError):
                fail_abandoned_run(instance, monitor.launch_id, str(result.failure.cause))
            if result.failure is not None:
                failure = failure or result.failure
                continue
            succeeded.add(unit.index)
            outcomes.append(RunOutcome(unit, result.run_id, result.steps))
            on_run(outcomes[-1])
    if failure is not None:
        raise failure
    return outcomes


def materialize_all(
    assets: Sequence[dg.AssetsDefinition],
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    on_run: Callable[[RunOutcome], None] | None = None,
    log_level: str = "WARNING",
    selection: str | None = None,
    emit: Callable[[str], None] | None = None,
    releases: Sequence[str] | None = None,
    asset_config: Mapping[str, dict[str, Any]] | None = None,
    max_concurrent: int = 1,
    target: Target | None = None,
) -> list[RunOutcome]:
    """Run every asset for every partition, ``max_concurrent`` runs at a time; the first failed run's error propagates.

    ``emit`` receives live progress lines (step start and end, the assets' progress reports,
    heartbeats), each naming its asset and partition; ``on_run`` each finished run with its
    steps' seconds and peak memory.

    ``selection`` (Dagster's asset selection syntax, e.g. ``+key:model_indication_classifier``
    for an asset and everything upstream of it) limits the run to part of the graph, and
    ``releases`` the LINCS release partitions run (unpartitioned stages still run once).
    ``asset_config`` (``read_asset_config``) sets assets' config as the launchpad would; each
    run gets the entries of its own assets.

    Runs execute in this process when ``max_concurrent`` is 1 and in that many forked worker
    processes otherwise, each with ``cores // max_concurrent`` BLAS threads; their steps run there
    too, or on ``target`` if given (``l1k_jobs.engines.DaskTarget``), which first checks that it
    can take them, before any run is recorded. The console shows events at ``log_level`` and
    above; every event is still recorded in the instance, so the UI has the full log.
    """
    only = resolve_selection(assets, resources, selection) if selection else None
    units = plan_units(assets, instance, only, releases)

    target = target or LocalTarget(assets, resources)
    quiet = emit or (lambda _line: None)
    with started(target, instance, max_concurrent, blas_threads(max_concurrent)) as engine:
        target.prepare(units, quiet)
        return run_units(units, engine, instance, max_concurrent, quiet, on_run or (lambda _o: None), log_level, asset_config)
