"""Query shapes beyond up/down: a whole signature (correlations, cosine, valued XSum/XCos) and an unsigned set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from l1k_assets.errors import FormatError
from l1k_assets.search.rank_index import RankIndex
from l1k_assets.search.shapes import PROFILE_METHODS, read_signature_table, score_profile, score_set
from l1k_jobs.signature_search import SignatureSearch
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.test_search import EXTREME_N, generated_index, loop_es, loop_order

RELEASE = "GSE92742"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    _, index_path, matrix = generated_index(tmp_path_factory.mktemp("shape_search"), 5)
    return index_path, matrix


def loop_profile(method: str, z: pd.Series, query: pd.Series) -> float:
    """One signature's score, written out: scipy's correlations, the cosine, and XSum/XCos over its extreme genes."""
    shared = z[query.index].to_numpy()
    q = query.to_numpy()
    if method in ("pearson", "spearman"):
        if np.ptp(shared) == 0:
            return 0.0
        return float((pearsonr if method == "pearson" else spearmanr)(q, shared)[0])
    if method == "cosine":
        norm = np.linalg.norm(q) * np.linalg.norm(shared)
        return float(q @ shared / norm) if norm else 0.0
    order = loop_order(z.tolist())
    extreme = {z.index[g] for g in order[:EXTREME_N] + order[-EXTREME_N:]}
    inside = [g for g in query.index if g in extreme]
    total = float(sum(query[g] * z[g] for g in inside))
    if method == "xsum":
        return total
    norm = np.sqrt(sum(query[g] ** 2 for g in inside)) * np.sqrt(
        sum(z[z.index[g]] ** 2 for g in order[:EXTREME_N] + order[-EXTREME_N:])
    )
    return total / norm if norm else 0.0


@pytest.mark.parametrize("method", PROFILE_METHODS)
def test_signature_scores_equal_a_plain_loop(method: str, indexed: tuple[Path, pd.DataFrame]) -> None:
    index_path, matrix = indexed
    rng = np.random.default_rng(1)
    genes = rng.choice(matrix.index, 60, replace=False)
    query = pd.Series(np.round(rng.normal(size=60), 2), index=genes)
    with RankIndex(index_path) as index:
        fast = score_profile(index, query, method, block_size=17)[0]
    expected = [loop_profile(method, matrix[s], query) for s in matrix.columns]
    np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-9)


def test_an_unsigned_set_scores_its_one_sided_es(indexed: tuple[Path, pd.DataFrame]) -> None:
    index_path, matrix = indexed
    members = list(matrix.index[[3, 17, 40, 41, 99, 150, 201]])
    with RankIndex(index_path) as index:
        fast = score_set(index, members, block_size=11)[0]
    hits = {matrix.index.get_loc(g) for g in members}
    expected = [loop_es(matrix[s].tolist(), hits)[0] for s in matrix.columns]
    np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-9)


# ---------------------------------------------------------------- the table a user gives


def test_signature_tables_read_with_or_without_a_header(tmp_path: Path) -> None:
    tsv = tmp_path / "de.tsv"
    tsv.write_text("gene\tlogFC\nTP53\t-1.5\nMYC\t2\n\n")
    csv = tmp_path / "de.csv"
    csv.write_text("TP53,-1.5\r\nMYC,2e0\r\n")
    for path in (tsv, csv):
        pd.testing.assert_series_equal(read_signature_table(path), pd.Series({"TP53": -1.5, "MYC": 2.0}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene\tlogFC\nTP53\tup\n", r"de\.tsv, line 2, field 'TP53': expected a numeric value, found 'up'"),
        ("TP53\t1\nMYC\t2\nTP53\t3\n", r"line 3, field 'TP53': expected each gene once, found again \(first on line 1\)"),
        ("TP53\t1\t2\n", r"line 1: expected two columns: gene, value, found 3 fields"),
        ("TP53\tnan\n", r"line 1, field 'TP53': expected a finite value"),
        ("gene\tvalue\n", r"expected gene, value rows, found none"),
    ],
)
def test_bad_signature_tables_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "de.tsv"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        read_signature_table(path)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_any_text_is_a_signature_or_a_format_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "sig.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        signature = read_signature_table(path)
    except FormatError:
        return
    assert len(signature) and np.isfinite(signature.to_numpy()).all() and not signature.index.has_duplicates


# ---------------------------------------------------------------- planted truth through the command


def test_a_tumor_signature_and_its_up_genes_find_the_planted_reversers(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    truth = tiny_home.manifest()["truth"]["universe"]
    cancer = "LUAD"
    program = pd.Series(truth["programs"][cancer])
    reversers = set(truth["reversers"][cancer])
    (tmp_path / "de.tsv").write_text("gene\tlog2FC\n" + "".join(f"{g}\t{v}\n" for g, v in program.items()))
    (tmp_path / "up.txt").write_text("\n".join(program.index[program > 0]) + "\n" + "\n".join(program.index[program < 0][:0]))
    base = [
        sys.executable,
        "-m",
        "l1k_jobs.cli",
        "--home",
        str(tiny_home.home),
        "query",
        "--release",
        RELEASE,
        "--space",
        "landmark",
    ]
    run = {"cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 300, "env": tiny_home.env()}
    search = SignatureSearch(str(tiny_home.home))
    from l1k_assets.search.session import QueryOptions

    options = QueryOptions(space="landmark", min_genes=3)
    for method in ("spearman", "pearson", "cosine", "xcos"):
        result = search.run_signature(program, method, options, RELEASE)
        assert set(result.perturbagens.pert_id[:2]) == reversers, (method, result.perturbagens.head())
    assert result.description["n_shared_genes"] == len(program)
    up = program.index[program > 0].tolist()
    unsigned = search.run_set(up, options, RELEASE)
    assert set(unsigned.perturbagens.pert_id[:2]) == reversers and unsigned.perturbagens.ncs.iloc[0] < 0
    done = subprocess.run(
        [*base, "--signature", str(tmp_path / "de.tsv"), "--min-genes", "3", "--output", str(tmp_path / "h.tsv")], **run
    )
    assert done.returncode == 0, done.stderr
    assert "SPEARMAN" in done.stdout and set(pd.read_csv(tmp_path / "h.tsv", sep="\t").pert_id[:2]) == reversers
    few = subprocess.run([*base, "--genes", str(tmp_path / "up.txt"), "--output", str(tmp_path / "none.tsv")], **run)
    assert few.returncode == 2 and "fewer than the 10 a query needs" in few.stderr
    wrong = subprocess.run([*base, "--signature", str(tmp_path / "de.tsv"), "--method", "wtcs"], **run)
    assert wrong.returncode == 2 and "a --signature query takes one of spearman" in wrong.stderr
    (tmp_path / "dup.tsv").write_text("G1\t1\nG1\t2\n")
    dup = subprocess.run([*base, "--signature", str(tmp_path / "dup.tsv"), "--output", str(tmp_path / "none.tsv")], **run)
    assert dup.returncode == 2 and "line 2, field 'G1': expected each gene once" in dup.stderr
    assert not (tmp_path / "none.tsv").exists()
