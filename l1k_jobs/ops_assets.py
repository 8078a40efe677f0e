"""Operations assets: the lineage report written beside the scores it audits."""

import json

import dagster as dg
import pandas as pd

from l1k_assets.asset_utils import json_metadata
from l1k_assets.fileio import atomic_write_text
from l1k_assets.partitions import release_partitions
from l1k_jobs import asset_modules  # the module, not its list: load_assets_from_modules would collect the list
from l1k_jobs.lineage import raw_files, to_json, to_markdown, trace
from l1k_jobs.resources_config import build_resources
from resources.data_source import DataSource
from resources.home import home_dir

AUDITED = ("out_compound_scores", "out_connectivity_scores")


@dg.asset(
    partitions_def=release_partitions,
    group_name="ops",
    code_version="1",
    kinds={"markdown", "json"},
    deps=[dg.AssetKey(a) for a in AUDITED],
    automation_condition=dg.AutomationCondition.eager(),
)
def out_lineage_report(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """For each drug-score asset of the release, the full chain back to the raw files, as Markdown and JSON.

    Returns one row per raw file the scores rest on (asset, partition, role, URL, sha256).
    """
    # The domain graph, built here: a run's own job graph holds only the assets it selected.
    graph = dg.Definitions(assets=asset_modules.DOMAIN_ASSETS, resources=build_resources()).resolve_asset_graph()
    folder = home_dir(data_source.home) / "reports" / "lineage"
    rows, paths = [], {}
    for asset in AUDITED:
        root = trace(graph, context.instance, asset, context.partition_key)
        stem = folder / f"{asset}__{context.partition_key}"
        atomic_write_text(stem.with_suffix(".md"), to_markdown(root))
        atomic_write_text(stem.with_suffix(".json"), json.dumps(to_json(root), indent=1, default=str))
        paths[asset] = str(stem.with_suffix(".md"))
        rows.extend({"scores": asset, **row} for row in raw_files(root))
    table = pd.DataFrame(rows)
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.md(
                to_markdown(trace(graph, context.instance, AUDITED[0], context.partition_key))[:60_000]
            ),
            **json_metadata(reports=paths, n_raw_files=int(table[["url", "sha256"]].drop_duplicates().shape[0])),
        }
    )
    return table


@dg.asset(group_name="ops", code_version="1", kinds={"geo"})
def out_release_catalog(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The LINCS releases the configured source publishes now, with fingerprints, and whether each is a partition yet."""
    published = data_source.published_releases()
    found = published.releases
    known = set(context.instance.get_dynamic_partitions(release_partitions.name))
    table = pd.DataFrame(
        [
            {
                "release": r.release,
                "fingerprint": r.fingerprint,
                "source": r.source,
                "n_files": r.n_files,
                "partition": r.release in known,
            }
            for r in found.values()
        ],
        columns=["release", "fingerprint", "source", "n_files", "partition"],
    )
    context.add_output_metadata(
        json_metadata(
            n_releases=len(table), not_yet_partitions=table.release[~table.partition].tolist(), unreachable=published.unreachable
        )
    )
    return table
