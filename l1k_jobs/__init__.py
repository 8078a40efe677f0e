"""The one Dagster ``Definitions`` of l1k, its jobs, schedules and sensors, and the ``l1k`` CLI."""
