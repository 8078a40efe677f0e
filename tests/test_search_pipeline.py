"""Signature search on the tiny embedded universe: the index asset, the Python API and ``l1k query``."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l1k_assets.errors import DataError
from l1k_assets.indication.connectivity import wtcs
from l1k_assets.lincs.gctx import read_gctx
from l1k_assets.search.query import SignatureFilter
from l1k_jobs.query import Query, SignatureSearch, read_gene_list
from tests.conftest import PROJECT_ROOT, MaterializedHome

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
        result = search.run(Query(cancer_type=cancer_type, top=25, filters=SignatureFilter(pert_types=["trt_cp"])))
        top_compounds = result.table.pert_id.drop_duplicates().head(5).tolist()
        assert set(reversers) & set(top_compounds), (cancer_type, reversers, top_compounds)
        assert (result.table.ncs.diff().dropna() >= 0).all()  # most negative first


def test_api_scores_equal_wtcs_on_the_level5_matrix(tiny_home: MaterializedHome) -> None:
    search = SignatureSearch(str(tiny_home.home))
    up, down = search.consensus(next(iter(tiny_home.manifest()["truth"]["universe"]["reversers"])))
    result = search.run(Query(up=up, down=down, top=10))
    level5 = read_gctx(tiny_home.table("core_lincs_level5", RELEASE).path.iloc[0]).data
    ids = tiny_home.table("core_lincs_genes", RELEASE).drop_duplicates("gene_symbol").set_index("gene_symbol").gene_id
    up_mask = level5.index.isin(ids[up].astype(str))
    down_mask = level5.index.isin(ids[down].astype(str))
    scores = level5[result.table.sig_id].to_numpy(dtype=np.float64).T
    np.testing.assert_allclose(result.table.wtcs, wtcs(scores, up_mask, down_mask), atol=1e-6)


def test_unknown_genes_and_releases_are_named(tiny_home: MaterializedHome) -> None:
    search = SignatureSearch(str(tiny_home.home))
    with pytest.raises(DataError, match=r"genes \['NOT_A_GENE'\]"):
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
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=tiny_home.env())
    assert done.returncode == 0, done.stderr
    assert f"release {RELEASE}" in done.stdout and "ncs" in done.stdout
    assert sum(line.strip().startswith("│ ") for line in done.stdout.splitlines()) == 7
    bad = subprocess.run(
        [*command[:6], "--cancer-type", "NOPE"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=tiny_home.env(),
    )
    assert bad.returncode == 2 and "no consensus query for 'NOPE'" in bad.stderr
