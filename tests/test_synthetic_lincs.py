"""The embedded default's LINCS release, paired inference set and drug-response sources.

The generated files must be readable by the same loaders as the real ones (names, roles,
columns, checksums) and must carry the planted truth each method is later scored against.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem, RDLogger

from l1k_assets.inference.pairs import L1000_PREFIX, RNASEQ_PREFIX, load_inference_pairs
from l1k_assets.lincs.derive import derive_level5, validate_matrix
from l1k_assets.lincs.gctx import read_gctx, read_gctx_meta
from l1k_assets.lincs.gctx_set import GctxSet
from l1k_assets.lincs.levels import level5_from_level3
from l1k_assets.lincs.metadata import read_gene_info, read_lincs_table
from l1k_assets.sources.checksums import parse_checksum_list
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GDSC_SMILES_FILE,
    clue_repurposing_url,
    gdsc_url,
    string_url,
)
from l1k_assets.sources.listing import GTEX_PAIR_ROLES, LINCS_GEO_ROLES, pick_files
from l1k_assets.synthetic.chemistry import SCAFFOLDS, make_molecules, make_smiles
from l1k_assets.synthetic.gzipped import write_gz_text
from l1k_assets.synthetic.inference_writer import write_inference_pairs
from l1k_assets.synthetic.lincs_writer import geo_suppl_dir, write_lincs_release
from l1k_assets.synthetic.response_writer import write_response_sources
from l1k_assets.synthetic.universe import Universe, build_universe


def _generate(root: Path) -> tuple[Universe, dict[str, Any]]:
    universe = build_universe("tiny")
    truth = {
        "lincs": write_lincs_release(universe, root),
        "inference": write_inference_pairs(universe, root),
        "response": write_response_sources(universe, root),
    }
    return universe, truth


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Universe, dict[str, Any]]:
    root = tmp_path_factory.mktemp("mirror")
    universe, truth = _generate(root)
    return root, universe, truth


@pytest.fixture(scope="module")
def unpacked(mirror: tuple[Path, Universe, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every role file of both GEO folders, gunzipped the way the fetcher does (GCTX needs random access)."""
    root = mirror[0]
    out = tmp_path_factory.mktemp("unpacked")
    files = {}
    for accession, roles in (("GSE92742", LINCS_GEO_ROLES), ("GSE92743", GTEX_PAIR_ROLES)):
        folder = geo_suppl_dir(root, accession)
        for role, name in pick_files(sorted(p.name for p in folder.iterdir()), roles, accession).items():
            dest = out / name.removesuffix(".gz")
            with gzip.open(folder / name) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
            files[f"{accession}:{role}"] = dest
    return files


def _lincs(unpacked: dict[str, Path], role: str) -> Path:
    return unpacked[f"GSE92742:{role}"]


# ---------------------------------------------------------------- layout, names, checksums


