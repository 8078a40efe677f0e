"""LINCS metadata tables: real GSE92742 and LINCS 2020 files, synonyms, and errors that name the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.lincs.metadata import join_signature_metadata, landmark_gene_ids, read_gene_info, read_lincs_table


def write_tsv(path: Path, *rows: list[str]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    return path


# ---------------------------------------------------------------- genes


def test_gse92742_gene_info(shared_data: Path) -> None:
    genes = read_gene_info(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt")
    assert len(genes) == 12328 and int(genes.is_landmark.sum()) == 978
    assert genes.columns.tolist()[:5] == ["pr_gene_id", "pr_gene_symbol", "pr_gene_title", "pr_is_lm", "pr_is_bing"]
    assert genes.loc[0, ["gene_id", "gene_symbol", "is_landmark"]].tolist() == ["780", "DDR1", True]
    derived = pd.read_csv(shared_data / "l1000" / "GSE92742_landmark_978.derived.tsv", sep="\t", dtype=str)
    assert landmark_gene_ids(genes) == derived.pr_gene_id.tolist()


def test_lincs2020_geneinfo_beta(shared_data: Path) -> None:
    beta = read_gene_info(shared_data / "GeneExpressionGNN" / "geneinfo_beta.txt")
    assert len(beta) == 12328 and int(beta.is_landmark.sum()) == 978
    assert beta.loc[beta.gene_id == "750", "gene_symbol"].tolist() == ["GAS8-AS1"]
    assert pd.isna(beta.loc[beta.gene_id == "6315", "ensembl_id"].iloc[0])  # written as "" in the file
    gse = read_gene_info(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt")
    assert set(landmark_gene_ids(beta)) == set(landmark_gene_ids(gse))


def test_gene_info_errors(tmp_path: Path) -> None:
    header = ["pr_gene_id", "pr_gene_symbol", "pr_gene_title", "pr_is_lm", "pr_is_bing"]
    dup = write_tsv(tmp_path / "dup.txt", header, ["1", "A", "a", "1", "1"], ["2", "B", "b", "0", "1"], ["1", "C", "c", "0", "0"])
    with pytest.raises(FormatError, match="first on line 2") as err:
        read_gene_info(dup)
    assert err.value.line == 4 and err.value.field == "gene_id"
    with pytest.raises(FormatError, match="pr_is_lm") as err:
        read_gene_info(write_tsv(tmp_path / "cols.txt", ["pr_gene_id", "pr_gene_symbol"], ["1", "A"]))
    assert err.value.line == 1 and "feature_space" in str(err.value)
    with pytest.raises(FormatError, match="'yes'") as err:
        read_gene_info(write_tsv(tmp_path / "flag.txt", header, ["1", "A", "a", "1", "1"], ["2", "B", "b", "yes", "1"]))
    assert err.value.line == 3 and err.value.field == "pr_is_lm"


# ---------------------------------------------------------------- sig / inst / pert / cell tables


def test_real_pert_info_tables(shared_data: Path) -> None:
    dhimmel = read_lincs_table(shared_data / "drugs" / "dhimmel_pertinfo.tsv.gz", "pert_info")
    assert len(dhimmel) == 51385 and dhimmel.pert_id.is_unique
    row = dhimmel.set_index("pert_id").loc["BRD-K28115298"]
    assert row.pert_iname == "Broad-Sai-071" and pd.isna(row.pubchem_cid) and pd.isna(row.molecular_wt)  # -666, -666.0
    gse = read_lincs_table(shared_data / "drugs" / "sigsearch_lincs_pert_info_GSE92742cp.tsv.gz", "pert_info")
    assert len(gse) == 8140 and {"canonical_smiles", "inchi_key", "MOA"} <= set(gse.columns)


def test_real_cell_info_tables(shared_data: Path) -> None:
    cells = read_lincs_table(shared_data / "l1000" / "sigsearch_cell_info_30lines.tsv", "cell_info")
    assert len(cells) == 30 and cells.set_index("cell_id").loc["A549", "primary_site"] == "lung"
    with pytest.raises(FormatError) as err:  # two LINCS API records have no cell_id
        read_lincs_table(shared_data / "l1000" / "dhimmel_cellinfo.tsv.gz", "cell_info")
    assert err.value.line == 835 and err.value.field == "cell_id"


def test_real_tables_with_problems(shared_data: Path) -> None:
    with pytest.raises(FormatError, match="first on line 8") as err:  # a signature table has one row per shRNA signature
        read_lincs_table(shared_data / "l1000" / "cmapr_test_cdesc.txt", "pert_info")
    assert err.value.line == 12 and "TRCN0000072181" in str(err.value)
    with pytest.raises(FormatError) as err:  # signatureSearch's index has only pert, cell, pert_type
        read_lincs_table(shared_data / "l1000" / "sigsearch_lincs_sig_info_pert_cell.tsv.gz", "sig_info")
    assert err.value.line == 1 and err.value.found.startswith("no sig_id, pert_id, pert_iname (cmap_name), cell_id (cell_iname)")


def test_real_sig_info_with_carriage_returns(shared_data: Path, tmp_path: Path) -> None:
    """cmapPy's LJP signature annotations (\\r line ends), with ``id`` named ``sig_id`` as in GSE92742 sig_info."""
    header, rest = (shared_data / "l1000" / "cmappy_LJP_row_metadata.txt").read_bytes().split(b"\r", 1)
    path = tmp_path / "sig_info.txt"
    path.write_bytes(b"\t".join(b"sig_id" if h == b"id" else h for h in header.split(b"\t")) + b"\r" + rest)
    sigs = read_lincs_table(path, "sig_info")
    assert len(sigs) == len([r for r in rest.split(b"\r") if r]) == 358 and sigs.sig_id.is_unique
    assert sigs.pert_dose.dtype == np.float64 and sigs.pert_time.dtype == np.float64
    first = sigs.iloc[0]
    assert first.pert_iname == "vorinostat" and first.pert_dose == 10.0 and first.pert_time == 24.0
    assert first.distil_id.split("|")[0] == "LJP007_MCF7_24H_X1_B20:A03"
    assert pd.isna(first.mfc_plate_id)  # -666


