"""CSG2A on real public data: pretrained on a real L1000 level-3 slice, fine-tuned on real GDSC v17 IC50.

Pretraining uses cmapPy's LJP005 A375 plates (978 landmarks, DMSO wells, kinase inhibitors
whose SMILES come from the Drug Repurposing Hub samples table). Fine-tuning uses GDSC v17
ln IC50 with drug SMILES through PubChem ids; basal expression is the real NCI-60 table for the
cell lines it covers and planted expression (gene-wise NCI-60 means and spreads, seeded) for the
others, as no GDSC basal file is small enough to ship. The STRING edge list of the CSG2A
repository has no scores, so every listed edge enters the prior. The run is subsampled to keep
the suite fast: it shows the whole real-data path works and reports RMSE/PCC, not the paper's numbers.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.lincs.gct import read_gct
from l1k_assets.response import benchmark as bm
from l1k_assets.response.conditions import featurise, parse_smiles
from l1k_assets.response.csg2a import CSG2APretrainer, ppi_adjacency
from l1k_assets.response.pretraining import pretraining_arrays, pretraining_pairs

N_DRUGS, N_PLANTED_LINES, N_BITS = 40, 60, 256


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _name_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper().removesuffix("/ATCC"))


def _pretrained(shared: Path, settings: bm.BenchmarkSettings) -> tuple[CSG2APretrainer, list[str]]:
    gct = read_gct(shared / "l1000" / "cmappy_test_l1000.gct")
    meta = gct.col_meta.rename_axis("inst_id").reset_index().assign(rna_plate=lambda t: t.det_plate)
    genes = gct.row_meta.pr_gene_id.astype(str)
    level3 = gct.data.set_axis(genes.to_numpy())
    pairs = pretraining_pairs(level3, meta, genes.tolist())
    samples = pd.read_csv(shared / "drugs" / "repohub_repurposing_samples_20200324.txt", sep="\t", comment="!")
    smiles = samples.assign(pert_id=samples.broad_id.str[:13]).drop_duplicates("pert_id").set_index("pert_id").smiles
    structures = featurise(parse_smiles(smiles[smiles.index.isin(pairs.pert_id)]), n_bits=N_BITS)
    x, y, _ = pretraining_arrays(pairs, structures)
    val = np.random.default_rng(0).random(len(x)) < 0.15
    options = {"embed_dim": settings.embed_dim, "encoder_hidden": settings.encoder_hidden, "lr": settings.lr, "max_epochs": 30}
    symbols = gct.row_meta.set_index(genes.to_numpy()).pr_gene_symbol.loc[pairs.filter(like="basal:").columns.str[6:]].tolist()
    edges = pd.read_csv(shared / "CSG2A" / "STRING_edges.csv").rename(columns={"source": "a", "target": "b"}).assign(score=1000)
    ppi = ppi_adjacency(edges, symbols)
    model = CSG2APretrainer(**options).fit(x[~val], y[~val], x[val], y[val], ppi=ppi)
    return model, symbols


def _gdsc(shared: Path, symbols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    gdsc = shared / "gdsc"
    wide = pd.read_csv(gdsc / "gdsctools_IC50_v17.csv.gz").set_index("COSMIC_ID")
    long = wide.stack().rename("ln_ic50").reset_index()
    long = long.assign(cell_line=long.COSMIC_ID.astype(str), drug=long.level_1.str.extract(r"Drug_(\d+)_IC50", expand=False))
    compounds = pd.read_csv(gdsc / "daisybio_gdsc_screened_compounds_pubchem_cid.csv", skipinitialspace=True, dtype=str)
    cid_smiles = pd.read_csv(shared / "drugs" / "deepcdr_223drugs_pubchem_smiles.txt", sep="\t", header=None, dtype=str)
    smiles = compounds.merge(cid_smiles, left_on="PubCHEM", right_on=0).drop_duplicates("Drug Id").set_index("Drug Id")[1]
    drugs = sorted(set(long.drug) & set(smiles.index), key=int)[:N_DRUGS]
    nci = read_gct(gdsc / "ccal_P53_collapsed_symbols_NCI60.gct").data
    nci = np.log2(nci.clip(lower=0).astype(float) + 1)
    cosmic = pd.read_csv(gdsc / "gdsctools_cosmic_info.csv.gz", dtype=str)
    by_key = {_name_key(c): c for c in nci.columns}
    cosmic["nci"] = cosmic.SAMPLE_NAME.map(lambda name: by_key.get(_name_key(name)))
    matched = cosmic.dropna(subset=["nci"]).set_index("COSMIC_ID").nci
    lines_with_ic50 = set(long.cell_line)
    measured = [c for c in matched.index if c in lines_with_ic50]
    rng = np.random.default_rng(0)
    others = sorted(lines_with_ic50 - set(measured))
    planted_lines = list(rng.choice(others, N_PLANTED_LINES, replace=False))
    genes = [g for g in symbols if g in nci.index]
    real = nci.loc[genes, matched[measured]].T.set_axis(measured)
    mean, sd = real.mean(), real.std().replace(0, 1.0)
    planted = pd.DataFrame(rng.normal(mean, sd, (N_PLANTED_LINES, len(genes))), index=planted_lines, columns=genes)
    pairs = long[long.drug.isin(drugs) & long.cell_line.isin(measured + planted_lines)][["cell_line", "drug", "ln_ic50"]]
    structures = featurise(parse_smiles(smiles.loc[drugs]), n_bits=N_BITS)
    return pairs, pd.concat([real, planted]), structures, len(measured)


def test_csg2a_runs_on_real_gdsc_and_reports_rmse_pcc(shared_data: Path) -> None:
    settings = bm.BenchmarkSettings(n_folds=5, max_epochs=25, rf_trees=50)
    pretrainer, symbols = _pretrained(shared_data, settings)
    pairs, expression, structures, n_real = _gdsc(shared_data, symbols)
    assert n_real >= 30 and len(pairs) > 1000  # NCI-60 lines found in GDSC by name
    data = bm.response_data(pairs, expression, structures, symbols)
    files = pretrainer.checkpoint_files()
    pretrained = bm.Pretrained(files, files, np.zeros((len(symbols),) * 2), files)  # the plain variant is not run here
    assert CSG2APretrainer.from_checkpoint(pretrained.with_ppi).network_.attention.ppi.any()  # STRING prior carried over
    models = ["mean", "drug_mean", "random_forest", "csg2a"]
    per_fold = bm.run_benchmark(data, pretrained, ["mixed", "drug_blind"], models, settings, folds=range(2))
    summary = per_fold.groupby(["scheme", "model"])[["rmse", "pcc"]].mean()
    print(f"\nreal GDSC v17: {len(data.responses)} pairs, {n_real} NCI-60 lines + {N_PLANTED_LINES} planted\n{summary.round(3)}")
    assert np.isfinite(per_fold.rmse).all() and set(per_fold.scheme) == {"mixed", "drug_blind"}
    mixed = summary.loc["mixed"].rmse
    assert mixed["csg2a"] < mixed["mean"] and mixed["drug_mean"] < mixed["mean"], summary  # drugs differ in potency
