"""Search results written as TSV, Parquet and GCT and printed as JSON, from a real search on real signatures.

The result table comes from the whole path a query takes: symbols resolved in GSE92742's gene
space, then WTCS/NCS with permutation p-values over signatureSearch's 100 real LINCS signatures
(their names give compound, cell line and perturbagen type; their doses are not in the sample,
so pert_dose is missing — the NaN every format must keep).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.gctx import write_gctx
from l1k_assets.lincs.metadata import read_gene_info
from l1k_assets.search.connectivity import SignatureFilter, search
from l1k_assets.search.genespace import GeneSpace, ResolvedQuery
from l1k_assets.search.rank_index import RankIndex, build_rank_index
from l1k_assets.search.results import SUFFIXES, OutputPathError, results_json, score_columns, write_results

SCORES = ["wtcs", "ncs", "p_value"]
Searched = tuple[pd.DataFrame, ResolvedQuery]


@pytest.fixture(scope="module")
def searched(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """The 10 best mimics of vorinostat's own top and bottom 25 genes (named by symbol), with p-values."""
    with h5py.File(shared_data / "l1000" / "sigsearch_sample_db.h5", "r") as f:
        values = f["assay"][()]
        names = [c.decode() for c in f["colnames"][0]]
        genes = [r.decode() for r in f["rownames"][0]]
    sig_ids = [f"{name}:{i}" for i, name in enumerate(names)]  # a few compounds appear twice
    matrix = pd.DataFrame(values.T.astype(np.float32), index=genes, columns=sig_ids)
    parts = pd.Series(names).str.split("__", expand=True)
    sig_info = pd.DataFrame(
        {"sig_id": sig_ids, "pert_iname": parts[0], "cell_id": parts[1], "pert_type": parts[2], "pert_dose": np.nan}
    )
    folder = tmp_path_factory.mktemp("results")
    index_path = build_rank_index(write_gctx(folder / "sample.gctx", matrix), folder / "sample.rank.h5")
    table = read_gene_info(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt")
    symbols = table.set_index("gene_id").gene_symbol.loc[matrix[sig_ids[0]].sort_values().index]
    with RankIndex(index_path) as index:
        query = GeneSpace(table, index.gene_ids).resolve(symbols[-25:][::-1].tolist(), [*symbols[:25].tolist(), "NOPE"])
        result = search(index, query.up, query.down, sig_info=sig_info, top=10, direction="mimic", permutations=99)
    return result, query


# ---------------------------------------------------------------- round trips


def test_the_result_is_a_real_search(searched: Searched) -> None:
    table, query = searched
    assert table.columns.tolist() == ["sig_id", "rank", *SCORES, "pert_iname", "cell_id", "pert_type", "pert_dose"]
    assert table.sig_id.iloc[0] == "vorinostat__SKB__trt_cp:0"  # the query's own signature mimics it best
    assert (len(query.up), len(query.down)) == (23, 25)  # 2 of vorinostat's top genes are not BING genes
    assert query.report.status.value_counts().to_dict() == {"valid": 48, "valid_not_used": 2, "invalid": 1}
    assert score_columns(table) == SCORES


def test_tsv_round_trip(searched: Searched, tmp_path: Path) -> None:
    table, _ = searched
    path = write_results(table, tmp_path / "hits.tsv")
    back = pd.read_csv(path, sep="\t", float_precision="round_trip")  # every digit written is read back
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert back.pert_dose.isna().all() and back[SCORES].equals(table[SCORES])  # floats exact


def test_parquet_round_trip(searched: Searched, tmp_path: Path) -> None:
    table, _ = searched
    pd.testing.assert_frame_equal(pd.read_parquet(write_results(table, tmp_path / "hits.PARQUET")), table)


def test_gct_round_trip(searched: Searched, tmp_path: Path) -> None:
    table, _ = searched
    gct = read_gct(write_results(table, tmp_path / "hits.gct"))
    assert gct.data.index.tolist() == SCORES and gct.data.columns.tolist() == table.sig_id.tolist()
    np.testing.assert_array_equal(gct.data.to_numpy(), table[SCORES].to_numpy().T)
    expected = table.drop(columns=SCORES).set_index("sig_id")
    pd.testing.assert_frame_equal(gct.col_meta, expected, check_names=False, check_dtype=False)
    assert gct.col_meta["rank"].tolist() == list(range(1, 11)) and gct.col_meta.pert_dose.isna().all()
    assert gct.row_meta.shape == (3, 0)


def test_gct_with_chosen_score_rows(searched: Searched, tmp_path: Path) -> None:
    table, _ = searched
    gct = read_gct(write_results(table, tmp_path / "wtcs.gct", scores=["wtcs"]))
    assert gct.data.index.tolist() == ["wtcs"]
    np.testing.assert_array_equal(gct.col_meta.p_value.to_numpy(), table.p_value.to_numpy())  # now an annotation
    with pytest.raises(DataError, match=r"absent \['tau'\], not numeric \['cell_id'\]"):
        write_results(table, tmp_path / "bad.gct", scores=["wtcs", "tau", "cell_id"])
    with pytest.raises(DataError, match="none of the score columns"):
        write_results(table.drop(columns=SCORES), tmp_path / "bad.gct")
    assert not (tmp_path / "bad.gct").exists()


# ---------------------------------------------------------------- JSON


def test_results_json(searched: Searched) -> None:
    table, query = searched
    filters = SignatureFilter(cell_ids={"SKB", "MCF7"}, dose_range=(0.0, math.inf))
    description = {"method": "wtcs", "top": np.int64(10), "filters": filters, "tolerance": math.nan, "file": Path("up.txt")}
    document = json.loads(results_json(description, query.report, table))
    assert document["query"] == {
        "method": "wtcs",
        "top": 10,
        "filters": {"cell_ids": ["MCF7", "SKB"], "pert_types": None, "dose_range": [0.0, None], "times": None, "controls": False},
        "tolerance": None,
        "file": "up.txt",
    }
    assert len(document["genes"]) == 51 and document["genes"][-1] == {
        "side": "down",
        "input": "NOPE",
        "gene_id": None,
        "gene_symbol": None,
        "status": "invalid",
        "reason": "not a gene id or symbol of this release",
    }
    rows = document["results"]
    assert [r["sig_id"] for r in rows] == table.sig_id.tolist() and all(r["pert_dose"] is None for r in rows)
    assert [r["wtcs"] for r in rows] == table.wtcs.tolist() and rows[0]["rank"] == 1


# ---------------------------------------------------------------- paths and atomicity


def test_bad_output_paths_raise_before_writing(searched: Searched, tmp_path: Path) -> None:
    table, _ = searched
    with pytest.raises(OutputPathError, match=r"folder .*missing does not exist \(it is not created\)") as err:
        write_results(table, tmp_path / "missing" / "hits.tsv")
    assert err.value.path == tmp_path / "missing" / "hits.tsv" and not (tmp_path / "missing").exists()
    with pytest.raises(OutputPathError, match=r"unknown suffix '\.csv': results are written as \.tsv, \.parquet, \.gct"):
        write_results(table, tmp_path / "hits.csv")
    with pytest.raises(OutputPathError, match=r"unknown suffix '\(none\)'"):
        write_results(table, tmp_path / "hits")
    (tmp_path / "out.tsv").mkdir()
    with pytest.raises(OutputPathError, match="is a directory"):
        write_results(table, tmp_path / "out.tsv")
    (tmp_path / "plain").write_text("a file\n")
    with pytest.raises(OutputPathError, match="plain is not a directory"):
        write_results(table, tmp_path / "plain" / "hits.gct")
    assert isinstance(err.value, DataError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv", "plain"]


FAILING = {
    ".tsv": lambda t: pd.concat([t, t.head(1)]),  # a signature twice: refused before writing
    ".parquet": lambda t: t.assign(pert_iname=[1, *t.pert_iname[1:]]),  # pyarrow fails inside the temporary file
    ".gct": lambda t: t.assign(pert_iname="with\ttab"),  # a tab would break GCT's layout
}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failed_write_leaves_no_file_and_keeps_the_old_one(searched: Searched, tmp_path: Path, suffix: str) -> None:
    table, _ = searched
    broken = FAILING[suffix](table)
    with pytest.raises(DataError):
        write_results(broken, tmp_path / f"new{suffix}")
    earlier = write_results(table, tmp_path / f"hits{suffix}")
    before = earlier.read_bytes()
    with pytest.raises(DataError):
        write_results(broken, earlier)
    assert earlier.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [earlier.name]  # neither the new file nor a temporary one
