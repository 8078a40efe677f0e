"""Dagster resources and IO managers: data sources and cache, Parquet and checkpoint storage."""
