"""Signature search on the tiny embedded universe: the index asset, the Python API and ``l1k query``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l1k_assets.errors import DataError
from l1k_assets.lincs.gct import read_gct
from l1k_assets.lincs.gctx import read_gctx
from l1k_assets.search.connectivity import SignatureFilter
from l1k_assets.search.genespace import NoUsableGenesError
from l1k_assets.search.session import QueryOptions, read_gene_list
from l1k_assets.search.summary import max_quantile
from l1k_jobs.signature_search import Query, SignatureSearch
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.oracles import wtcs

RELEASE = "GSE92742"


def test_index_covers_every_level5_signature(tiny_home: MaterializedHome) -> None:
    ranks = tiny_home.table("core_signature_ranks", RELEASE).iloc[0]
    sigs = tiny_home.table("core_lincs_signatures", RELEASE)
    assert ranks.n_signatures == len(sigs) and Path(ranks.path).exists()
    meta = tiny_home.metadata("core_signature_ranks", RELEASE)
    assert meta["source_sha256"].value == ranks.source_sha256


def test_cancer_type_query_finds_the_planted_reversers(tiny_home: MaterializedHome) -> None:
    truth = tiny_home.manifest()["truth"]["universe"]["reversers"]
    search = SignatureSearch(str(tiny_home.home))
    for cancer_type, reversers in truth.items():
        options = QueryOptions(top=25, filters=SignatureFilter(pert_types=["trt_cp"]))
        result = search.run(Query(cancer_type=cancer_type, options=options), release=RELEASE)
        top_compounds = result.table.pert_id.drop_duplicates().head(5).tolist()
        assert set(reversers) & set(top_compounds), (cancer_type, reversers, top_compounds)
        assert (result.table.tau.diff().dropna() >= 0).all()  # most negative τ first
        assert result.table.tau.between(-100, 100).all() and (result.table.tau.head(3) < -50).all()
        summary = result.perturbagens.head(5)
        assert set(reversers) & set(summary.pert_id), (cancer_type, summary)
        assert (summary.n_cell_lines >= 1).all()


def test_perturbagen_summary_is_the_maximum_quantile_of_the_signatures(tiny_home: MaterializedHome) -> None:
    search = SignatureSearch(str(tiny_home.home))
    cancer_type = next(iter(tiny_home.manifest()["truth"]["universe"]["reversers"]))
    options = QueryOptions(top=1000, filters=SignatureFilter(pert_types=["trt_cp"]))
    result = search.run(Query(cancer_type=cancer_type, options=options))
    first = result.perturbagens.iloc[0]
    rows = result.table[result.table.pert_id == first.pert_id]
    per_cell = [max_quantile(g.tau.to_numpy()) for _, g in rows.groupby("cell_id")]
    assert first.tau == max_quantile(per_cell) and first.n_cell_lines == len(per_cell)
    assert len(result.mechanisms) and "antagonist" in result.mechanisms.moa.iloc[0]


def test_api_scores_equal_wtcs_on_the_level5_matrix(tiny_home: MaterializedHome) -> None:
    search = SignatureSearch(str(tiny_home.home))
    up, down = search.consensus(next(iter(tiny_home.manifest()["truth"]["universe"]["reversers"])))
    result = search.run(Query(up=up, down=down, options=QueryOptions(top=10)), release=RELEASE)
    level5 = read_gctx(tiny_home.table("core_lincs_level5", RELEASE).path.iloc[0]).data
    ids = tiny_home.table("core_lincs_genes", RELEASE).drop_duplicates("gene_symbol").set_index("gene_symbol").gene_id
    up_mask = level5.index.isin(ids[up].astype(str))
    down_mask = level5.index.isin(ids[down].astype(str))
    scores = level5[result.table.sig_id].to_numpy(dtype=np.float64).T
    np.testing.assert_allclose(result.table.wtcs, wtcs(scores, up_mask, down_mask), atol=1e-6)


def test_unknown_genes_and_releases_are_named(tiny_home: MaterializedHome) -> None:
    search = SignatureSearch(str(tiny_home.home))
    with pytest.raises(NoUsableGenesError, match="NOT_A_GENE"):
        search.run(Query(up=["NOT_A_GENE"], down=["ALSO_NOT"]))
    with pytest.raises(DataError, match="release 'GSE1' has no rank index"):
        search.run(Query(cancer_type="LUAD"), release="GSE1")


def test_query_command_prints_a_ranked_table(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    up, down = SignatureSearch(str(tiny_home.home)).consensus("LUAD")
    (tmp_path / "up.txt").write_text("# up in tumor\n" + "\n".join(up) + "\n")
    (tmp_path / "down.txt").write_text(", ".join(down))
    assert read_gene_list(tmp_path / "up.txt") == up and read_gene_list(tmp_path / "down.txt") == down
    command = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tiny_home.home), "query"]
    command += ["--up", str(tmp_path / "up.txt"), "--down", str(tmp_path / "down.txt"), "--top", "7", "--pert-type", "trt_cp"]
    command += ["--release", RELEASE]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=tiny_home.env())
    assert done.returncode == 0, done.stderr
    assert f"release {RELEASE}" in done.stdout and "ncs" in done.stdout
    signatures = done.stdout.split("Perturbagens")[0]  # the first table, before the summaries
    assert sum(line.strip().startswith("│ ") for line in signatures.splitlines()) == 7
    assert "Mechanisms (MoA)" in done.stdout and "valid" in done.stderr  # the gene-space report
    bad = subprocess.run(
        [*command[:6], "--cancer-type", "NOPE"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=tiny_home.env(),
    )
    assert bad.returncode == 2 and "no consensus query for 'NOPE'" in bad.stderr


def test_reference_null_is_built_and_checked(tiny_home: MaterializedHome) -> None:
    null = tiny_home.table("core_reference_null", RELEASE)
    assert set(null.pert_type) == {"trt_cp", "trt_sh", "trt_oe"} and (null.abs_ncs >= 0).all()  # no control type
    meta = tiny_home.metadata("core_reference_null", RELEASE)
    assert "data:image/png;base64," in meta["null_histogram"].value


def test_connectivity_scores_and_saved_query_carry_tau(tiny_home: MaterializedHome) -> None:
    scores = tiny_home.table("out_connectivity_scores", RELEASE)
    assert scores.tau.dropna().between(-100, 100).all() and scores.tau.notna().any()
    saved = tiny_home.table("out_signature_query", RELEASE)
    assert len(saved) == 50 and saved.tau.notna().all()
    meta = tiny_home.metadata("out_signature_query", RELEASE)
    assert "data:image/png;base64," in meta["top_hits"].value and "valid" in meta["gene_report"].value


def test_query_command_saves_gct_and_json_and_refuses_a_missing_folder(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tiny_home.home), "query", "--cancer-type", "LUAD"]
    run = {"cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 300, "env": tiny_home.env()}
    saved = subprocess.run([*base, "--top", "5", "--output", str(tmp_path / "hits.gct")], **run)
    assert saved.returncode == 0, saved.stderr
    gct = read_gct(tmp_path / "hits.gct")
    assert list(gct.data.index) == ["wtcs", "ncs", "tau"] and gct.data.shape[1] == 5 and "cell_id" in gct.col_meta
    emitted = subprocess.run([*base, "--top", "3", "--json"], **run)
    document = json.loads(emitted.stdout)
    assert len(document["results"]) == 3 and document["perturbagens"] and document["genes"]
    missing = tmp_path / "no_such_folder" / "hits.tsv"
    refused = subprocess.run([*base, "--output", str(missing)], **run)
    assert refused.returncode == 2 and "does not exist" in refused.stderr and not missing.parent.exists()
