"""l1k domain code: plain functions per domain, plus a thin Dagster ``assets.py`` in each."""