def test_geo_folders_have_the_real_names_and_every_role(mirror: tuple[Path, Universe, dict[str, Any]]) -> None:
    root, universe, truth = mirror
    sc = universe.scale
    folder = root / "geo" / "series" / "GSE92nnn" / "GSE92742" / "suppl"
    names = sorted(p.name for p in folder.iterdir())
    chosen = pick_files(names, LINCS_GEO_ROLES, "GSE92742")
    n_genes = sc.n_genes
    assert chosen == {
        "gene_info": "GSE92742_Broad_LINCS_gene_info.txt.gz",
        "cell_info": "GSE92742_Broad_LINCS_cell_info.txt.gz",
        "inst_info": "GSE92742_Broad_LINCS_inst_info.txt.gz",
        "pert_info": "GSE92742_Broad_LINCS_pert_info.txt.gz",
        "sig_info": "GSE92742_Broad_LINCS_sig_info.txt.gz",
        "level3": f"GSE92742_Broad_LINCS_Level3_INF_mlr12k_n{truth['lincs']['n_instances']}x{n_genes}.gctx.gz",
        "level5": f"GSE92742_Broad_LINCS_Level5_COMPZ.MODZ_n{truth['lincs']['n_signatures']}x{n_genes}.gctx.gz",
        "checksums": "GSE92742_SHA512SUMS.txt.gz",
    }
    assert len(names) == len(chosen)  # nothing else, no leftover temporary files

    pair_folder = root / "geo" / "series" / "GSE92nnn" / "GSE92743" / "suppl"
    n, paired_genes = sc.n_inference_samples, n_genes - 8  # GSE92743's files lack 8 landmarks (12,320 of 12,328 genes)
    assert pick_files(sorted(p.name for p in pair_folder.iterdir()), GTEX_PAIR_ROLES, "GSE92743") == {
        "l1000": f"GSE92743_Broad_GTEx_L1000_Level3_Q2NORM_n{n}x{paired_genes}.gctx.gz",
        "rnaseq": f"GSE92743_Broad_GTEx_RNAseq_Log2RPKM_q2norm_n{n}x{paired_genes}.gctx.gz",
        "inst_info": "GSE92743_Broad_GTEx_inst_info.txt.gz",
    }
    assert (pair_folder / "GSE92743_SHA512SUMS.txt.gz").is_file()

    for path in (
        clue_repurposing_url(str(root / "clue"), "drugs"),
        clue_repurposing_url(str(root / "clue"), "samples"),
        *(
            gdsc_url(str(root / "gdsc"), f)
            for f in (GDSC_RESPONSE_FILE, GDSC_COMPOUNDS_FILE, GDSC_SMILES_FILE, GDSC_EXPRESSION_FILE)
        ),
        string_url(str(root / "string"), "links"),
        string_url(str(root / "string"), "info"),
    ):
        assert Path(path).is_file(), path
    assert not [p for p in root.rglob(".*")], "temporary files left behind"


@pytest.mark.parametrize("accession", ["GSE92742", "GSE92743"])
def test_sha512sums_list_and_verify_every_other_file(mirror: tuple[Path, Universe, dict[str, Any]], accession: str) -> None:
    folder = geo_suppl_dir(mirror[0], accession)
    listed = parse_checksum_list(folder / f"{accession}_SHA512SUMS.txt.gz")
    assert set(listed) == {p.name for p in folder.iterdir()} - {f"{accession}_SHA512SUMS.txt.gz"}
    for name, digest in listed.items():
        assert hashlib.sha512((folder / name).read_bytes()).hexdigest() == digest


