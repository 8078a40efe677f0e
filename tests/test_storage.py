"""Parquet IO manager, checkpoint store and cohort catalog: atomic writes and verified reads."""

import json
import pickle
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_path
from l1k_assets.geo.catalog import load_catalog, validate_accession
from resources.checkpoints import CheckpointStore
from resources.parquet_io import ParquetIOManager, safe_partition_key

parts = dg.StaticPartitionsDefinition(["a", "b"])


def _assets(fail: dict[str, bool]):
    @dg.asset(partitions_def=parts, code_version="7")
    def table(context: dg.AssetExecutionContext) -> pd.DataFrame:
        if fail.get("table"):
            raise RuntimeError("boom")
        return pd.DataFrame({"x": [1, 2, 3], "part": context.partition_key})

    @dg.asset
    def fan_in(table: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(table.values(), ignore_index=True)

    return [table, fan_in]


def test_parquet_io_writes_one_file_per_partition_with_metadata(tmp_path: Path) -> None:
    io = ParquetIOManager(home=str(tmp_path))
    assets = _assets({})
    instance = dg.DagsterInstance.ephemeral()
    for key in ("a", "b"):
        result = dg.materialize(assets, selection=["table"], partition_key=key, resources={"io_manager": io}, instance=instance)
        meta = result.asset_materializations_for_node("table")[0].metadata
        assert meta["dagster/row_count"].value == 3
        assert meta["code_version"].value == "7"
        header = meta["preview"].value.splitlines()[0]
        assert [c.strip() for c in header.strip("|").split("|")] == ["", "x", "part"]
        assert [c.name for c in meta["dagster/column_schema"].schema.columns] == ["x", "part"]
    assert sorted(p.name for p in (tmp_path / "tables" / "table").iterdir()) == ["a.parquet", "b.parquet"]
    result = dg.materialize(assets, selection=["fan_in"], resources={"io_manager": io}, instance=instance)
    assert sorted(result.output_for_node("fan_in").part) == ["a"] * 3 + ["b"] * 3


def test_failed_run_leaves_previous_materialization_readable(tmp_path: Path) -> None:
    io = ParquetIOManager(home=str(tmp_path))
    fail: dict[str, bool] = {}
    assets = _assets(fail)
    dg.materialize(assets, selection=["table"], partition_key="a", resources={"io_manager": io})
    path = tmp_path / "tables" / "table" / "a.parquet"
    before = path.read_bytes()
    fail["table"] = True
    result = dg.materialize(assets, selection=["table"], partition_key="a", resources={"io_manager": io}, raise_on_error=False)
    assert not result.success
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["a.parquet"]  # no temporary left behind


def test_atomic_path_removes_temporary_on_error(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(ValueError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("crash mid-write")
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("key", ["../x", "a/b", "", ".hidden", "a\x00b"])
def test_unsafe_partition_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        safe_partition_key(key)


def test_checkpoint_roundtrip_and_tamper_detection(tmp_path: Path) -> None:
    store = CheckpointStore(home=str(tmp_path))
    manifest = store.save(
        "model_x", "rf", {"model.pkl": {"weights": [1, 2]}, "state.pt": b"\x00\x01"}, code_version="3", mlflow_run_id="abc"
    )
    assert manifest.code_version == "3" and set(manifest.files) == {"model.pkl", "state.pt"}
    assert store.load("model_x", "rf", "model.pkl") == {"weights": [1, 2]}
    on_disk = json.loads((store.directory("model_x", "rf") / "manifest.json").read_text())
    assert on_disk["mlflow_run_id"] == "abc"
    # A second save replaces the first atomically.
    store.save("model_x", "rf", {"model.pkl": {"weights": [3]}})
    assert store.load("model_x", "rf", "model.pkl") == {"weights": [3]}
    # Tampering with a pickle is detected before it is unpickled.
    (store.directory("model_x", "rf") / "model.pkl").write_bytes(pickle.dumps({"evil": True}))
    with pytest.raises(DataError, match="does not match the manifest"):
        store.load("model_x", "rf", "model.pkl")
    with pytest.raises(DataError, match="no checkpoint"):
        store.manifest("model_y", None)


def test_catalog_matches_seed_pair_counts() -> None:
    """Seed 000's GEO series give its 549 pairs; the GDS row (GDS507) is the catalog's own addition."""
    cohorts = load_catalog()
    per_type: dict[str, int] = {}
    for c in cohorts:
        if c.source != "gds":
            per_type[c.cancer_type] = per_type.get(c.cancer_type, 0) + c.expected_pairs
    assert per_type == {
        "BRCA": 43, "COAD": 128, "ESCC": 30, "HNSC": 22, "KIRC": 60, "LIHC": 37, "LUAD": 153, "STAD": 32, "THCA": 44
    }  # fmt: skip
    assert [(c.cohort, c.cancer_type, c.expected_pairs) for c in cohorts if c.source == "gds"] == [("GDS507", "KIRC", 8)]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("../etc,GPL1,X,annot,title,a,b,title,(.+),1,error", "field 'cohort': expected a GDS accession with source gds"),
        ("GSE1,GPL1,X,tarball,title,a,b,title,(.+),1,error", "'annot' or 'soft'"),
        ("GSE1,GPL1,X,annot,title,a,b,title,(.+)(.),1,error", "exactly one capturing group"),
        ("GSE1,GPL1,X,annot,title,a,b,title,(.+),many,error", "a whole number"),
        ("GSE1,GPL1,X,annot,title,a,b,title,(.+),1,ignore", "'error' or 'drop'"),
    ],
)
def test_bad_catalog_rows_name_line_and_field(tmp_path: Path, row: str, match: str) -> None:
    header = Path("l1k_assets/geo/cohorts.csv").read_text().splitlines()[0]
    path = tmp_path / "cohorts.csv"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(FormatError, match=match) as info:
        load_catalog(path)
    assert info.value.line == 2 and str(path) in str(info.value)


def test_accession_validation_blocks_traversal() -> None:
    assert validate_accession("GSE92742", "GSE") == "GSE92742"
    for bad in ("GSE1/../../x", "../GSE1", "GSE", "gse1", "GPL96", "GSE1 "):
        with pytest.raises(ValueError):
            validate_accession(bad, "GSE")
