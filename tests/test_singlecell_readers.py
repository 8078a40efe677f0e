"""Single-cell readers: h5ad and 10x files read exactly as anndata and Cell Ranger hold them;
bad input fails with a FormatError naming the file; the embedded tissues agree across formats."""

import gzip
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import FormatError
from l1k_assets.singlecell.readers import CountMatrix, read_10x, read_features, read_h5ad, read_mtx
from l1k_assets.synthetic.singlecell_writer import write_10x, write_h5ad, write_singlecell
from l1k_assets.synthetic.universe import build_universe

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MTX_BANNER = "%%MatrixMarket matrix coordinate integer general\n"


def small_matrix(n_cells: int = 9, n_genes: int = 6, seed: int = 0) -> CountMatrix:
    """Random sparse integer counts with a categorical cell type, an integer and a text column."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 30, (n_cells, n_genes)) * (rng.random((n_cells, n_genes)) < 0.4)
    cells = pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["B Cells", "T Cells", "Goblet Cells"], n_cells)),
            "donor": rng.integers(1, 4, n_cells),
            "batch": [f"run{i % 2}" for i in range(n_cells)],
        },
        index=pd.Index([f"AAAC{i:04d}-1" for i in range(n_cells)], name="barcode"),
    )
    genes = pd.DataFrame(
        {"symbol": [f"SYM{i}" for i in range(n_genes)]}, index=pd.Index([f"ENSG{i:011d}" for i in range(n_genes)], name="gene_id")
    )
    return CountMatrix(sp.csr_matrix(dense.astype(np.float32)), cells, genes, "test")


def assert_same(ours: CountMatrix, expected: CountMatrix) -> None:
    """Counts, barcodes, gene ids, symbols and (when both have them) cell-type labels are identical."""
    assert ours.counts.dtype == np.float32 and ours.counts.shape == expected.counts.shape
    assert (ours.counts != expected.counts).nnz == 0
    assert ours.cells.index.tolist() == expected.cells.index.tolist()
    assert ours.genes.index.tolist() == expected.genes.index.tolist()
    assert ours.genes.symbol.tolist() == expected.genes.symbol.tolist()
    if "cell_type" in ours.cells and "cell_type" in expected.cells:
        assert ours.cells.cell_type.astype(str).tolist() == expected.cells.cell_type.astype(str).tolist()


def features_of(matrix: CountMatrix) -> pd.DataFrame:
    return matrix.genes.reset_index().assign(feature_type="Gene Expression")


def write_gz_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))
    return path


def mtx_text(counts: sp.csr_matrix) -> str:
    """The 10x orientation (features × cells), one entry per line."""
    coo = counts.T.tocoo()
    lines = [f"{r + 1} {c + 1} {int(v)}\n" for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)]
    return MTX_BANNER + f"{coo.shape[0]} {coo.shape[1]} {coo.nnz}\n" + "".join(lines)


# ---------------------------------------------------------------- AnnData


@pytest.fixture(scope="module")
def anndata():
    ad = pytest.importorskip("anndata")
    ad.settings.allow_write_nullable_strings = True  # pandas 3 holds text as StringDtype
    return ad


@pytest.mark.parametrize("variant", ["csr", "csc", "dense", "raw", "layer"])
def test_h5ad_reads_what_anndata_wrote(anndata, tmp_path: Path, variant: str) -> None:
    """X as CSR, CSC or dense, or counts in raw/X or layers/counts beside a normalised X."""
    expected = small_matrix()
    counts = expected.counts
    normalised = sp.csr_matrix(np.log1p(counts.toarray() / 3.0).astype(np.float32))
    x = {"csr": counts, "csc": counts.tocsc(), "dense": counts.toarray()}.get(variant, normalised)
    adata = anndata.AnnData(X=x, obs=expected.cells.copy(), var=expected.genes.copy())
    if variant == "raw":
        adata.raw = anndata.AnnData(X=counts, obs=expected.cells.copy(), var=expected.genes.copy())
    if variant == "layer":
        adata.layers["counts"] = counts
    path = tmp_path / f"{variant}.h5ad"
    adata.write_h5ad(path)
    key = {"raw": "raw/X", "layer": "layers/counts"}.get(variant, "X")

    ours = read_h5ad(path, matrix=key, cell_type_column="cell_type")
    assert_same(ours, expected)
    back = anndata.read_h5ad(path)
    pd.testing.assert_frame_equal(ours.cells, back.obs, check_names=False, check_index_type=False)
    assert ours.source == str(path)
    if variant in ("raw", "layer"):  # X holds normalised values: refused as counts, readable when asked
        with pytest.raises(FormatError, match="integer counts"):
            read_h5ad(path)
        assert abs(read_h5ad(path, require_integer=False).counts - normalised).max() < 1e-6


def test_h5ad_scanpy_layout_reindexes_by_gene_id(anndata, tmp_path: Path) -> None:
    """scanpy's read_10x_mtx indexes var by symbol and keeps ids in gene_ids, with text columns and missing values."""
    expected = small_matrix()
    var = pd.DataFrame(
        {"gene_ids": expected.genes.index.to_numpy(), "feature_types": "Gene Expression"}, index=expected.genes.symbol.to_numpy()
    )
    obs = expected.cells.assign(note=pd.array(["x", None] * 4 + ["y"], dtype="string"), flag=np.arange(9) % 2 == 0)
    anndata.AnnData(X=expected.counts, obs=obs, var=var).write_h5ad(tmp_path / "s.h5ad")
    ours = read_h5ad(tmp_path / "s.h5ad", gene_id_column="gene_ids")
    assert_same(ours, expected)
    assert ours.cells.note.isna().tolist() == [False, True] * 4 + [False]
    assert ours.cells.flag.tolist() == (np.arange(9) % 2 == 0).tolist()


