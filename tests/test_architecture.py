"""The code's shape, guarded: the import layers (lint-imports), the asset graph (a reviewed snapshot), shared names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from l1k_assets.errors import DataError
from l1k_assets.inference.models import MODEL_KINDS
from l1k_assets.partitions import model_partitions, scheme_partitions, selection_partitions
from l1k_jobs.definitions import defs
from l1k_jobs.specs import asset_specs
from tests.conftest import PROJECT_ROOT


def test_the_import_layers_hold() -> None:
    """pyproject.toml's import-linter contracts: Dagster-free domain code, resources below assets, no cycles."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency"
    done = subprocess.run([lint], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_asset_graph_matches_its_reviewed_snapshot(snapshot) -> None:
    """Keys, groups, deps, partitions, code versions, checks, automation, pools, kinds and tags of every asset.

    A change here is a change of the graph: review it and update with ``pytest --snapshot-update``.
    """
    assert asset_specs(defs.resolve_asset_graph()) == snapshot


def test_an_unknown_asset_in_a_spec_request_is_named() -> None:
    with pytest.raises(DataError, match=r"no asset \['out_no_such_scores'\] in the graph"):
        asset_specs(defs.resolve_asset_graph(), ["core_lincs_genes", "out_no_such_scores"])


def test_partition_keys_are_the_names_the_domain_code_implements() -> None:
    from l1k_assets.inference.selection import SELECTORS
    from l1k_assets.response.splits import SCHEMES

    assert model_partitions.get_partition_keys() == list(MODEL_KINDS)
    assert set(selection_partitions.get_partition_keys()) == set(SELECTORS)
    assert set(scheme_partitions.get_partition_keys()) == set(SCHEMES)