def test_lincs2020_names_become_gse92742_names(tmp_path: Path) -> None:
    header = [
        "sig_id",
        "pert_id",
        "cmap_name",
        "pert_type",
        "cell_iname",
        "pert_dose",
        "pert_dose_unit",
        "pert_time",
        "distil_ids",
    ]
    path = write_tsv(
        tmp_path / "siginfo_beta.txt",
        header,
        ["S1", "BRD-1", "drugA", "trt_cp", "A375", "10", "uM", "24", "a:1|b:1"],
        ["S2", "DMSO", "DMSO", "ctl_vehicle", "A549", "-666", "-666", "6", "c:1"],
    )
    sigs = read_lincs_table(path, "sig_info")
    assert sigs.columns.tolist() == [
        "sig_id", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_dose", "pert_dose_unit", "pert_time", "distil_id",
    ]  # fmt: skip
    assert sigs.pert_dose.tolist()[0] == 10.0 and pd.isna(sigs.pert_dose.iloc[1]) and pd.isna(sigs.pert_dose_unit.iloc[1])
    assert sigs.pert_time.tolist() == [24.0, 6.0]


def test_inst_info_keeps_both_plate_columns_when_present(tmp_path: Path) -> None:
    header = ["sample_id", "det_plate", "rna_plate", "pert_id", "cmap_name", "pert_type", "cell_iname", "pert_dose", "pert_time"]
    row = ["P1_X1_B1:A01", "P1_X1_B1", "P1_X1", "DMSO", "DMSO", "ctl_vehicle", "A375", "-666", "24"]
    inst = read_lincs_table(write_tsv(tmp_path / "instinfo.txt", header, row), "inst_info")
    assert inst.loc[0, ["inst_id", "det_plate", "rna_plate"]].tolist() == ["P1_X1_B1:A01", "P1_X1_B1", "P1_X1"]
    only_det = read_lincs_table(write_tsv(tmp_path / "det.txt", header[:2] + header[3:], row[:2] + row[3:]), "inst_info")
    assert only_det.loc[0, "rna_plate"] == "P1_X1_B1"