def test_written_h5ad_reads_identically_in_anndata(anndata, tmp_path: Path) -> None:
    """Our h5py writer follows the spec: anndata sees the same counts and annotation, in CSR and CSC."""
    expected = small_matrix()
    for layout in ("csr", "csc"):
        path = tmp_path / f"{layout}.h5ad"
        write_h5ad(path, expected, layout)
        adata = anndata.read_h5ad(path)
        assert adata.X.format == layout
        assert (sp.csr_matrix(adata.X) != expected.counts).nnz == 0
        pd.testing.assert_frame_equal(adata.obs, expected.cells, check_names=False, check_index_type=False, check_dtype=False)
        assert adata.var_names.tolist() == expected.genes.index.tolist()
        assert_same(read_h5ad(path, cell_type_column="cell_type"), expected)


def test_h5ad_dense_and_legacy_sparse_written_with_h5py(tmp_path: Path) -> None:
    """Without anndata: a dense X longer than one conversion block, and the pre-0.7 h5sparse attributes."""
    expected = small_matrix(n_cells=5000, n_genes=3, seed=1)
    path = tmp_path / "dense.h5ad"
    write_h5ad(path, expected)
    with h5py.File(path, "r+") as f:
        del f["X"]
        f["X"] = expected.counts.toarray()
    assert_same(read_h5ad(path), expected)
    with h5py.File(path, "r+") as f:
        del f["X"]
        group = f.create_group("X")
        group.attrs["h5sparse_format"] = "csr"
        group.attrs["h5sparse_shape"] = expected.shape
        for name in ("data", "indices", "indptr"):
            group[name] = getattr(expected.counts, name)
    assert_same(read_h5ad(path), expected)


# ---------------------------------------------------------------- 10x folders


def test_10x_round_trip_drops_antibody_capture(tmp_path: Path) -> None:
    expected = small_matrix()
    adt = pd.DataFrame({"gene_id": ["CD3_TotalSeqB"], "symbol": ["CD3"], "feature_type": ["Antibody Capture"]})
    counts = sp.hstack([expected.counts, sp.csr_matrix(np.full((9, 1), 7.0, np.float32))], format="csr")
    write_10x(tmp_path, counts, pd.concat([features_of(expected), adt]), expected.cells.index)
    ours = read_10x(tmp_path)
    assert_same(ours, expected)
    assert list(ours.cells.columns) == [] and list(ours.genes.columns) == ["symbol"]


