"""GCTX and GCT matrix I/O: every real fixture against an independent read, round trips, and errors by line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import DataError, FormatError
from l1k_assets.lincs.gct import read_gct, read_matrix, write_gct
from l1k_assets.lincs.gctx import (
    Gct,
    GctxAppender,
    gctx_shape,
    iter_gctx_columns,
    read_gctx,
    read_gctx_ids,
    read_gctx_meta,
    write_gctx,
)

REAL_GCTX = [
    "cmappy_mini_gctoo_for_testing.gctx",
    "cmappy_mini_gctx_with_metadata_n2x3.gctx",
    "cmappy_test_parse_gctx_rid_entrez_id.gctx",
]
REAL_GCT = [
    "cmappy_mini_gctoo_for_testing.gct",
    "cmappy_row_meta_only_example_n2x1203.gct",
    "cmappy_test_l1000.gct",
    "cmappy_test_l1000_misnamed_gctx.gct",
    "cmappy_test_p100.gct",
    "cmapr_test_n5x10.gct",
]


# ---------------------------------------------------------------- independent readers used as references


def raw_ids(dset: h5py.Dataset) -> list[str]:
    """Ids straight from h5py: bytes decoded, integers spelled as integers."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dset[()].tolist()]


def plain_split(path: Path) -> tuple[list[str], list[str], np.ndarray, dict[str, list[str]]]:
    """A GCT read with nothing but str.split: row ids, column ids, values, raw column annotations."""
    lines = path.read_text().replace("\r\n", "\n").split("\n")
    dims = [int(x) for x in lines[1].split("\t")]
    n_rows, n_cols = dims[0], dims[1]
    n_row_meta, n_col_meta = (dims[2], dims[3]) if lines[0].strip() == "#1.3" else (1, 0)
    col_ids = lines[2].split("\t")[1 + n_row_meta :]
    col_meta = {f[0]: f[1 + n_row_meta :] for f in (line.split("\t") for line in lines[3 : 3 + n_col_meta])}
    body = [line.split("\t") for line in lines[3 + n_col_meta : 3 + n_col_meta + n_rows]]
    values = np.array([[float("nan") if v == "NA" else float(v) for v in row[1 + n_row_meta :]] for row in body])
    assert values.shape == (n_rows, n_cols)
    return [row[0] for row in body], col_ids, values, col_meta


def toy(n_rows: int = 4, n_cols: int = 7, dtype: type = np.float32) -> pd.DataFrame:
    values = np.arange(n_rows * n_cols, dtype=dtype).reshape(n_rows, n_cols) / 4
    return pd.DataFrame(values, index=[f"g{i}" for i in range(n_rows)], columns=[f"s{j}" for j in range(n_cols)])


# ---------------------------------------------------------------- real fixtures


def test_every_real_matrix_fixture_is_covered(shared_data: Path) -> None:
    folder = shared_data / "l1000"
    assert sorted(p.name for p in folder.glob("*.gctx")) == REAL_GCTX
    assert sorted(p.name for p in folder.glob("*.gct*") if not p.name.endswith(".gctx")) == REAL_GCT


@pytest.mark.parametrize("name", REAL_GCTX)
def test_real_gctx_matches_raw_h5py(shared_data: Path, name: str) -> None:
    path = shared_data / "l1000" / name
    gct = read_gctx(path)
    with h5py.File(path, "r") as f:
        matrix = f["0/DATA/0/matrix"][()]
        rows, cols = raw_ids(f["0/META/ROW/id"]), raw_ids(f["0/META/COL/id"])
        col_fields = [k for k in f["0/META/COL"] if k != "id"]
    assert gct.data.dtypes.unique().tolist() == [matrix.dtype]
    np.testing.assert_array_equal(gct.data.to_numpy(), matrix.T)
    assert gct.data.index.tolist() == rows and gct.data.columns.tolist() == cols
    assert sorted(gct.col_meta.columns) == sorted(col_fields)
    assert gct.col_meta.index.tolist() == cols and gct.row_meta.index.tolist() == rows
    assert gctx_shape(path) == (len(rows), len(cols))


