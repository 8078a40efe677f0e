"""Many queries in one pass: CLUE's query GMT, batch scores equal to single queries, ``l1k query --gmt``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l1k_assets.errors import FormatError
from l1k_assets.search.connectivity import METHODS, score_many, score_signatures
from l1k_assets.search.query_gmt import read_query_gmt
from l1k_assets.search.rank_index import RankIndex
from l1k_jobs.signature_search import SignatureSearch
from tests.conftest import PROJECT_ROOT, MaterializedHome
from tests.test_search import generated_index, random_query

RELEASE = "GSE92742"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# ---------------------------------------------------------------- the GMT


def test_query_gmt_pairs_up_and_down_sets_by_name(tmp_path: Path) -> None:
    gmt = write(
        tmp_path / "queries.gmt",
        ["luad_UP\tup in LUAD\tA\tB\tA", "KIRC_up\t\tC", "luad_DN\tdown\tD\tE", "KIRC_DOWN\t\tF\tG", ""],
    )
    assert read_query_gmt(gmt) == {"luad": (["A", "B"], ["D", "E"]), "KIRC": (["C"], ["F", "G"])}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["X_UP\t\tA", "Y_UP\t\tB", "Y_DN\t\tC"], r"queries\.gmt, field 'X': expected a down set for query 'X' beside X_UP"),
        (["X_DN\t\tA"], r"field 'X': expected a up set for query 'X' beside X_DN"),
        (["X_UP\t\tA", "X_DN\t\tB", "X_DOWN\t\tC"], r"field 'X': expected one down set per query, found X_DN and X_DOWN"),
        (["X_UP\t\tA", "X_UP\t\tB"], r"line 2, field 'X_UP': expected unique gene-set names"),
        (["X\t\tA"], r"field 'X': expected set names ending in _UP or _DN"),
        (["X_UP\t\t", "X_DN\t\tB"], r"field 'X_UP': expected at least one gene in every set"),
        (["X_UP A B"], r"line 1: expected 'name<TAB>description<TAB>genes...'"),
    ],
)
def test_bad_query_gmts_name_the_file_and_the_query(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_query_gmt(write(tmp_path / "queries.gmt", lines))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=40), max_size=8))
def test_any_text_is_queries_or_a_format_error(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "q.gmt"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        queries = read_query_gmt(path)
    except FormatError:
        return
    assert all(up and down for up, down in queries.values())


# ---------------------------------------------------------------- one pass equals single queries


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    _, index_path, matrix = generated_index(tmp_path_factory.mktemp("batch_search"), 3)
    return index_path, matrix


@pytest.mark.parametrize("method", METHODS)
def test_a_batch_scores_each_query_as_alone(method: str, indexed: tuple[Path, pd.DataFrame]) -> None:
    index_path, matrix = indexed
    queries = [
        random_query(matrix.index, n_up, n_down, seed) for seed, (n_up, n_down) in enumerate([(5, 7), (1, 1), (9, 2), (3, 3)])
    ]
    with RankIndex(index_path) as index:
        selected = np.arange(index.n_signatures) % 3 != 1
        batch = score_many(index, queries, method, selected, block_size=5)
        for q, (up, down) in enumerate(queries):
            np.testing.assert_array_equal(batch[q], score_signatures(index, up, down, method, selected, block_size=7))


def test_the_api_batch_equals_single_runs_and_keeps_names(tiny_home: MaterializedHome) -> None:
    from l1k_assets.search.session import QueryOptions, batch_table, queries_per_pass
    from l1k_jobs.signature_search import Query

    search = SignatureSearch(str(tiny_home.home))
    queries = {c: search.consensus(c) for c in ("LUAD", "BRCA", "KIRC")}
    options = QueryOptions(top=8)
    batch = search.run_batch(queries, options, release=RELEASE)
    for name, (up, down) in queries.items():
        alone = search.run(Query(up=up, down=down, options=options), release=RELEASE)
        pd.testing.assert_frame_equal(batch[name].table, alone.table)
        pd.testing.assert_frame_equal(batch[name].perturbagens, alone.perturbagens)
    table = batch_table(batch)
    assert list(table["query"].unique()) == list(queries) and table.columns[0] == "query" and len(table) == 24
    assert queries_per_pass(10**6) == 26 and queries_per_pass(10**12) == 1  # 1 GiB of scores and tables per pass


# ---------------------------------------------------------------- l1k query --gmt


def test_query_command_takes_a_gmt_and_refuses_a_bad_one_before_writing(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    search = SignatureSearch(str(tiny_home.home))
    lines = []
    for cancer in ("LUAD", "THCA"):
        up, down = search.consensus(cancer)
        lines += [f"{cancer}_UP\tconsensus\t" + "\t".join(up), f"{cancer}_DN\tconsensus\t" + "\t".join(down)]
    gmt = write(tmp_path / "queries.gmt", lines)
    base = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tiny_home.home), "query", "--release", RELEASE, "--top", "4"]
    run = {"cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 300, "env": tiny_home.env()}
    done = subprocess.run([*base, "--gmt", str(gmt), "--output", str(tmp_path / "hits.tsv")], **run)
    assert done.returncode == 0, done.stderr
    assert "2 queries in one pass" in done.stdout and "LUAD" in done.stdout and "THCA" in done.stdout
    saved = pd.read_csv(tmp_path / "hits.tsv", sep="\t")
    assert list(saved["query"].unique()) == ["LUAD", "THCA"] and len(saved) == 8 and saved.columns[0] == "query"
    unpaired = write(tmp_path / "unpaired.gmt", lines[:3])
    refused = subprocess.run([*base, "--gmt", str(unpaired), "--output", str(tmp_path / "none.tsv")], **run)
    assert refused.returncode == 2 and "a down set for query 'THCA'" in refused.stderr
    gct = subprocess.run([*base, "--gmt", str(gmt), "--output", str(tmp_path / "none.gct")], **run)
    assert gct.returncode == 2 and ".tsv or .parquet" in gct.stderr
    both = subprocess.run([*base, "--gmt", str(gmt), "--cancer-type", "LUAD"], **run)
    assert both.returncode == 2 and "give one of" in both.stderr
    assert not (tmp_path / "none.tsv").exists() and not (tmp_path / "none.gct").exists()


# ---------------------------------------------------------------- drug sets of the hits and the batch asset


def test_a_cancer_types_reversers_share_the_most_enriched_mechanism(tiny_home: MaterializedHome, tmp_path: Path) -> None:
    truth = tiny_home.manifest()["truth"]["universe"]
    cancer = "LUAD"
    pathway = truth["program_pathways"][cancer].split("_", 1)[1].lower()
    base = [sys.executable, "-m", "l1k_jobs.cli", "--home", str(tiny_home.home), "query", "--release", RELEASE]
    base += ["--cancer-type", cancer]
    enrich = ["--enrich", "moa", "--enrich", "target", "--enrich-top", "4", "--enrich-permutations", "400"]
    run = {"cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 300, "env": tiny_home.env()}
    done = subprocess.run([*base, *enrich, "--output", str(tmp_path / "hits.tsv")], **run)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "hits.enrichment.tsv", sep="\t")
    assert (tmp_path / "hits.enrichment.png").read_bytes().startswith(b"\x89PNG") and "Drug sets" in done.stdout
    moa = table[table.kind == "moa"].set_index(["test", "set"])
    planted = f"{pathway} antagonist"  # the reversers of one cancer type share this mechanism (build_universe)
    assert moa.loc[("hypergeometric", planted), "overlap"] == 2 and moa.loc[("hypergeometric", planted), "p_value"] < 0.05
    assert moa.loc[("running_sum", planted), "nes"] > 0 and moa.loc[("running_sum", planted), "p_value"] < 0.05
    assert moa.xs("hypergeometric").p_value.idxmin() == planted
    no_moa = tmp_path / "sets.gmt"
    no_moa.write_text("mine\t\tcmpd-0001\n")  # a one-member set: nothing to test
    refused = subprocess.run([*base, "--enrich-gmt", str(no_moa), "--output", str(tmp_path / "x.tsv")], **run)
    assert refused.returncode == 2 and "no gmt set has 2 or more" in refused.stderr and not (tmp_path / "x.tsv").exists()


def test_the_batch_asset_scores_every_consensus_query_with_its_drug_sets(tiny_home: MaterializedHome) -> None:
    table = tiny_home.table("out_batch_query", RELEASE)
    queries = tiny_home.table("out_consensus_queries").cancer_type.unique()
    assert sorted(table["query"].unique()) == sorted(queries) and (table.groupby("query").size() == 50).all()
    meta = tiny_home.metadata("out_batch_query", RELEASE)
    assert meta["n_queries"].value == len(queries) and "data:image/png;base64," in meta["drug_set_plot"].value
    saved = tiny_home.metadata("out_signature_query", RELEASE)
    assert "| moa " in saved["drug_sets"].value and "running_sum" in saved["drug_sets"].value