def test_gzip_header_is_fixed_and_names_the_inner_file(tmp_path: Path) -> None:
    write_gz_text(tmp_path / "x.txt.gz", "a\tb\n")
    data = (tmp_path / "x.txt.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # mtime 0
    assert data[3] & 0x08 and data[10:16] == b"x.txt\0"  # FNAME flag and field
    assert gzip.decompress(data) == b"a\tb\n"


# ---------------------------------------------------------------- LINCS tables and matrices


def test_tables_read_with_the_lincs_readers_and_have_the_real_columns(
    unpacked: dict[str, Path], mirror: tuple[Path, Universe, dict[str, Any]], shared_data: Path
) -> None:
    _, universe, truth = mirror
    real_genes = pd.read_csv(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt", sep="\t", nrows=2)
    genes = read_gene_info(_lincs(unpacked, "gene_info"))
    assert list(genes.columns[:5]) == list(real_genes.columns)
    assert genes.is_landmark.sum() == universe.scale.n_landmarks

    real_pert = pd.read_csv(shared_data / "drugs" / "sigsearch_lincs_pert_info_GSE92742cp.tsv.gz", sep="\t", nrows=2)
    pert = read_lincs_table(_lincs(unpacked, "pert_info"), "pert_info")
    assert list(pert.columns) == list(real_pert.columns[:8])
    assert set(pert.pert_id[pert.pert_type.isin(["trt_cp", "ctl_vehicle"])]) == {*universe.compounds.pert_id, "DMSO"}
    # a real release mixes types: hairpins and ORFs against landmark genes, with their vector and untreated controls
    assert set(pert.pert_type) == {"trt_cp", "ctl_vehicle", "trt_sh", "trt_oe", "ctl_vector", "ctl_untrt"}
    genetic = pert[pert.pert_type.isin(["trt_sh", "trt_oe"])]
    assert genetic.pert_iname.isin(universe.landmarks).all() and genetic.canonical_smiles.isna().all()
    assert genetic.pert_id[genetic.pert_type == "trt_sh"].str.fullmatch(r"TRCN\d{10}(_\d)?").all()

    cell = read_lincs_table(_lincs(unpacked, "cell_info"), "cell_info")
    assert list(cell.columns) == [
        "cell_id", "cell_type", "base_cell_id", "precursor_cell_id", "modification", "sample_type", "primary_site",
        "subtype", "original_growth_pattern", "provider_catalog_id", "original_source_vendor", "donor_age", "donor_sex",
        "donor_ethnicity",
    ]  # fmt: skip
    assert cell.cell_id.tolist() == truth["lincs"]["cell_lines"] == ["A375", "A549", "MCF7"]
    assert cell.precursor_cell_id.isna().all()  # -666 read as missing

    inst = read_lincs_table(_lincs(unpacked, "inst_info"), "inst_info")
    assert list(inst.columns) == [
        "inst_id", "rna_plate", "rna_well", "pert_id", "pert_iname", "pert_type", "pert_dose", "pert_dose_unit",
        "pert_time", "pert_time_unit", "cell_id",
    ]  # fmt: skip
    assert inst.inst_id.str.fullmatch(r"(CPC|KDA|OEA)\d{3}_[A-Z0-9]+_\d+H_X\d_B\d+_DUO52HI53LO:[A-P]\d{2}").all()
    assert (inst.inst_id == inst.rna_plate + ":" + inst.rna_well).all()
    dmso = inst[inst.pert_type == "ctl_vehicle"]
    assert set(dmso.pert_id) == set(dmso.pert_iname) == {"DMSO"}
    assert dmso.pert_dose.isna().all() and (inst.loc[inst.pert_type == "trt_cp", "pert_dose_unit"] == "µM").all()
    sc = universe.scale
    compound_plates = inst[inst.rna_plate.str.startswith("CPC")]
    assert (inst.pert_time[~inst.rna_plate.str.startswith("CPC")] == 96).all()  # knock-downs read out at 96 h
    per_plate = compound_plates.groupby("rna_plate").agg(
        n=("inst_id", "size"), dmso=("pert_type", lambda t: (t == "ctl_vehicle").sum())
    )
    assert (per_plate.dmso == sc.dmso_per_plate).all()
    assert (per_plate.n == sc.n_compounds * len(sc.doses_um) + sc.dmso_per_plate).all()
    assert len(per_plate) == sc.n_cell_lines * len(sc.times_h) * sc.replicates
    assert truth["lincs"]["n_plates"] == len(per_plate) + 2 * sc.n_cell_lines * sc.replicates  # and a KDA, an OEA family
    assert not inst.groupby("rna_plate").rna_well.apply(lambda w: w.duplicated().any()).any()

    sig = read_lincs_table(_lincs(unpacked, "sig_info"), "sig_info")
    assert list(sig.columns) == [
        "sig_id", "pert_id", "pert_iname", "pert_type", "cell_id", "pert_dose", "pert_dose_unit", "pert_idose",
        "pert_time", "pert_time_unit", "pert_itime", "distil_id",
    ]  # fmt: skip
    assert len(sig) == truth["lincs"]["n_signatures"]
    per_type = sig.pert_type.value_counts()
    assert per_type["trt_cp"] == sc.n_cell_lines * len(sc.times_h) * sc.n_compounds * len(sc.doses_um)
    assert per_type["ctl_vehicle"] == sc.n_cell_lines * len(sc.times_h) * sc.dmso_per_plate  # one per DMSO well position
    assert sig.pert_idose[sig.pert_type != "trt_cp"].isna().all()
    first = sig.iloc[0]
    assert first.sig_id == f"CPC006_{first.cell_id}_24H:{first.pert_id}-001-01-1:{first.pert_dose:g}"
    assert first.pert_idose == f"{first.pert_dose:g} µM" and first.pert_itime == "24 h"


def test_distil_ids_are_instances_on_sibling_plates_and_level3_columns(unpacked: dict[str, Path]) -> None:
    inst = read_lincs_table(_lincs(unpacked, "inst_info"), "inst_info").set_index("inst_id")
    sig = read_lincs_table(_lincs(unpacked, "sig_info"), "sig_info")
    genes = read_gene_info(_lincs(unpacked, "gene_info"))
    members = sig.assign(inst_id=sig.distil_id.str.split("|")).explode("inst_id")
    assert members.inst_id.isin(inst.index).all()
    assert not members.inst_id.duplicated().any()
    assert (members.groupby("sig_id").inst_id.size() == 3).all()
    plates = inst.rna_plate.reindex(members.inst_id).str.replace(r"_X\d_B\d+_", "_", regex=True).to_numpy()
    family = members.sig_id.str.split(":").str[0].to_numpy()
    assert (plates == family + "_DUO52HI53LO").all()  # replicates are X1..X3 of the signature's plate family
    assert (inst.pert_id.reindex(members.inst_id).to_numpy() == members.pert_id.to_numpy()).all()

    level3_check = validate_matrix(GctxSet.of([_lincs(unpacked, "level3")]), genes.gene_id, inst.index)
    assert (level3_check.n_genes, level3_check.n_columns) == (len(genes), len(inst))
    level5_check = validate_matrix(GctxSet.of([_lincs(unpacked, "level5")]), genes.gene_id, sig.sig_id)
    assert (level5_check.n_genes, level5_check.n_columns, level5_check.without_data) == (len(genes), len(sig), [])
    row_meta = read_gctx_meta(_lincs(unpacked, "level3"), "row")
    assert row_meta.pr_gene_symbol.tolist() == genes.pr_gene_symbol.tolist()
    assert (row_meta.pr_is_lm.astype(int).to_numpy() == genes.is_landmark.astype(int).to_numpy()).all()
    col_meta = read_gctx_meta(_lincs(unpacked, "level5"), "col")
    assert (col_meta.distil_nsample == 3).all() and col_meta.pert_id.tolist() == sig.pert_id.tolist()


def test_level3_values_look_like_log2_expression(
    unpacked: dict[str, Path], mirror: tuple[Path, Universe, dict[str, Any]]
) -> None:
    landmarks = mirror[1].genes.loc[mirror[1].genes.pr_is_lm == 1, "pr_gene_id"].astype(str)
    paired = landmarks[~landmarks.isin(mirror[2]["inference"]["missing_landmarks"])]
    for key, rows in (("GSE92742:level3", None), ("GSE92743:l1000", paired)):
        data = read_gctx(unpacked[key], rids=rows, meta=False).data
        assert data.dtypes.eq(np.float32).all()
        values = data.to_numpy()
        assert np.mean((values > 4.0) & (values < 14.0)) > 0.95 and values.min() >= 3.0 and values.max() <= 15.0
        assert 6.0 < float(np.median(values)) < 11.0
    level3 = read_gctx(unpacked["GSE92742:level3"], meta=False).data.to_numpy()
    assert np.array_equal(level3 * 1024, np.round(level3 * 1024))  # stored in steps of 2^-10


def test_level5_is_the_cmap_derivation_of_the_shipped_level3(unpacked: dict[str, Path], tmp_path: Path) -> None:
    inst = read_lincs_table(_lincs(unpacked, "inst_info"), "inst_info")
    sig = read_lincs_table(_lincs(unpacked, "sig_info"), "sig_info")
    shipped = read_gctx(_lincs(unpacked, "level5"), meta=False).data

    derived_path = tmp_path / "derived.gctx"
    derive_level5(_lincs(unpacked, "level3"), inst, sig, derived_path)
    derived = read_gctx(derived_path, meta=False).data
    np.testing.assert_allclose(derived[shipped.columns].to_numpy(), shipped.to_numpy(), atol=1e-5)

    # One plate family directly with level5_from_level3: its plates hold exactly its replicates plus DMSO.
    family = sig.sig_id.iloc[0].split(":")[0]
    sigs = sig[sig.sig_id.str.startswith(family + ":")]
    wells = inst[inst.rna_plate.str.startswith(family + "_")]
    level3 = read_gctx(_lincs(unpacked, "level3"), cids=wells.inst_id, meta=False).data
    replicates = sigs.assign(inst_id=sigs.distil_id.str.split("|")).explode("inst_id").set_index("inst_id").sig_id
    # DMSO wells are plate population only: give each its own one-well "signature", then drop those.
    groups = replicates.reindex(wells.inst_id).fillna(pd.Series(wells.inst_id.to_numpy(), index=wells.inst_id))
    recomputed = level5_from_level3(level3, wells.rna_plate.to_numpy(), groups)[sigs.sig_id]
    np.testing.assert_allclose(recomputed.to_numpy(), shipped[sigs.sig_id].to_numpy(), atol=1e-5)


def test_reversers_move_their_program_toward_normal_and_inert_compounds_do_not(
    unpacked: dict[str, Path], mirror: tuple[Path, Universe, dict[str, Any]]
) -> None:
    _, universe, truth = mirror
    sig = read_lincs_table(_lincs(unpacked, "sig_info"), "sig_info")
    sig = sig[sig.pert_type == "trt_cp"]
    level5 = read_gctx(_lincs(unpacked, "level5"), cids=sig.sig_id, meta=False).data
    gene_id = universe.genes.set_index("pr_gene_symbol").pr_gene_id.astype(str)
    compounds = universe.compounds.set_index("pert_id")
    inert = compounds.index[(compounds.reverses == "") & ~compounds.promiscuous]
    own, inert_r = [], []
    for ctype, program in universe.programs.items():
        toward_normal = -program.to_numpy()
        values = level5.loc[gene_id[program.index]]
        correlation = values.apply(lambda col, target=toward_normal: np.corrcoef(col.to_numpy(), target)[0, 1])
        by_pert = sig.set_index("sig_id").pert_id.reindex(correlation.index)
        own.extend(correlation[by_pert.isin(truth["lincs"]["reversers"][ctype]).to_numpy()])
        inert_r.extend(correlation[by_pert.isin(inert).to_numpy()])
    assert len(own) == 2 * len(universe.programs) * len(sig) // universe.scale.n_compounds
    assert np.mean(own) > 0.8 and np.mean(np.array(own) > 0.3) > 0.9
    assert abs(np.mean(inert_r)) < 0.3
    assert np.mean(own) - np.mean(inert_r) > 0.7


# ---------------------------------------------------------------- structures and the MoA tables


def test_compound_structures_parse_and_the_repurposing_tables_match_clue(
    unpacked: dict[str, Path], mirror: tuple[Path, Universe, dict[str, Any]], shared_data: Path
) -> None:
    root, universe, _ = mirror
    pert = read_lincs_table(_lincs(unpacked, "pert_info"), "pert_info")
    pert = pert[pert.pert_type.isin(["trt_cp", "ctl_vehicle"])]
    molecules = [Chem.MolFromSmiles(s) for s in pert.canonical_smiles]
    assert all(m is not None for m in molecules)
    assert pert.canonical_smiles.is_unique
    assert [Chem.MolToInchiKey(m) for m in molecules] == pert.inchi_key.tolist()
    assert (pert.inchi_key.str.split("-").str[0] == pert.inchi_key_prefix).all()

    real_drugs = (shared_data / "drugs" / "repohub_repurposing_drugs_20200324.txt").read_text().splitlines()
    real_samples = (shared_data / "drugs" / "repohub_repurposing_samples_20200324.txt").read_text().splitlines()
    drugs_path = Path(clue_repurposing_url(str(root / "clue"), "drugs"))
    samples_path = Path(clue_repurposing_url(str(root / "clue"), "samples"))
    for path, real in ((drugs_path, real_drugs), (samples_path, real_samples)):
        lines = path.read_text().splitlines()
        n_comments = sum(line.startswith("!") for line in lines)
        assert n_comments > 0 and all(line.startswith("!") for line in lines[:n_comments])
        assert lines[n_comments] == next(line for line in real if not line.startswith("!"))  # the real header
    drugs = pd.read_csv(drugs_path, sep="\t", comment="!", keep_default_na=False)
    assert drugs.pert_iname.tolist() == universe.compounds.pert_iname.tolist()
    assert drugs.moa.tolist() == universe.compounds.moa.tolist()
    samples = pd.read_csv(samples_path, sep="\t", comment="!", keep_default_na=False)
    assert (samples.broad_id.str[:13] == universe.compounds.pert_id).all()
    assert samples.smiles.tolist() == pert.canonical_smiles[pert.pert_type == "trt_cp"].tolist()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(min_value=0, max_value=60), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_make_smiles_gives_distinct_valid_canonical_molecules(n: int, seed: int) -> None:
    smiles = make_smiles(n, np.random.default_rng(seed))
    assert len(smiles) == n == len(set(smiles))
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        assert mol is not None and Chem.MolToSmiles(mol) == s
        assert not mol.HasSubstructMatch(Chem.MolFromSmarts("[N,O]-[F,Cl,Br,O]"))  # no N–halogen or peroxide bonds


def test_structure_classes_are_balanced_and_reproducible() -> None:
    molecules = make_molecules(len(SCAFFOLDS) * 3, np.random.default_rng(7))
    counts = pd.Series([m.structure_class for m in molecules]).value_counts()
    assert set(counts.index) == set(SCAFFOLDS) and (counts == 3).all()
    assert make_molecules(len(SCAFFOLDS) * 3, np.random.default_rng(7)) == molecules


# ---------------------------------------------------------------- GDSC and STRING


def _gdsc(root: Path, name: str) -> Path:
    return Path(gdsc_url(str(root / "gdsc"), name))


def _basal(root: Path) -> pd.DataFrame:
    with zipfile.ZipFile(_gdsc(root, GDSC_EXPRESSION_FILE)) as archive:
        assert archive.namelist() == ["Cell_line_RMA_proc_basalExp.txt"]
        text = archive.read("Cell_line_RMA_proc_basalExp.txt").decode()
    return pd.read_csv(io.StringIO(text), sep="\t")


def test_gdsc_files_have_the_real_columns_and_planted_invalid_smiles(mirror: tuple[Path, Universe, dict[str, Any]]) -> None:
    root, universe, truth = mirror
    sc = universe.scale
    response = pd.read_csv(_gdsc(root, GDSC_RESPONSE_FILE))
    assert list(response.columns) == [
        "DATASET", "NLME_RESULT_ID", "NLME_CURVE_ID", "COSMIC_ID", "CELL_LINE_NAME", "SANGER_MODEL_ID", "TCGA_DESC",
        "DRUG_ID", "DRUG_NAME", "PUTATIVE_TARGET", "PATHWAY_NAME", "COMPANY_ID", "WEBRELEASE", "MIN_CONC", "MAX_CONC",
        "LN_IC50", "AUC", "RMSE", "Z_SCORE",
    ]  # fmt: skip
    n_pairs = sc.n_gdsc_cell_lines * sc.n_gdsc_drugs
    assert 0.75 * n_pairs < len(response) < 0.95 * n_pairs
    assert response.COSMIC_ID.nunique() == sc.n_gdsc_cell_lines and response.DRUG_ID.nunique() == sc.n_gdsc_drugs
    assert not response.duplicated(["COSMIC_ID", "DRUG_ID"]).any()
    assert response.AUC.between(0, 1).all() and np.allclose(response.MAX_CONC / response.MIN_CONC, 1000)
    assert np.allclose(response.groupby("DRUG_ID").Z_SCORE.mean(), 0, atol=1e-5)

    compounds = pd.read_csv(_gdsc(root, GDSC_COMPOUNDS_FILE))
    assert list(compounds.columns) == ["DRUG_ID", "SCREENING_SITE", "DRUG_NAME", "SYNONYMS", "TARGET", "TARGET_PATHWAY"]
    assert set(compounds.DRUG_ID) == set(response.DRUG_ID) and compounds.DRUG_NAME.is_unique

    smiles = pd.read_csv(_gdsc(root, GDSC_SMILES_FILE))
    assert list(smiles.columns) == ["DRUG_ID", "DRUG_NAME", "PUBCHEM_CID", "SMILES"]
    RDLogger.DisableLog("rdApp.*")
    try:
        unparsable = smiles.DRUG_ID[[Chem.MolFromSmiles(s) is None for s in smiles.SMILES]].tolist()
    finally:
        RDLogger.EnableLog("rdApp.*")
    assert unparsable == truth["response"]["invalid_smiles"] and len(unparsable) >= 2

    basal = _basal(root)
    assert list(basal.columns[:2]) == ["GENE_SYMBOLS", "GENE_title"]
    assert set(basal.columns[2:]) == {f"DATA.{c}" for c in response.COSMIC_ID.unique()}
    assert set(universe.landmarks) <= set(basal.GENE_SYMBOLS)


def test_ln_ic50_is_explained_by_the_planted_sensitivity_genes(mirror: tuple[Path, Universe, dict[str, Any]]) -> None:
    root, _, truth = mirror
    gdsc = truth["response"]["gdsc"]
    response = pd.read_csv(_gdsc(root, GDSC_RESPONSE_FILE))
    basal = _basal(root).set_index("GENE_SYMBOLS").drop(columns="GENE_title").T
    z = (basal - basal.mean()) / basal.std(ddof=0)
    z.index = z.index.str.removeprefix("DATA.").astype(int)

    total = drug_mean_sse = planted_sse = 0.0
    for drug_id, rows in response.groupby("DRUG_ID"):
        genes = [*gdsc["sensitivity"][str(drug_id)], gdsc["class_genes"][gdsc["drug_classes"][str(drug_id)]]["gene"]]
        x = np.column_stack([np.ones(len(rows)), z.loc[rows.COSMIC_ID, genes].to_numpy()])
        y = rows.LN_IC50.to_numpy()
        fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
        total += ((y - response.LN_IC50.mean()) ** 2).sum()
        drug_mean_sse += ((y - y.mean()) ** 2).sum()
        planted_sse += ((y - fitted) ** 2).sum()
    r2_drug_mean = 1 - drug_mean_sse / total
    r2_planted = 1 - planted_sse / total
    assert r2_planted > r2_drug_mean + 0.3
    assert planted_sse / drug_mean_sse < 0.25
    residual_sd = np.sqrt(planted_sse / len(response))
    assert 0.6 * gdsc["noise_sd"] < residual_sd < 1.2 * gdsc["noise_sd"]


def test_string_tables_are_symmetric_with_planted_high_confidence_edges(mirror: tuple[Path, Universe, dict[str, Any]]) -> None:
    root, universe, truth = mirror
    info = pd.read_csv(string_url(str(root / "string"), "info"), sep="\t")
    assert list(info.columns) == ["#string_protein_id", "preferred_name", "protein_size", "annotation"]
    assert info["#string_protein_id"].str.fullmatch(r"9606\.ENSP\d{11}").all() and info["#string_protein_id"].is_unique
    assert info.preferred_name.tolist() == universe.genes.pr_gene_symbol.tolist()
    with gzip.open(string_url(str(root / "string"), "links"), "rt") as fh:
        assert fh.readline() == "protein1 protein2 combined_score\n"
    links = pd.read_csv(string_url(str(root / "string"), "links"), sep=" ")
    assert links.combined_score.between(150, 999).all()
    assert (links.protein1 != links.protein2).all()
    forward = set(zip(links.protein1, links.protein2, links.combined_score, strict=True))
    assert forward == set(zip(links.protein2, links.protein1, links.combined_score, strict=True))
    assert len(links) == 2 * truth["response"]["string"]["n_edges"]
    high = links[links.combined_score > 900]
    assert len(high) == 2 * truth["response"]["string"]["high_confidence_edges"]

    symbol = info.set_index("#string_protein_id").preferred_name
    high_pairs = set(zip(symbol[high.protein1], symbol[high.protein2], strict=True))
    for genes in truth["response"]["gdsc"]["sensitivity"].values():
        a, b, *_ = list(genes)
        assert (a, b) in high_pairs
    program = universe.programs["BRCA"].index
    inside = sum((a, b) in high_pairs for a in program for b in program if a != b)
    assert inside > 0.3 * len(program) * (len(program) - 1)


# ---------------------------------------------------------------- the paired inference set


def test_inference_pairs_load_and_plant_a_nonlinear_truth(
    unpacked: dict[str, Path], mirror: tuple[Path, Universe, dict[str, Any]]
) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, universe, truth = mirror
    landmarks = universe.genes.loc[universe.genes.pr_is_lm == 1, "pr_gene_id"].astype(str).tolist()
    table, coverage = load_inference_pairs(unpacked["GSE92743:l1000"], unpacked["GSE92743:rnaseq"], landmarks)
    inference = truth["inference"]
    assert coverage.missing == inference["missing_landmarks"] and len(coverage.missing) == 8  # as GSE92743's 970 of 978
    landmarks = coverage.present
    assert table.shape == (inference["n_samples"], 2 * len(landmarks) + len(universe.genes) - len(universe.landmarks))
    inst = pd.read_csv(unpacked["GSE92743:inst_info"], sep="\t")
    assert inst.inst_id.tolist() == table.index.tolist()
    assert set(inst.SMTS) == set(inference["tissues"]) and len(inference["tissues"]) == 6

    lm_l1000 = table[[L1000_PREFIX + g for g in landmarks]].to_numpy()
    lm_rnaseq = table[[RNASEQ_PREFIX + g for g in landmarks]].to_numpy()
    per_gene_r = [np.corrcoef(a, b)[0, 1] for a, b in zip(lm_l1000.T, lm_rnaseq.T, strict=True)]
    assert 0.7 < np.median(per_gene_r) < 0.999  # the platforms agree, but are not the same measurement

    train, test = slice(0, 180), slice(180, None)

    def r2(gene: str, model: Any) -> float:
        x = table[[L1000_PREFIX + p for p in inference["parents"][gene]]].to_numpy()
        y = table[RNASEQ_PREFIX + gene].to_numpy()
        fitted = model.fit(x[train], y[train]).predict(x[test])
        return 1 - ((y[test] - fitted) ** 2).sum() / ((y[test] - y[test].mean()) ** 2).sum()

    def knn() -> Any:
        return make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=5, weights="distance"))

    nonlinear = inference["nonlinear_genes"][:40]
    gain = np.array([r2(g, knn()) - r2(g, LinearRegression()) for g in nonlinear])
    linear = inference["linear_genes"][:40]
    linear_gain = np.array([r2(g, knn()) - r2(g, LinearRegression()) for g in linear])
    # on their parents, KNN beats least squares on the planted nonlinear genes and loses on the linear ones
    assert gain.mean() > 0.03 and (gain > 0).mean() >= 0.6 and gain.mean() > linear_gain.mean() + 0.1
    linear_r2 = [r2(g, LinearRegression()) for g in linear[:10]]
    assert np.mean(linear_r2) > 0.6  # the rest is measurement noise and factor terms no parent explains

    rnaseq = table[[c for c in table.columns if c.startswith(RNASEQ_PREFIX)]]
    module = [RNASEQ_PREFIX + g for g in next(iter(inference["modules"].values()))]
    within = np.abs(rnaseq[module].corr().to_numpy()[np.triu_indices(len(module), 1)]).mean()
    assert within > np.abs(rnaseq.corr().to_numpy()).mean() + 0.1


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files(mirror: tuple[Path, Universe, dict[str, Any]], tmp_path: Path) -> None:
    first_root, _, first_truth = mirror
    _, truth = _generate(tmp_path)
    assert truth == first_truth
    first = {p.relative_to(first_root): p.read_bytes() for p in sorted(first_root.rglob("*")) if p.is_file()}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
