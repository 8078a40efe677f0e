"""Parquet IO manager, checkpoint store and cohort catalog: atomic writes and verified reads."""

import json
import pickle
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.fileio import atomic_path
from l1k_assets.geo.catalog import load_catalog
from l1k_assets.lincs.releases import release_kind
from l1k_assets.sources.layout import geo_series_matrix_url, validate_accession
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


def _forest() -> object:
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    x = np.random.default_rng(0).normal(size=(60, 4))
    y = np.repeat(["a", "b", "c"], 20)
    forest = RandomForestClassifier(n_estimators=4, random_state=0)
    return CalibratedClassifierCV(forest, method="sigmoid", cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(x, y)


def test_checkpoint_roundtrip_and_tamper_detection(tmp_path: Path) -> None:
    import numpy as np

    store = CheckpointStore(home=str(tmp_path))
    forest = _forest()
    manifest = store.save(
        "model_x", "rf", {"model.skops": forest, "state.pt": b"\x00\x01"}, code_version="3", mlflow_run_id="abc"
    )
    assert manifest.code_version == "3" and set(manifest.files) == {"model.skops", "state.pt"}
    x = np.ones((2, 4))
    np.testing.assert_allclose(store.load("model_x", "rf", "model.skops").predict_proba(x), forest.predict_proba(x))
    on_disk = json.loads((store.directory("model_x", "rf") / "manifest.json").read_text())
    assert on_disk["mlflow_run_id"] == "abc"
    # A second save replaces the first atomically.
    store.save("model_x", "rf", {"state.pt": b"\x02"})
    assert store.read_files("model_x", "rf") == {"state.pt": b"\x02"}
    # Tampering with a file is detected before it is read.
    (store.directory("model_x", "rf") / "state.pt").write_bytes(b"\x03")
    with pytest.raises(DataError, match="does not match the manifest"):
        store.read_files("model_x", "rf")
    with pytest.raises(DataError, match="no checkpoint"):
        store.manifest("model_y", None)
    with pytest.raises(DataError, match="stored with skops"):
        store.save("model_x", "rf", {"model.pkl": {"weights": [1]}})


def test_a_checkpoint_never_runs_code_on_load(tmp_path: Path) -> None:
    """A pickle (or a skops file naming an untrusted type) with a manifest that matches it is still refused."""
    import skops.io as sio

    store = CheckpointStore(home=str(tmp_path))

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    store.save("model_x", None, {"model.skops": b"placeholder"})
    folder = store.directory("model_x")
    payload = sio.dumps({"x": pd.Timestamp("2020")})  # a pandas object: not in l1k's allow-list
    (folder / "model.skops").write_bytes(payload)
    _rewrite_manifest(folder, {"model.skops": payload})
    with pytest.raises(DataError, match="types l1k does not trust"):
        store.load("model_x", None, "model.skops")
    evil = pickle.dumps(Evil())
    (folder / "model.skops").write_bytes(evil)
    _rewrite_manifest(folder, {"model.skops": evil})
    with pytest.raises(DataError, match="not a skops archive"):  # refused before anything is unpickled
        store.load("model_x", None, "model.skops")


def _rewrite_manifest(folder: Path, files: dict[str, bytes], **fields: object) -> None:
    import hashlib

    record = json.loads((folder / "manifest.json").read_text())
    record["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    record.update(fields)
    (folder / "manifest.json").write_text(json.dumps(record))


@pytest.mark.parametrize("name", ["../../outside/evil.pkl", "/tmp/evil.pkl", "sub/model.skops", "..", ".hidden", "a\x00b"])
def test_manifest_names_pointing_outside_the_checkpoint_are_refused(tmp_path: Path, name: str) -> None:
    store = CheckpointStore(home=str(tmp_path / "home"))
    store.save("model_x", None, {"state.pt": b"ok"})
    outside = tmp_path / "outside" / "evil.pkl"
    outside.parent.mkdir()
    outside.write_bytes(b"anything")
    _rewrite_manifest(store.directory("model_x"), {name: outside.read_bytes()})
    with pytest.raises(DataError, match="not a plain file name inside the checkpoint folder"):
        store.read_files("model_x", None)
    with pytest.raises(DataError, match="not a plain file name"):
        store.verified_path("model_x", None, name)
    with pytest.raises(DataError, match="not a plain file name"):
        store.save("model_x", None, {name: b"x"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{not json", "not a manifest"), ('{"asset": "a", "partition": "p", "files": {}, "surprise": 1}', "not a manifest"),
     ('{"asset": "a", "partition": "p", "files": ["x"]}', "'files' must map"),
     ('{"asset": "a", "partition": "p", "files": {"x": "short"}}', "no sha256 digest")],
)  # fmt: skip
def test_a_bad_manifest_is_a_data_error_naming_the_checkpoint(tmp_path: Path, text: str, problem: str) -> None:
    store = CheckpointStore(home=str(tmp_path))
    store.save("model_x", "rf", {"state.pt": b"ok"})
    (store.directory("model_x", "rf") / "manifest.json").write_text(text)
    with pytest.raises(DataError, match=f"checkpoint model_x/rf .*{problem}"):
        store.manifest("model_x", "rf")


@pytest.mark.parametrize("crash_after", ["first_rename", "second_rename"])
def test_a_crash_between_the_two_renames_is_recovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: str) -> None:
    store = CheckpointStore(home=str(tmp_path))
    store.save("model_x", "rf", {"state.pt": b"previous"})
    renames: list[Path] = []
    real_rename = Path.rename

    def crashing_rename(self: Path, target: Path) -> Path:
        renames.append(self)
        result = real_rename(self, target)
        if (crash_after == "first_rename" and len(renames) == 1) or (crash_after == "second_rename" and len(renames) == 2):
            raise KeyboardInterrupt("the process died here")
        return result

    monkeypatch.setattr(Path, "rename", crashing_rename)
    with pytest.raises(KeyboardInterrupt):
        store.save("model_x", "rf", {"state.pt": b"next"})
    monkeypatch.setattr(Path, "rename", real_rename)
    expected = b"previous" if crash_after == "first_rename" else b"next"
    assert store.read_files("model_x", "rf") == {"state.pt": expected}  # loadable, the stale folder gone
    assert not (store.directory("model_x", "rf").parent / ".rf.old").exists()
    store.save("model_x", "rf", {"state.pt": b"after"})  # and the next save succeeds
    assert store.read_files("model_x", "rf") == {"state.pt": b"after"}


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
    for bad in ("GSE1/../../x", "../GSE1", "GSE", "gse1", "GPL96", "GSE1 ", "GSE38129\n", "GSE1\n\n", "\nGSE1"):
        with pytest.raises(ValueError):
            validate_accession(bad, "GSE")
    # the whole value must match: a trailing newline ($ matches before one) never reaches a URL or a partition key
    for bad in ("GSE38129\n", "ok\n", "a|b\n"):
        with pytest.raises(ValueError):
            safe_partition_key(bad)
    with pytest.raises(DataError, match="not a LINCS release"):
        release_kind("GSE92742\n")
    with pytest.raises(ValueError):
        geo_series_matrix_url("https://x", "GSE38129\n")