def test_real_gctx_details(shared_data: Path) -> None:
    entrez = shared_data / "l1000" / "cmappy_test_parse_gctx_rid_entrez_id.gctx"
    assert read_gctx_ids(entrez, "row") == ["5720", "55847", "7416", "10174", "25803"]  # stored as int64
    meta = read_gctx_meta(shared_data / "l1000" / "cmappy_mini_gctx_with_metadata_n2x3.gctx", "row")
    assert meta["pr_model_id"].isna().all()  # every value is -666
    assert meta.loc["218597_s_at", "pr_gene_id"] == 55847
    assert meta.loc["200814_at", "pr_analyte_id"] == "Analyte 11"


@pytest.mark.parametrize("name", REAL_GCT)
def test_real_gct_matches_plain_split(shared_data: Path, name: str) -> None:
    path = shared_data / "l1000" / name
    row_ids, col_ids, values, col_meta = plain_split(path)
    gct = read_matrix(path)
    assert gct.data.index.tolist() == row_ids and gct.data.columns.tolist() == col_ids
    np.testing.assert_array_equal(gct.data.to_numpy(), values)
    assert list(gct.col_meta.columns) == list(col_meta)
    for field, raw in col_meta.items():
        for got, text in zip(gct.col_meta[field].tolist(), raw, strict=True):
            assert same_annotation(got, text), (field, got, text)


def same_annotation(got: object, text: str) -> bool:
    """A parsed annotation against its raw text: -666 is missing, numbers compare as numbers, the rest verbatim."""
    if text == "-666":
        return pd.isna(got)
    if isinstance(got, str):
        return got == text
    return float(got) == float(text)


def test_gct_version_1_2(shared_data: Path) -> None:
    path = shared_data / "gdsc" / "ccal_P53_collapsed_symbols_NCI60.gct"
    row_ids, col_ids, values, _ = plain_split(path)
    gct = read_gct(path)
    assert gct.data.shape == (9096, 50) and gct.data.columns.tolist() == col_ids and gct.data.index.tolist() == row_ids
    np.testing.assert_array_equal(gct.data.to_numpy(), values)
    assert list(gct.row_meta.columns) == ["DESCRIPTION"] and gct.col_meta.shape == (50, 0)