def test_10x_legacy_plain_files_and_metadata_join(tmp_path: Path) -> None:
    """Cell Ranger 2 folders: uncompressed matrix.mtx, two-column genes.tsv; labels joined from a CSV by barcode."""
    expected = small_matrix()
    (tmp_path / "matrix.mtx").write_text(mtx_text(expected.counts))
    expected.genes.reset_index().to_csv(tmp_path / "genes.tsv", sep="\t", header=False, index=False)
    (tmp_path / "barcodes.tsv").write_text("".join(f"{b}\n" for b in expected.cells.index))
    labels = expected.cells.reset_index().rename(columns={"barcode": "cell_id", "cell_type": "label"}).iloc[1:]
    labels.to_csv(tmp_path / "labels.csv.gz", index=False)

    ours = read_10x(tmp_path, metadata=tmp_path / "labels.csv.gz", barcode_column="cell_id", cell_type_column="label")
    assert_same(ours, replace(expected, cells=expected.cells[[]]))
    assert ours.cells.cell_type.dtype == "category"
    assert pd.isna(ours.cells.cell_type.iloc[0]), "a cell missing from the metadata keeps a missing label"
    assert ours.cells.cell_type.iloc[1:].astype(str).tolist() == expected.cells.cell_type.iloc[1:].astype(str).tolist()
    assert ours.cells.donor.iloc[1:].tolist() == expected.cells.donor.iloc[1:].tolist()


def test_same_matrix_reads_identically_from_both_formats(tmp_path: Path) -> None:
    expected = small_matrix(n_cells=40, n_genes=12, seed=3)
    write_h5ad(tmp_path / "m.h5ad", expected)
    write_10x(tmp_path / "10x", expected.counts, features_of(expected), expected.cells.index)
    expected.cells.reset_index().to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    from_h5ad = read_h5ad(tmp_path / "m.h5ad", cell_type_column="cell_type")
    from_10x = read_10x(tmp_path / "10x", metadata=tmp_path / "cells.tsv", cell_type_column="cell_type")
    assert_same(from_h5ad, from_10x)
    assert_same(from_h5ad, expected)


# ---------------------------------------------------------------- bad input


@pytest.fixture
def tenx(tmp_path: Path) -> Path:
    """A valid 10x folder of ``small_matrix()`` for the corruption tests to break."""
    matrix = small_matrix()
    write_10x(tmp_path / "10x", matrix.counts, features_of(matrix), matrix.cells.index)
    return tmp_path / "10x"


def replace_mtx(folder: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    path = folder / "matrix.mtx.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    return write_gz_text(path, "".join(edit(lines)))


def entry_edit(value: str, field: int = 2) -> Callable[[list[str]], list[str]]:
    """Replace one field of the first entry line (the banner, a comment and the size line come first)."""

    def edit(lines: list[str]) -> list[str]:
        parts = lines[3].split()
        parts[field] = value
        return [*lines[:3], " ".join(parts) + "\n", *lines[4:]]

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (entry_edit("2.5"), "integer counts"),
        (entry_edit("-4"), "non-negative counts"),
        (entry_edit("99", field=0), "1-based indices"),  # row past the size line
        (entry_edit("0", field=1), "1-based indices"),
        (entry_edit("12x"), "Matrix Market"),  # pandas cannot convert it
        (lambda lines: lines[:-1], "as the size line says"),  # fewer entries than announced
        (lambda lines: [*lines, lines[-1]], "as the size line says"),  # more entries than announced
        (lambda lines: [*lines[:3], "1 1 1 1\n", *lines[4:]], "Matrix Market|fields per entry"),
        (lambda lines: [lines[0].replace("coordinate", "array"), *lines[1:]], "banner"),
        (lambda lines: [lines[0].replace("general", "symmetric"), *lines[1:]], "banner"),
        (lambda lines: lines[:2], "size line"),
    ],
)
def test_bad_mtx_names_the_file(tenx: Path, edit: Callable[[list[str]], list[str]], message: str) -> None:
    path = replace_mtx(tenx, edit)
    with pytest.raises(FormatError, match=message) as caught:
        read_10x(tenx)
    assert caught.value.path == str(path)


