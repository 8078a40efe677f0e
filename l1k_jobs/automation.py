"""Sensors and schedules: new LINCS releases, the weekly release check, monthly retraining, score refresh.

The release sensor keeps a cursor of release -> fingerprint. Each tick it asks the data
sources what is published (GEO's series and CLUE's LINCS 2020 build); a release missing from
the cursor becomes a dynamic partition and a run of the release job, a release whose
fingerprint changed is re-run, and the run key (release + fingerprint) makes a request that was
already made a no-op. A source that cannot be reached leaves its releases' cursor entries as
they were (the others go on), so the next tick retries and nothing is lost.
"""

import json

import dagster as dg

from l1k_assets.errors import SourceError
from l1k_assets.lincs.releases import plan_updates
from l1k_assets.partitions import release_partitions
from l1k_jobs.jobs import lincs_release_job, release_check_job, retrain_models_job
from resources.data_source import DataSource


@dg.sensor(
    job=lincs_release_job,
    minimum_interval_seconds=6 * 3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition and runs the release job for every new or re-issued LINCS release.",
)
def lincs_release_sensor(context: dg.SensorEvaluationContext, data_source: DataSource) -> dg.SensorResult | dg.SkipReason:
    """Poll the configured LINCS source once."""
    cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    try:
        published = data_source.published_releases()
    except SourceError as exc:
        context.log.warning(f"release source unreachable, will retry next tick: {exc}")
        return dg.SkipReason(f"source unreachable: {exc}")
    for source, problem in published.unreachable.items():
        context.log.warning(f"{source} unreachable, its releases are kept as they were and retried next tick: {problem}")
    found = published.releases
    new, changed = plan_updates(cursor, found)
    if not new and not changed:
        return dg.SkipReason(f"no new or changed release among {sorted(found)}")
    requests = [
        dg.RunRequest(run_key=f"{r}:{found[r].fingerprint[:16]}", partition_key=r, tags={"l1k/release": r}) for r in new + changed
    ]
    cursor.update({r: found[r].fingerprint for r in new + changed})
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[release_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )


weekly_release_check = dg.ScheduleDefinition(
    name="weekly_release_check", job=release_check_job, cron_schedule="0 6 * * 1", default_status=dg.DefaultScheduleStatus.RUNNING
)
monthly_retrain = dg.ScheduleDefinition(
    name="monthly_retrain", job=retrain_models_job, cron_schedule="0 3 1 * *", default_status=dg.DefaultScheduleStatus.RUNNING
)


score_refresh_sensor = dg.AutomationConditionSensorDefinition(
    "score_refresh_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates automation conditions: scores re-run when a model or a release changes.",
)
