"""The shape of the asset graph as plain data: what the snapshot test compares, so a graph change is reviewed.

Every asset's key, group, upstream keys, partitions, code version, checks, automation
condition, pools, kinds, tags and op tags (the GPU request), as JSON-ready values (DAGSTER's objects reduced to what
identifies them), in key order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg

from l1k_assets.errors import DataError


def _partitions(pdef: dg.PartitionsDefinition | None) -> Any:
    if pdef is None:
        return None
    if isinstance(pdef, dg.DynamicPartitionsDefinition):
        return {"dynamic": pdef.name}
    if isinstance(pdef, dg.StaticPartitionsDefinition):
        return {"static": list(pdef.get_partition_keys())}
    return {type(pdef).__name__: str(pdef)}


def asset_specs(graph: Any, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The spec of every asset of ``graph`` (a resolved asset graph), or of ``keys``; an unknown key is a DataError."""
    known = {k.to_user_string(): k for k in graph.get_all_asset_keys()}
    wanted = sorted(known) if keys is None else list(keys)
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise DataError(f"no asset {unknown} in the graph; its assets are {sorted(known)}")
    specs = {}
    for name in wanted:
        node = graph.get(known[name])
        condition = node.automation_condition
        specs[name] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "code_version": node.code_version,
            "checks": sorted(c.name for c in node.check_keys),
            "automation": None if condition is None else condition.get_label() or type(condition).__name__,
            "pools": sorted(node.pools or []),
            "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/kind/")},
            "op_tags": dict(sorted(node.assets_def.op.tags.items())),
        }
    return specs
