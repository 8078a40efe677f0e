"""Materialize every asset in dependency order, one run per partition of each partition scheme.

A Dagster asset job cannot mix partitions definitions, and l1k has several (cohorts, LINCS
releases, unpartitioned references), so the main command plans stages: each stage is a set of
assets sharing one partitions definition whose upstreams are already materialized, and runs
once per partition key. Runs go to the given instance, so they show up in the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from l1k_assets.errors import DataError
from l1k_assets.partitions import release_partitions
from l1k_jobs.monitor import LAUNCH_TAG, RunMonitor, StepTiming, new_launch_id, peak_rss_mb, reset_peak_rss, step_timings


@dataclass
class Stage:
    """Assets that materialize together, once per partition key."""

    partitions_def: dg.PartitionsDefinition | None
    keys: list[dg.AssetKey]


def plan_stages(assets: Sequence[dg.AssetsDefinition], only: set[dg.AssetKey] | None = None) -> list[Stage]:
    """Group assets (those in ``only``, if given) into dependency-ordered stages of one partitions definition each."""
    owner = {key: a for a in assets for key in a.keys if only is None or key in only}
    deps = {key: {d for d in owner[key].asset_deps[key] if d in owner} for key in owner}
    done: set[dg.AssetKey] = set()
    remaining = list(owner)
    stages: list[Stage] = []
    while remaining:
        ready = [k for k in remaining if deps[k] <= done]
        if not ready:
            raise RuntimeError(f"dependency cycle among {remaining}")
        pdef = owner[ready[0]].partitions_def
        stage: list[dg.AssetKey] = []
        grew = True
        while grew:
            grew = False
            for k in remaining:
                if k not in stage and owner[k].partitions_def == pdef and deps[k] <= done | set(stage):
                    stage.append(k)
                    grew = True
        stages.append(Stage(pdef, stage))
        done |= set(stage)
        remaining = [k for k in remaining if k not in done]
    return stages


def partition_keys(
    pdef: dg.PartitionsDefinition | None, instance: dg.DagsterInstance, releases: Sequence[str] | None = None
) -> list[str | None]:
    """The partition keys to run for a stage (``[None]`` for an unpartitioned stage); ``releases`` limits release stages."""
    if pdef is None:
        return [None]
    if isinstance(pdef, dg.DynamicPartitionsDefinition):
        keys = list(instance.get_dynamic_partitions(pdef.name))
        return [k for k in keys if k in releases] if releases and pdef.name == release_partitions.name else keys
    return list(pdef.get_partition_keys())


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


def materialize_all(
    assets: Sequence[dg.AssetsDefinition],
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    on_run: Callable[[Stage, str | None, dg.ExecuteInProcessResult, list[StepTiming]], None] | None = None,
    log_level: str = "WARNING",
    selection: str | None = None,
    emit: Callable[[str], None] | None = None,
    releases: Sequence[str] | None = None,
    asset_config: Mapping[str, dict[str, Any]] | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Run every stage for every partition; stop at the first failed run (its error propagates).

    ``emit`` receives live progress lines (step start and end, the assets' progress reports,
    heartbeats); ``on_run`` each finished run with its steps' seconds and the run's peak memory.

    ``selection`` (Dagster's asset selection syntax, e.g. ``+key:model_indication_classifier``
    for an asset and everything upstream of it) limits the run to part of the graph, and
    ``releases`` the LINCS release partitions run (unpartitioned stages still run once).
    ``asset_config`` (``read_asset_config``) sets assets' config as the launchpad would; each
    stage's run gets the entries of its own assets.

    The console shows events at ``log_level`` and above; every event is still recorded in the
    instance, so the UI has the full log.
    """
    results = []
    only = resolve_selection(assets, resources, selection) if selection else None
    asset_config = asset_config or {}
    for stage in plan_stages(assets, only):
        names = [k.to_user_string() for k in stage.keys]
        ops = {name: {"config": asset_config[name]} for name in names if name in asset_config}
        for key in partition_keys(stage.partitions_def, instance, releases):
            launch = new_launch_id()
            label = f"[{key}]" if key else ""
            reset_peak_rss()
            monitor = RunMonitor(instance, launch, label, emit or (lambda _line: None))
            with monitor.following():
                result = dg.materialize(
                    assets,
                    selection=stage.keys,
                    partition_key=key,
                    instance=instance,
                    resources=resources,
                    tags={"l1k/runner": "main", LAUNCH_TAG: launch},
                    run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, "ops": ops},
                )
            if on_run is not None:
                on_run(stage, key, result, step_timings(instance, result.run_id, key, peak_rss_mb()))
            results.append(result)
    return results