def test_mtx_errors_point_at_the_line(tenx: Path) -> None:
    replace_mtx(tenx, entry_edit("3.5"))
    with pytest.raises(FormatError) as caught:
        read_mtx(tenx / "matrix.mtx.gz")
    assert caught.value.line == 4
    row, column, _ = gzip.decompress((tenx / "matrix.mtx.gz").read_bytes()).decode().splitlines()[3].split()
    assert read_mtx(tenx / "matrix.mtx.gz", require_integer=False)[int(row) - 1, int(column) - 1] == 3.5


def test_bad_10x_tables_name_the_file(tenx: Path, tmp_path: Path) -> None:
    features = tenx / "features.tsv.gz"
    lines = gzip.decompress(features.read_bytes()).decode().splitlines(keepends=True)
    write_gz_text(features, "".join(lines[:-1]))
    with pytest.raises(FormatError, match="6 lines, one per row") as caught:
        read_10x(tenx)
    assert caught.value.path == str(features)
    write_gz_text(features, "".join(lines))

    barcodes = tenx / "barcodes.tsv.gz"
    names = gzip.decompress(barcodes.read_bytes()).decode().split()
    write_gz_text(barcodes, "".join(f"{b}\n" for b in [*names[:-1], names[0]]))
    with pytest.raises(FormatError, match="unique barcodes") as caught:
        read_10x(tenx)
    assert caught.value.path == str(barcodes)
    write_gz_text(barcodes, "".join(f"{b}\n" for b in names))

    write_gz_text(features, "".join(lines[:3]) + "ENSG1\n" + "".join(lines[4:]))
    with pytest.raises(FormatError, match="same number of fields") as caught:
        read_10x(tenx)
    assert caught.value.path == str(features)
    write_gz_text(features, "".join(lines))

    meta = tmp_path / "meta.tsv"
    meta.write_text("cell\tcell_type\nAAAC0000-1\tB\n")
    with pytest.raises(FormatError, match="barcode column") as caught:
        read_10x(tenx, metadata=meta)
    assert caught.value.path == str(meta)
    meta.write_text("barcode\tcell_type\nAAAC0000-1\tB\nAAAC0000-1\tT\n")
    with pytest.raises(FormatError, match="unique barcodes"):
        read_10x(tenx, metadata=meta)
    meta.write_text("barcode\tcell_type\nOTHER-1\tB\n")
    with pytest.raises(FormatError, match="none of its 1 barcodes"):
        read_10x(tenx, metadata=meta)
    meta.write_text("barcode\tlabel\nAAAC0000-1\tB\n")
    with pytest.raises(FormatError, match="column 'cell_type'"):
        read_10x(tenx, metadata=meta, cell_type_column="cell_type")

    (tenx / "barcodes.tsv.gz").unlink()
    with pytest.raises(FormatError, match=r"barcodes\.tsv") as caught:
        read_10x(tenx)
    assert caught.value.path == str(tenx)


