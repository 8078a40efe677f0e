"""The code's shape, guarded: the import layers (lint-imports), the asset graph (a reviewed snapshot), shared names."""

from __future__ import annotations

import ast
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


MAX_ASSET_BODY_LINES = 40


def _asset_bodies() -> list[tuple[str, int]]:
    """(module:function, lines of body after the docstring) of every function decorated as an asset or check."""
    found = []
    for path in sorted([*PROJECT_ROOT.glob("l1k_assets/*/assets.py"), *PROJECT_ROOT.glob("l1k_jobs/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef) or not any("asset" in ast.unparse(d) for d in node.decorator_list):
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            found.append((f"{path.relative_to(PROJECT_ROOT)}:{node.name}", body[-1].end_lineno - body[0].lineno + 1))
    return found


def test_assets_stay_thin() -> None:
    """An asset reads config and resources, calls one domain function and records the result: no protocol inside."""
    bodies = _asset_bodies()
    assert len(bodies) > 30, "the scan found the assets"
    assert not [(name, n) for name, n in bodies if n > MAX_ASSET_BODY_LINES]