def test_misnamed_text_gctx_is_read_by_content(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "l1000" / "cmappy_test_l1000_misnamed_gctx.gct"
    with pytest.raises(FormatError) as err:
        read_gctx(path)
    assert err.value.field == "/0/DATA/0/matrix"
    upstream_name = Path(shutil.copy(path, tmp_path / "test_l1000.gctx"))
    assert read_matrix(upstream_name).data.shape == (978, 377)  # .gctx name, text content: sniffed as GCT


def test_other_hdf5_layout_is_a_format_error(shared_data: Path) -> None:
    with pytest.raises(FormatError) as err:
        read_gctx(shared_data / "l1000" / "sigsearch_sample_db.h5")
    assert err.value.field == "/0/DATA/0/matrix" and "sigsearch_sample_db.h5" in str(err.value)


def test_mini_gct_and_gctx_agree(shared_data: Path) -> None:
    text = read_matrix(shared_data / "l1000" / "cmappy_mini_gctoo_for_testing.gct")
    hdf5 = read_matrix(shared_data / "l1000" / "cmappy_mini_gctoo_for_testing.gctx")
    for a, b in [(text.data, hdf5.data), (text.row_meta, hdf5.row_meta), (text.col_meta, hdf5.col_meta)]:
        pdt.assert_frame_equal(a, b)
    assert text.col_meta["mfc_plate_id"].isna().all() and text.col_meta["distil_nsample"].dtype == np.int64


def test_gzipped_gct_reads_the_same(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "l1000" / "cmapr_test_n5x10.gct"
    packed = tmp_path / "n5x10.gct.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    pdt.assert_frame_equal(read_matrix(packed).data, read_gct(source).data)
    pdt.assert_frame_equal(read_matrix(packed).col_meta, read_gct(source).col_meta)


# ---------------------------------------------------------------- GCTX writing and reading


def test_write_gctx_layout_and_round_trip(tmp_path: Path) -> None:
    data = toy()
    data.iloc[1, 2] = np.nan
    row_meta = pd.DataFrame(
        {"symbol": ["A", "B", None, "D"], "entrez": [1, 2, 3, 4], "lm": [True, False, True, True]}, index=data.index
    )
    col_meta = pd.DataFrame({"dose": [0.1, np.nan, 1, 2, 3, 4, 5], "plate": list("ppppqqq")}, index=data.columns)
    path = write_gctx(tmp_path / "x.gctx", data, row_meta, col_meta, chunk_cols=3)
    with h5py.File(path, "r") as f:
        dset = f["0/DATA/0/matrix"]
        assert dset.shape == (7, 4) and dset.chunks == (3, 4) and dset.compression == "gzip"
        assert dset.dtype == np.float32 and f.attrs["version"] == "GCTX1.0"
        assert f["0/META/COL/dose"][1] == -666 and f["0/META/ROW/symbol"][2] == b"-666"
        np.testing.assert_array_equal(dset[2], data["s2"].to_numpy())  # stored samples × genes
    back = read_gctx(path)
    pdt.assert_frame_equal(back.data, data, check_names=False, check_index_type=False, check_column_type=False)
    assert back.row_meta["symbol"].tolist()[:2] == ["A", "B"] and pd.isna(back.row_meta.loc["g2", "symbol"])
    assert back.row_meta["entrez"].tolist() == [1, 2, 3, 4] and back.row_meta["lm"].tolist() == [True, False, True, True]
    assert back.col_meta["dose"].iloc[0] == 0.1 and pd.isna(back.col_meta["dose"].iloc[1])
    assert list(back.col_meta.columns) == ["dose", "plate"]  # creation order kept


def test_write_gctx_keeps_float64_and_small_chunks(tmp_path: Path) -> None:
    data = toy(3, 2, np.float64)
    path = write_gctx(tmp_path / "x.gctx", data, compression=None)
    with h5py.File(path, "r") as f:
        assert f["0/DATA/0/matrix"].dtype == np.float64 and f["0/DATA/0/matrix"].chunks == (2, 3)
    assert read_gctx(path).data.dtypes.unique().tolist() == [np.float64]


def test_write_gctx_refuses_duplicates_and_mismatched_meta(tmp_path: Path) -> None:
    data = toy()
    with pytest.raises(DataError, match="duplicate column ids"):
        write_gctx(tmp_path / "x.gctx", data.set_axis(["s0"] * 7, axis=1))
    with pytest.raises(DataError, match="duplicate row ids"):
        write_gctx(tmp_path / "x.gctx", data.set_axis(["g"] * 4, axis=0))
    with pytest.raises(DataError, match="missing"):
        write_gctx(tmp_path / "x.gctx", data, row_meta=pd.DataFrame({"a": [1, 2]}, index=["g0", "g1"]))
    assert not list(tmp_path.iterdir())


def test_subsets_keep_the_requested_order(tmp_path: Path) -> None:
    data = toy(5, 9)
    path = write_gctx(tmp_path / "x.gctx", data, col_meta=pd.DataFrame({"k": range(9)}, index=data.columns), chunk_cols=2)
    got = read_gctx(path, rids=["g3", "g0"], cids=["s7", "s1", "s4"])
    pdt.assert_frame_equal(got.data, data.loc[["g3", "g0"], ["s7", "s1", "s4"]], check_names=False, check_index_type=False)
    assert got.col_meta["k"].tolist() == [7, 1, 4]
    by_position = read_gctx(path, ridx=[4, 1], cidx=[8, 0])
    pdt.assert_frame_equal(by_position.data, data.iloc[[4, 1], [8, 0]], check_names=False, check_index_type=False)
    rows_only = read_gctx(path, rids=["g2", "g1"], meta=False)
    assert rows_only.data.shape == (2, 9) and rows_only.row_meta.shape == (2, 0)
    assert read_gctx(path, cids=[]).data.shape == (5, 0)


def test_subset_errors_name_ids_and_file(tmp_path: Path) -> None:
    path = write_gctx(tmp_path / "x.gctx", toy())
    with pytest.raises(DataError, match=r"x\.gctx.*\['nope', 'zip'\]"):
        read_gctx(path, cids=["s1", "nope", "zip"])
    with pytest.raises(DataError, match="not both"):
        read_gctx(path, rids=["g1"], ridx=[1])
    with pytest.raises(DataError, match="more than once"):
        read_gctx(path, cids=["s1", "s1"])
    with pytest.raises(DataError, match="outside"):
        read_gctx(path, cidx=[7])


def test_iter_columns_streams_the_whole_matrix(tmp_path: Path) -> None:
    data = toy(3, 10)
    path = write_gctx(tmp_path / "x.gctx", data, chunk_cols=3)
    blocks = list(iter_gctx_columns(path, chunk_size=4))
    assert [b.shape[1] for b in blocks] == [4, 4, 2]
    pdt.assert_frame_equal(pd.concat(blocks, axis=1), read_gctx(path).data)
    assert [b.shape[1] for b in iter_gctx_columns(path, chunk_size=None)] == [3, 3, 3, 1]  # the file's chunks
    picked = list(iter_gctx_columns(path, chunk_size=2, rids=["g2"], cids=["s9", "s0", "s5"]))
    assert [b.columns.tolist() for b in picked] == [["s9", "s0"], ["s5"]] and picked[0].index.tolist() == ["g2"]
    assert picked[0].iloc[0].tolist() == [data.loc["g2", "s9"], data.loc["g2", "s0"]]


def test_broken_files_are_format_errors(tmp_path: Path) -> None:
    text = tmp_path / "text.gctx"
    text.write_text("#1.3\n")
    with pytest.raises(FormatError, match="HDF5"):
        read_gctx(text)
    path = write_gctx(tmp_path / "x.gctx", toy())
    with h5py.File(path, "a") as f:
        del f["0/META/COL/id"]
        f["0/META/COL/id"] = np.array([b"only", b"two"])
    with pytest.raises(FormatError) as err:
        read_gctx(path)
    assert err.value.field == "/0/DATA/0/matrix" and "(7, 4)" in str(err.value)
    with h5py.File(path, "a") as f:
        del f["0/META/ROW/id"]
    with pytest.raises(FormatError) as err:
        gctx_shape(path)
    assert err.value.field == "/0/META/ROW/id"
    with pytest.raises(FileNotFoundError):
        read_gctx(tmp_path / "absent.gctx")
    truncated = tmp_path / "truncated.gctx"
    truncated.write_bytes(write_gctx(tmp_path / "whole.gctx", toy(50, 40)).read_bytes()[:3000])
    with pytest.raises(FormatError):
        read_gctx(truncated)


def test_float_ids_read_as_integer_text(tmp_path: Path) -> None:
    path = tmp_path / "f.gctx"
    with h5py.File(path, "w") as f:
        f["0/DATA/0/matrix"] = np.zeros((1, 2))
        f["0/META/ROW/id"] = np.array([5720.0, 7416.0])
        f["0/META/COL/id"] = np.array([b"s"])
    assert read_gctx_ids(path, "row") == ["5720", "7416"]


# ---------------------------------------------------------------- appender


def test_appender_grows_the_matrix(tmp_path: Path) -> None:
    data = toy(4, 6, np.float64)
    dest = tmp_path / "out.gctx"
    with GctxAppender(dest, row_ids=list(data.index), chunk_cols=2) as out:
        out.append(data.iloc[:, :4])
        out.append(data.iloc[::-1, 4:])  # rows in another order are realigned
        assert out.column_ids == list(data.columns)
    got = read_gctx(dest)
    assert got.data.dtypes.unique().tolist() == [np.float32]
    np.testing.assert_array_equal(got.data.to_numpy(), data.to_numpy().astype(np.float32))
    assert got.data.columns.tolist() == list(data.columns)
    with h5py.File(dest, "r") as f:
        assert f["0/DATA/0/matrix"].chunks == (2, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["out.gctx"]


def test_appender_refuses_bad_blocks(tmp_path: Path) -> None:
    data = toy(4, 6)
    with GctxAppender(tmp_path / "out.gctx", row_ids=list(data.index)) as out:
        out.append(data.iloc[:, :2])
        with pytest.raises(DataError, match="already appended"):
            out.append(data.iloc[:, 1:3])
        with pytest.raises(DataError, match=r"missing \['g3'\]"):
            out.append(data.iloc[:3, 3:])
        with pytest.raises(DataError, match=r"extra \['x'\]"):
            out.append(pd.concat([data.iloc[:, 3:], pd.DataFrame(0.0, index=["x"], columns=data.columns[3:])]))
    assert read_gctx_ids(tmp_path / "out.gctx", "col") == ["s0", "s1"]
    with pytest.raises(DataError, match="with-block"):
        out.append(data.iloc[:, 4:])


def test_appender_failure_keeps_the_previous_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.gctx"
    previous = write_gctx(dest, toy(4, 2))
    before = previous.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), GctxAppender(dest, row_ids=[f"g{i}" for i in range(4)]) as out:
        out.append(toy(4, 6).iloc[:, 2:])
        raise RuntimeError("boom")
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.gctx"]  # the temporary file is gone


# ---------------------------------------------------------------- GCT errors and round trips


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = ["#1.3", "2\t2\t1\t1", "id\tsym\ts1\ts2", "dose\tna\t1\t-666", "g1\tA\t1.5\t2", "g2\tB\tNaN\t-3e2"]


def test_small_gct_parsed_exactly(tmp_path: Path) -> None:
    gct = read_gct(write_lines(tmp_path / "a.gct", *GOOD))
    np.testing.assert_array_equal(gct.data.to_numpy(), [[1.5, 2.0], [np.nan, -300.0]])
    assert gct.data.index.tolist() == ["g1", "g2"] and gct.data.columns.tolist() == ["s1", "s2"]
    assert gct.row_meta["sym"].tolist() == ["A", "B"]
    assert gct.col_meta["dose"].iloc[0] == 1 and pd.isna(gct.col_meta["dose"].iloc[1])


@pytest.mark.parametrize(
    ("lines", "line", "text"),
    [
        (["#1.4", *GOOD[1:]], 1, "'#1.2' or '#1.3'"),
        (["#1.3", "2\t2\t1", *GOOD[2:]], 2, "4 non-negative integers"),
        (["#1.3", "3\t2\t1\t1", *GOOD[2:]], 2, "3 data lines"),
        (["#1.3", "2\t3\t1\t1", *GOOD[2:]], 3, "5 tab-separated fields"),
        ([*GOOD[:4], "g1\tA\t1.5", GOOD[5]], 5, "4 tab-separated fields"),
        ([*GOOD[:5], "g2\tB\tx7\t1"], 6, "a number"),
        ([*GOOD[:5], "g1\tB\t1\t1"], 6, "unique row ids"),
        ([*GOOD[:2], "id\tsym\ts1\ts1", *GOOD[3:]], 3, "unique column ids"),
    ],
)
def test_gct_errors_name_the_line(tmp_path: Path, lines: list[str], line: int, text: str) -> None:
    with pytest.raises(FormatError, match=text) as err:
        read_gct(write_lines(tmp_path / "bad.gct", *lines))
    assert err.value.line == line and "bad.gct" in str(err.value)


def test_gct_bad_number_names_the_column(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as err:
        read_gct(write_lines(tmp_path / "bad.gct", *GOOD[:5], "g2\tB\t1\t1.2.3"))
    assert err.value.line == 6 and err.value.field == "s2" and "'1.2.3'" in str(err.value)


def test_write_gct_round_trip_and_refusals(shared_data: Path, tmp_path: Path) -> None:
    original = read_gct(shared_data / "l1000" / "cmapr_test_n5x10.gct")
    write_gct(tmp_path / "copy.gct", original)
    again = read_gct(tmp_path / "copy.gct")
    for a, b in [(original.data, again.data), (original.row_meta, again.row_meta), (original.col_meta, again.col_meta)]:
        pdt.assert_frame_equal(a, b)
    float32 = Gct(toy(2, 2), pd.DataFrame(index=["g0", "g1"]), pd.DataFrame(index=["s0", "s1"]))
    float32.data.iloc[0, 0] = np.float32(0.1)
    write_gct(tmp_path / "f32.gct", float32)
    assert "\t0.1\t" in (tmp_path / "f32.gct").read_text()  # shortest float32 text, not 0.10000000149011612
    bare = Gct(toy(2, 2), pd.DataFrame(), pd.DataFrame())  # no annotations at all
    write_gct(tmp_path / "bare.gct", bare)
    assert (tmp_path / "bare.gct").read_text().split("\n")[:3] == ["#1.3", "2\t2\t0\t0", "id\ts0\ts1"]
    tabbed = Gct(toy(2, 2).set_axis(["a\tb", "c"]), pd.DataFrame(), pd.DataFrame())
    with pytest.raises(DataError, match="tabs or line breaks"):
        write_gct(tmp_path / "tab.gct", tabbed)
    assert not (tmp_path / "tab.gct").exists()


def test_read_matrix_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"\.gct"):
        read_matrix(write_lines(tmp_path / "x.tsv", *GOOD))


# ---------------------------------------------------------------- fuzzing

ID_TEXT = st.text(st.characters(blacklist_characters="\t\r\n\x00", blacklist_categories=("Cs",)), min_size=1, max_size=8)
WORDS = st.text("abcXYZ_|", min_size=1, max_size=6).map(lambda s: "w" + s)
VALUES = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def gct_objects(draw: st.DrawFn) -> Gct:
    rows = draw(st.lists(ID_TEXT, min_size=0, max_size=5, unique=True))
    cols = draw(st.lists(ID_TEXT, min_size=0, max_size=5, unique=True))
    values = np.array([[draw(VALUES) for _ in cols] for _ in rows], dtype=np.float64).reshape(len(rows), len(cols))
    row_fields = draw(st.lists(WORDS, max_size=3, unique=True))
    col_fields = draw(st.lists(WORDS, max_size=3, unique=True))

    def meta(ids: list[str], fields: list[str]) -> pd.DataFrame:
        columns = {}
        for k, field in enumerate(fields):
            if k % 2:
                columns[field] = pd.Series([draw(WORDS) for _ in ids], index=ids, dtype="str")
            else:
                numbers = [draw(st.one_of(st.none(), st.floats(-1e6, 1e6).filter(lambda v: v != -666))) for _ in ids]
                columns[field] = pd.Series([np.nan if v is None else v for v in numbers], index=ids, dtype=np.float64)
        return pd.DataFrame(columns, index=pd.Index(ids, dtype="str"))

    data = pd.DataFrame(values, index=pd.Index(rows, dtype="str"), columns=pd.Index(cols, dtype="str"))
    return Gct(data, meta(rows, row_fields), meta(cols, col_fields))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gct=gct_objects())
def test_fuzz_gct_round_trip(tmp_path: Path, gct: Gct) -> None:
    path = tmp_path / "fuzz.gct"
    write_gct(path, gct)
    back = read_gct(path)
    np.testing.assert_array_equal(back.data.to_numpy(), gct.data.to_numpy())
    assert back.data.index.tolist() == gct.data.index.tolist() and back.data.columns.tolist() == gct.data.columns.tolist()
    for got, want in [(back.row_meta, gct.row_meta), (back.col_meta, gct.col_meta)]:
        assert list(got.columns) == list(want.columns)
        for field in want.columns:
            expected = want[field]
            if expected.isna().all():
                assert got[field].isna().all()
            else:
                pdt.assert_series_equal(got[field], expected, check_names=False, check_dtype=False, check_index_type=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    head=st.sampled_from(["#1.3\n", "#1.2\n", "#1.3\n2\t2\t1\t1\n", "#1.2\n1\t1\n", ""]),
    body=st.text(st.sampled_from(list("\t\n0123456789.-eNa#x ")), max_size=80),
)
def test_fuzz_gct_garbage_only_raises_format_errors(tmp_path: Path, head: str, body: str) -> None:
    path = tmp_path / "garbage.gct"
    path.write_text(head + body)
    try:
        gct = read_gct(path)
    except FormatError as err:
        assert err.path == str(path)
    else:
        assert gct.data.shape == (len(gct.row_meta), len(gct.col_meta))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gct=gct_objects())
