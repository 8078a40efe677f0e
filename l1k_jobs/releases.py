"""LINCS release partitions: which releases exist, added as dynamic partitions.

The embedded default registers the releases its mirror holds; remote releases are added by
the release sensor (or by hand with ``instance.add_dynamic_partitions``).
"""

from __future__ import annotations

import dagster as dg

from l1k_assets.lincs.releases import release_kind
from l1k_assets.partitions import release_partitions
from resources.data_source import DataSource


def register_known_releases(instance: dg.DagsterInstance, data_source: DataSource, asked: list[str] | None = None) -> list[str]:
    """Add the embedded mirror's releases and the ones ``asked`` for by name as partitions; return the new ones.

    A release named on the command line (``--release LINCS2020``) in remote mode becomes a
    partition without waiting for the sensor; a name that is no release is a DataError.
    """
    releases = [release for release in asked or [] if release_kind(release)]
    if data_source.mode == "embedded":
        releases = list(dict.fromkeys([*data_source.mirror_manifest()["releases"], *releases]))
    name = release_partitions.name
    new = [r for r in releases if not instance.has_dynamic_partition(name, r)]
    if new:
        instance.add_dynamic_partitions(name, new)
    return new
