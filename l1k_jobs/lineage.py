"""Lineage audit: from any materialization back to the raw files it was computed from.

Dagster records, on each materialization, a pointer to the exact upstream materialization
each input was loaded from (``dagster/input_event_pointer/<asset>``). The walk follows those
pointers; where there is none, or it names another partition than the one the child read
(Dagster keeps one pointer per parent key, to its latest materialization), it takes the latest upstream materialization
recorded before the child's, per relevant partition. Each node carries what produced it:
code and data versions, run id, source URLs and sha256 of raw files, table checksums, and
the MLflow run of models.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

INPUT_POINTER = "dagster/input_event_pointer/"
AUDIT_FIELDS = ("source_urls", "source_sha256", "table_sha256", "path", "mlflow_run_id", "checkpoint_sha256", "code_version")


@dataclass
class LineageNode:
    """One materialization in the chain."""

    asset: str
    partition: str | None
    storage_id: int
    run_id: str
    timestamp: float
    code_version: str
    data_version: str
    audit: dict[str, Any] = field(default_factory=dict)
    parents: list[LineageNode] = field(default_factory=list)

    def walk(self) -> list[LineageNode]:
        """This node and every ancestor, each materialization once, parents after children."""
        seen: dict[int, LineageNode] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if node.storage_id in seen:
                continue
            seen[node.storage_id] = node
            stack.extend(reversed(node.parents))
        return list(seen.values())


class LineageError(LookupError):
    """The asking asset or partition has never been materialized."""


def _record(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, before: int | None
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None, before_storage_id=before),
        limit=1,
        ascending=False,
    ).records
    return records[0] if records else None


def _by_id(instance: dg.DagsterInstance, key: dg.AssetKey, storage_id: int) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, storage_ids=[storage_id]), limit=1).records
    return records[0] if records else None


def _audit(materialization: dg.AssetMaterialization) -> dict[str, Any]:
    out = {}
    for name in AUDIT_FIELDS:
        if name in materialization.metadata:
            out[name] = materialization.metadata[name].value
    return out


def _parent_partitions(
    graph: Any, parent: dg.AssetKey, child: dg.AssetKey, partition: str | None, instance: dg.DagsterInstance
) -> list[str | None]:
    parent_def = graph.get(parent).partitions_def
    if parent_def is None:
        return [None]
    if graph.get(child).partitions_def == parent_def and partition is not None:
        return [partition]
    return sorted(instance.get_materialized_partitions(parent))


def trace(graph: Any, instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> LineageNode:
    """The lineage tree of the latest materialization of ``asset`` (``partition``).

    ``graph`` is the asset graph, ``Definitions.resolve_asset_graph()``: the whole graph, never
    a run's job graph, which holds only the assets that run selected.
    """
    key = dg.AssetKey.from_user_string(asset)
    if not graph.has(key):
        raise LineageError(f"{asset!r} is not an asset of these definitions")
    record = _record(instance, key, partition, None)
    if record is None:
        raise LineageError(f"{asset}{f'[{partition}]' if partition else ''} has never been materialized")
    cache: dict[int, LineageNode] = {}
    return _node(graph, instance, key, partition, record, cache)


def _node(
    graph: Any, instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, record: dg.EventLogRecord, cache: dict
) -> LineageNode:
    if record.storage_id in cache:
        return cache[record.storage_id]
    mat = record.event_log_entry.asset_materialization
    tags = mat.tags or {}
    node = LineageNode(
        asset=key.to_user_string(),
        partition=mat.partition,
        storage_id=record.storage_id,
        run_id=record.run_id,
        timestamp=record.timestamp,
        code_version=tags.get("dagster/code_version", ""),
        data_version=tags.get("dagster/data_version", ""),
        audit=_audit(mat),
    )
    cache[record.storage_id] = node
    for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
        pointer = tags.get(INPUT_POINTER + parent.to_user_string())
        partitions = _parent_partitions(graph, parent, key, mat.partition, instance)
        found: list[tuple[dg.EventLogRecord, str | None]] = []
        if pointer and len(partitions) == 1:
            # Dagster points at the parent key's latest materialization, whatever its partition,
            # so the pointer is used only when it names the partition this child read.
            hit = _by_id(instance, parent, int(pointer))
            if hit is not None and hit.event_log_entry.asset_materialization.partition == partitions[0]:
                found.append((hit, partitions[0]))
        if not found:
            for p in partitions:
                hit = _record(instance, parent, p, record.storage_id)
                if hit is not None:
                    found.append((hit, p))
        node.parents.extend(_node(graph, instance, parent, p, hit, cache) for hit, p in found)
    return node


def to_json(root: LineageNode) -> dict[str, Any]:
    """Flat JSON: the root and every node with its parents' storage ids."""
    nodes = []
    for node in root.walk():
        item = asdict(node)
        item["parents"] = [p.storage_id for p in node.parents]
        nodes.append(item)
    return {"root": root.storage_id, "asset": root.asset, "partition": root.partition, "nodes": nodes}


def to_markdown(root: LineageNode) -> str:
    """An indented tree, each node once; raw files listed with URL and sha256."""
    lines = [f"# Lineage of {root.asset}{f'[{root.partition}]' if root.partition else ''}", ""]
    printed: set[int] = set()

    def visit(node: LineageNode, depth: int) -> None:
        label = f"{node.asset}{f'[{node.partition}]' if node.partition else ''}"
        if node.storage_id in printed:
            lines.append(f"{'  ' * depth}- {label} (see above)")
            return
        printed.add(node.storage_id)
        detail = f"run {node.run_id[:8]}, code v{node.code_version}, data {node.data_version[:12]}"
        if node.audit.get("mlflow_run_id"):
            detail += f", MLflow run {node.audit['mlflow_run_id']}"
        lines.append(f"{'  ' * depth}- **{label}** ({detail})")
        urls, digests = node.audit.get("source_urls", {}), node.audit.get("source_sha256", {})
        for role, url in sorted(urls.items()):
            lines.append(f"{'  ' * (depth + 1)}- `{role}`: {url} sha256 `{digests.get(role, '?')}`")
        for parent in node.parents:
            visit(parent, depth + 1)

    visit(root, 0)
    return "\n".join(lines) + "\n"


def raw_files(root: LineageNode) -> list[dict[str, str]]:
    """Every raw file the chain rests on: asset, partition, role, URL, sha256."""
    rows = []
    for node in root.walk():
        urls, digests = node.audit.get("source_urls", {}), node.audit.get("source_sha256", {})
        for role, url in urls.items():
            rows.append(
                {
                    "asset": node.asset,
                    "partition": node.partition or "",
                    "role": role,
                    "url": url,
                    "sha256": digests.get(role, ""),
                }
            )
    return rows


def dumps(root: LineageNode) -> str:
    """JSON text of the lineage."""
    return json.dumps(to_json(root), indent=1, default=str)
