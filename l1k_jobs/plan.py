"""What ``l1k materialize`` runs and in which order: runs of assets that can go side by side.

A Dagster asset job cannot mix partitions definitions, and l1k has several (cohorts, LINCS
releases, model kinds, unpartitioned references), so one materialization is many runs. The plan
has two levels:

- a *stage* is a set of assets sharing one partitions definition whose upstreams are in earlier
  stages (``plan_stages``);
- a *unit* is one run: a connected part of a stage, for one partition key (``plan_units``).
  A unit waits for the units holding its assets' upstreams: the same partition when both share
  the partitions definition (Dagster's identity mapping, the only one l1k uses), every partition
  otherwise.

Splitting stages into connected parts and partitions is what lets independent work (thirteen GEO
cohorts, five inference models, four CSG2A split schemes, the landmark selectors beside the
single-cell datasets) run at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from l1k_assets.partitions import GPU_TAGS, release_partitions

GPU_TAG = next(iter(GPU_TAGS))  # "l1k/gpu": the op tag that marks a GPU training


@dataclass
class Stage:
    """Assets that materialize together, once per partition key."""

    partitions_def: dg.PartitionsDefinition | None
    keys: list[dg.AssetKey]


@dataclass
class Unit:
    """One run: some assets of one stage for one partition key, and the units it must wait for."""

    index: int
    stage: Stage
    keys: list[dg.AssetKey]
    partition: str | None
    after: set[int] = field(default_factory=set)
    gpu: bool = False  # holds a GPU training (op tag ``l1k/gpu``)

    @property
    def names(self) -> list[str]:
        return [k.to_user_string() for k in self.keys]

    @property
    def label(self) -> str:
        """How progress lines name the unit: its assets, and the partition in brackets."""
        names = ", ".join(self.names)
        return f"{names} [{self.partition}]" if self.partition else names


def _owners(assets: Sequence[dg.AssetsDefinition], only: set[dg.AssetKey] | None) -> dict[dg.AssetKey, dg.AssetsDefinition]:
    return {key: a for a in assets for key in a.keys if only is None or key in only}


def _upstreams(owner: dict[dg.AssetKey, dg.AssetsDefinition]) -> dict[dg.AssetKey, set[dg.AssetKey]]:
    return {key: {d for d in owner[key].asset_deps[key] if d in owner} for key in owner}


def plan_stages(assets: Sequence[dg.AssetsDefinition], only: set[dg.AssetKey] | None = None) -> list[Stage]:
    """Group assets (those in ``only``, if given) into dependency-ordered stages of one partitions definition each."""
    owner = _owners(assets, only)
    deps = _upstreams(owner)
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


def _connected_parts(keys: list[dg.AssetKey], deps: dict[dg.AssetKey, set[dg.AssetKey]]) -> list[list[dg.AssetKey]]:
    """The stage's assets split where no dependency joins them, each part in the stage's (topological) order."""
    root = {k: k for k in keys}

    def find(k: dg.AssetKey) -> dg.AssetKey:
        while root[k] != k:
            k = root[k]
        return k

    for k in keys:
        for d in deps[k]:
            if d in root:
                root[find(d)] = find(k)
    parts: dict[dg.AssetKey, list[dg.AssetKey]] = {}
    for k in keys:
        parts.setdefault(find(k), []).append(k)
    return list(parts.values())


def plan_units(
    assets: Sequence[dg.AssetsDefinition],
    instance: dg.DagsterInstance,
    only: set[dg.AssetKey] | None = None,
    releases: Sequence[str] | None = None,
) -> list[Unit]:
    """Every run of the materialization, in an order that runs them one at a time correctly, with their waits."""
    owner = _owners(assets, only)
    deps = _upstreams(owner)
    units: list[Unit] = []
    holder: dict[tuple[dg.AssetKey, str | None], int] = {}  # (asset, partition) → the unit that runs it
    partitions_of: dict[dg.AssetKey, list[str | None]] = {}
    for stage in plan_stages(assets, only):
        keys = partition_keys(stage.partitions_def, instance, releases)
        for part in _connected_parts(stage.keys, deps):
            for key in keys:
                unit = Unit(len(units), stage, part, key, gpu=any(GPU_TAG in owner[k].node_def.tags for k in part))
                for asset in part:
                    for up in deps[asset] - set(part):
                        shared = owner[up].partitions_def == stage.partitions_def and key is not None
                        unit.after |= {holder[(up, key)]} if shared else {holder[(up, p)] for p in partitions_of[up]}
                units.append(unit)
                holder.update({(asset, key): unit.index for asset in part})
        partitions_of.update({asset: keys for asset in stage.keys})
    return units