def test_dose_and_time_from_display_text(tmp_path: Path) -> None:
    """GSE70138-style tables give only pert_idose / pert_itime."""
    header = ["sig_id", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_idose", "pert_itime", "distil_id"]
    path = write_tsv(
        tmp_path / "sig.txt.gz",
        header,
        ["S1", "BRD-1", "a", "trt_cp", "A375", "10 µM", "24 h", "x"],
        ["S2", "BRD-2", "b", "trt_cp", "A375", "0.37 uM", "6 h", "y"],
        ["S3", "DMSO", "DMSO", "ctl_vehicle", "A375", "-666", "24 h", "z"],
    )
    path.write_bytes(gzip.compress(path.read_bytes()))
    sigs = read_lincs_table(path, "sig_info")
    assert sigs.pert_dose.tolist()[:2] == [10.0, 0.37] and pd.isna(sigs.pert_dose.iloc[2])
    assert sigs.pert_dose_unit.tolist()[:2] == ["µM", "uM"] and sigs.pert_time_unit.tolist() == ["h", "h", "h"]
    bad = write_tsv(tmp_path / "bad.txt", header, ["S1", "BRD-1", "a", "trt_cp", "A375", "ten µM", "24 h", "x"])
    with pytest.raises(FormatError) as err:
        read_lincs_table(bad, "sig_info")
    assert err.value.line == 2 and err.value.field == "pert_idose"


def test_table_errors_name_line_and_field(tmp_path: Path) -> None:
    header = ["inst_id", "rna_plate", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_dose", "pert_time"]
    good = ["i1", "p", "BRD-1", "a", "trt_cp", "A375", "10.0", "24"]
    with pytest.raises(FormatError, match="'10 µM'") as err:
        read_lincs_table(write_tsv(tmp_path / "dose.txt", header, good, ["i2", *good[1:6], "10 µM", "24"]), "inst_info")
    assert err.value.line == 3 and err.value.field == "pert_dose"
    with pytest.raises(FormatError, match="unique inst_id") as err:
        read_lincs_table(write_tsv(tmp_path / "dup.txt", header, good, ["i2", *good[1:]], good), "inst_info")
    assert err.value.line == 4
    blank_inside = tmp_path / "blank.txt"
    blank_inside.write_text("\t".join(header) + "\n" + "\t".join(good) + "\n\n" + "\t".join(["i3", *good[1:]]) + "\n")
    with pytest.raises(FormatError) as err:
        read_lincs_table(blank_inside, "inst_info")
    assert err.value.line == 3
    trailing = tmp_path / "trailing.txt"
    trailing.write_text("\t".join(header) + "\n" + "\t".join(good) + "\n\n\n")
    assert len(read_lincs_table(trailing, "inst_info")) == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(FormatError, match="empty"):
        read_lincs_table(empty, "cell_info")


# ---------------------------------------------------------------- joining


def test_join_signature_metadata_with_real_annotations(shared_data: Path) -> None:
    pert = read_lincs_table(shared_data / "drugs" / "sigsearch_lincs_pert_info_GSE92742cp.tsv.gz", "pert_info")
    cell = read_lincs_table(shared_data / "l1000" / "sigsearch_cell_info_30lines.tsv", "cell_info")
    sig = pd.DataFrame(
        {
            "sig_id": ["s1", "s2", "s3", "s4"],
            "pert_id": ["BRD-A00100033", "BRD-A00100033", "BRD-A00150179", "BRD-NOT-THERE"],
            "pert_iname": ["nifurtimox (sig)", "nifurtimox", "5-HTP", "unknown"],
            "cell_id": ["A375", "A549", "A375", "MYSTERY"],
        },
        index=[10, 11, 12, 13],
    )
    joined = join_signature_metadata(sig, pert, cell)
    assert len(joined) == 4 and joined.index.tolist() == [10, 11, 12, 13] and joined.sig_id.tolist() == sig.sig_id.tolist()
    assert joined.pert_iname.tolist() == sig.pert_iname.tolist()  # the signature's own columns win
    assert joined.loc[10, "canonical_smiles"] == "CC1CS(=O)(=O)CCN1N=Cc1ccc(o1)[N+]([O-])=O"
    assert joined.loc[11, "primary_site"] == "lung" and joined.loc[10, "primary_site"] == "skin"
    assert pd.isna(joined.loc[13, "inchi_key"]) and pd.isna(joined.loc[13, "primary_site"])


def test_join_refuses_to_duplicate_signatures() -> None:
    sig = pd.DataFrame({"sig_id": ["s1"], "pert_id": ["p1"], "cell_id": ["c1"]})
    cell = pd.DataFrame({"cell_id": ["c1"], "primary_site": ["lung"]})
    pert = pd.DataFrame({"pert_id": ["p1", "p1"], "moa": ["x", "y"]})
    with pytest.raises(DataError, match="more than once"):
        join_signature_metadata(sig, pert, cell)
    with pytest.raises(DataError, match="cell_id"):
        join_signature_metadata(sig, pert.iloc[:1], cell.drop(columns="cell_id"))


def test_join_never_matches_missing_keys() -> None:
    sig = pd.DataFrame({"sig_id": ["s1", "s2"], "pert_id": ["p1", None], "cell_id": ["c1", "c1"]})
    pert = pd.DataFrame({"pert_id": ["p1", None], "moa": ["real", "orphan"]})
    joined = join_signature_metadata(sig, pert, pd.DataFrame({"cell_id": ["c1"]}))
    assert joined.moa.iloc[0] == "real" and pd.isna(joined.moa.iloc[1])