def test_bad_h5ad_names_the_file_and_key(tmp_path: Path) -> None:
    matrix = small_matrix()
    path = tmp_path / "m.h5ad"
    write_h5ad(path, matrix)

    with pytest.raises(FormatError, match="'layers/counts'") as caught:
        read_h5ad(path, matrix="layers/counts")
    assert caught.value.path == str(path) and caught.value.field == "layers/counts"
    with pytest.raises(FormatError, match="column 'celltype'"):
        read_h5ad(path, cell_type_column="celltype")
    with pytest.raises(FormatError, match="var column 'gene_ids'"):
        read_h5ad(path, gene_id_column="gene_ids")

    def rewrite(key: str, values: np.ndarray) -> None:
        write_h5ad(path, matrix)
        with h5py.File(path, "r+") as f:
            del f[key]
            f[key] = values

    rewrite("X/data", -matrix.counts.data)
    with pytest.raises(FormatError, match="non-negative counts") as caught:
        read_h5ad(path)
    assert caught.value.field == "X"
    rewrite("X/data", matrix.counts.data + 0.25)
    with pytest.raises(FormatError, match="integer counts"):
        read_h5ad(path)
    assert read_h5ad(path, require_integer=False).counts.data[0] == matrix.counts.data[0] + 0.25
    rewrite("X/indices", matrix.counts.indices + 6)  # past the last gene
    with pytest.raises(FormatError, match="AnnData"):
        read_h5ad(path)
    rewrite("obs/_index", np.array(["AAAC-1"] * 9, dtype=object))
    with pytest.raises(FormatError, match="unique obs names"):
        read_h5ad(path)

    write_h5ad(path, matrix)
    with h5py.File(path, "r+") as f:
        del f["obs"]
    with pytest.raises(FormatError, match="'obs'"):
        read_h5ad(path)
    (tmp_path / "not.h5ad").write_text("hello")
    with pytest.raises(FormatError, match="HDF5") as caught:
        read_h5ad(tmp_path / "not.h5ad")
    assert caught.value.path == str(tmp_path / "not.h5ad")


# ---------------------------------------------------------------- property tests


@st.composite
def count_matrices(draw: st.DrawFn) -> CountMatrix:
    """Small matrices with many zeros, empty rows and columns included."""
    n_cells, n_genes = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    values = draw(st.lists(st.integers(0, 3) | st.integers(0, 10**6), min_size=n_cells * n_genes, max_size=n_cells * n_genes))
    dense = np.array(values, dtype=np.float32).reshape(n_cells, n_genes) * (np.array(values).reshape(n_cells, n_genes) % 3 != 0)
    symbols = draw(st.lists(st.text("ABCXYZ-.0123456789", min_size=1, max_size=6), min_size=n_genes, max_size=n_genes))
    cells = pd.DataFrame(index=pd.Index([f"C{i}-1" for i in range(n_cells)], name="barcode"))
    genes = pd.DataFrame({"symbol": symbols}, index=pd.Index([f"ENSG{i}" for i in range(n_genes)], name="gene_id"))
    return CountMatrix(sp.csr_matrix(dense), cells, genes, "fuzz")


@FUZZ
@given(matrix=count_matrices())
def test_fuzz_10x_round_trip(tmp_path: Path, matrix: CountMatrix) -> None:
    write_10x(tmp_path, matrix.counts, features_of(matrix), matrix.cells.index)
    assert_same(read_10x(tmp_path), matrix)


CORRUPTIONS = ["drop_entry", "extra_entry", "row_too_big", "column_zero", "token", "negative", "fraction", "cut"]


@FUZZ
@given(matrix=count_matrices().filter(lambda m: m.counts.nnz > 0), kind=st.sampled_from(CORRUPTIONS), data=st.data())
def test_fuzz_corrupt_mtx_raises_format_error(tmp_path: Path, matrix: CountMatrix, kind: str, data: st.DataObject) -> None:
    """Each corruption of one entry line makes the file invalid; the only exception is FormatError naming the file."""
    header, *entries = mtx_text(matrix.counts).splitlines(keepends=True)[1:]
    at = data.draw(st.integers(0, len(entries) - 1))
    row, column, value = entries[at].split()
    past_end = matrix.shape[1] + data.draw(st.integers(1, 10**12))
    token = data.draw(st.sampled_from(["x", "--1", "1..2", "nan", "inf", ""]))
    edited = {
        "drop_entry": [],  # fewer entries than the size line announces
        "extra_entry": [entries[at], entries[at]],  # more
        "row_too_big": [f"{past_end} {column} {value}\n"],
        "column_zero": [f"{row} 0 {value}\n"],  # indices are 1-based
        "token": [f"{row} {column} {token}\n"],
        "negative": [f"{row} {column} -{value}\n"],
        "fraction": [f"{row} {column} {value}.5\n"],
        "cut": [entries[at]],
    }[kind]
    text = "".join([MTX_BANNER, header, *entries[:at], *edited, *entries[at + 1 :]])
    if kind == "cut":  # stop before the last line's final number starts: cutting inside it leaves a valid file
        text = text[: data.draw(st.integers(0, text.rstrip("\n").rfind(" ")))]
    path = write_gz_text(tmp_path / "matrix.mtx.gz", text)
    with pytest.raises(FormatError) as caught:
        read_mtx(path)
    assert caught.value.path == str(path)