def test_fuzz_gctx_round_trip(tmp_path: Path, gct: Gct) -> None:
    path = write_gctx(tmp_path / "fuzz.gctx", gct.data, gct.row_meta, gct.col_meta, chunk_cols=2)
    back = read_gctx(path)
    np.testing.assert_array_equal(back.data.to_numpy(), gct.data.to_numpy())
    assert back.data.columns.tolist() == gct.data.columns.tolist()
    assert list(back.row_meta.columns) == list(gct.row_meta.columns)


def test_column_reads_touch_only_their_chunks(tmp_path: Path) -> None:
    """Corrupt the compressed chunk of one column: every other column still reads, that one does not."""
    data = toy(50, 6)
    path = write_gctx(tmp_path / "x.gctx", data, chunk_cols=1)
    with h5py.File(path, "r") as f:
        info = f["0/DATA/0/matrix"].id.get_chunk_info_by_coord((3, 0))
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    got = read_gctx(path, cids=["s5", "s0", "s2"], meta=False).data
    np.testing.assert_array_equal(got.to_numpy(), data[["s5", "s0", "s2"]].to_numpy())
    assert len(list(iter_gctx_columns(path, chunk_size=1, cids=["s1", "s4"]))) == 2
    with pytest.raises(FormatError, match="intact HDF5") as err:
        read_gctx(path, cids=["s3"], meta=False)
    assert err.value.path == str(path)
