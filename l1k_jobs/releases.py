"""LINCS release partitions: which releases exist, added as dynamic partitions.

The embedded default registers the releases its mirror holds; remote releases are added by
the release sensor (or by hand with ``instance.add_dynamic_partitions``).
"""

from __future__ import annotations

import dagster as dg

from l1k_assets.lincs.assets import release_partitions
from resources.data_source import DataSource


def register_known_releases(instance: dg.DagsterInstance, data_source: DataSource) -> list[str]:
    """Add the embedded mirror's releases as partitions; return the ones that were new."""
    if data_source.mode != "embedded":
        return []
    releases = data_source.mirror_manifest()["releases"]
    name = release_partitions.name
    new = [r for r in releases if not instance.has_dynamic_partition(name, r)]
    if new:
        instance.add_dynamic_partitions(name, new)
    return new