@FUZZ
@given(
    matrix=count_matrices(),
    edits=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.binary(min_size=1, max_size=3), st.booleans()), max_size=4
    ),
)
def test_fuzz_mutated_10x_reads_or_raises_format_error(
    tmp_path: Path, matrix: CountMatrix, edits: list[tuple[int, int, bytes, bool]]
) -> None:
    """Arbitrary byte edits in any of the three files, in the text or in the gzip stream: a matrix or a FormatError."""
    write_10x(tmp_path, matrix.counts, features_of(matrix), matrix.cells.index)
    files = sorted(tmp_path.iterdir())
    for which, position, new, compressed in sorted(edits, key=lambda edit: edit[3]):  # text edits before gzip edits
        raw = bytearray(files[which].read_bytes() if compressed else gzip.decompress(files[which].read_bytes()))
        at = position % (len(raw) + 1)
        raw[at : at + len(new)] = new
        files[which].write_bytes(bytes(raw) if compressed else gzip.compress(bytes(raw)))
    try:
        read_10x(tmp_path)
    except FormatError as exc:
        assert exc.path.startswith(str(tmp_path))


@FUZZ
@given(text=st.text(st.sampled_from("ab\t\n\r\"' 1é"), max_size=60))
def test_fuzz_features_parser(tmp_path: Path, text: str) -> None:
    path = write_gz_text(tmp_path / "features.tsv.gz", text)
    try:
        table = read_features(path)
    except FormatError as exc:
        assert exc.path == str(path)
    else:
        assert list(table.columns[:2]) == ["gene_id", "symbol"] and not table.isna().any().any()


# ---------------------------------------------------------------- the embedded tissues


@pytest.fixture(scope="module")
def singlecell_mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("singlecell")
    return root, write_singlecell(build_universe("tiny", seed=0), root)


def read_dataset(root: Path, files: dict[str, str], kind: str) -> CountMatrix:
    if kind == "h5ad":
        return read_h5ad(root / files["h5ad"], cell_type_column="cell_type")
    return read_10x(root / files["10x"], metadata=root / files["cell_metadata"], cell_type_column="cell_type")


def test_embedded_tissues_identical_in_both_formats(singlecell_mirror: tuple[Path, dict]) -> None:
    root, truth = singlecell_mirror
    assert set(truth["datasets"]) == {"colon", "prostate"}
    assert {d["primary_format"] for d in truth["datasets"].values()} == {"h5ad", "10x"}
    for dataset in truth["datasets"].values():
        from_h5ad = read_dataset(root, dataset["files"], "h5ad")
        from_10x = read_dataset(root, dataset["files"], "10x")
        assert_same(from_h5ad, from_10x)
        assert from_h5ad.shape == (dataset["n_cells"], 400)
        assert 1500 <= dataset["n_cells"] <= 2500
        assert from_h5ad.cells.cell_type.value_counts().to_dict() == dataset["cells_per_type"]
        assert len(dataset["cell_types"]) == 12
        assert not set(truth["non_gene_features"]) & set(from_10x.genes.index)
        zeros = 1 - from_h5ad.counts.nnz / np.prod(from_h5ad.shape)
        assert zeros > 0.5, f"most entries should be zero, {zeros:.0%} are"


def test_embedded_h5ad_reads_in_anndata(anndata, singlecell_mirror: tuple[Path, dict]) -> None:
    root, truth = singlecell_mirror
    for dataset in truth["datasets"].values():
        adata = anndata.read_h5ad(root / dataset["files"]["h5ad"])
        ours = read_dataset(root, dataset["files"], "h5ad")
        assert (sp.csr_matrix(adata.X) != ours.counts).nnz == 0
        assert adata.obs.cell_type.astype(str).tolist() == ours.cells.cell_type.astype(str).tolist()
