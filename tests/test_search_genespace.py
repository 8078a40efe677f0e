"""Query gene spaces on the real GSE92742 and LINCS 2020 gene tables: resolution, statuses, typed errors, fuzz."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from l1k_assets.errors import DataError
from l1k_assets.lincs.metadata import landmark_gene_ids, read_gene_info
from l1k_assets.search.genespace import (
    NO_BING_COLUMN,
    REPORT_COLUMNS,
    SIDES,
    STATUSES,
    EmptySideError,
    GenesInBothSidesError,
    GeneSpace,
    NoUsableGenesError,
    QueryGenesError,
    TooFewGenesError,
    format_report,
)

UNKNOWN_GSE = "not a gene id or symbol of this release"
UNKNOWN_BETA = "not a gene id, symbol or Ensembl id of this release"


@pytest.fixture(scope="module")
def gse(shared_data: Path) -> pd.DataFrame:
    return read_gene_info(shared_data / "l1000" / "GSE92742_Broad_LINCS_gene_info.txt")


@pytest.fixture(scope="module")
def beta(shared_data: Path) -> pd.DataFrame:
    return read_gene_info(shared_data / "GeneExpressionGNN" / "geneinfo_beta.txt")


@pytest.fixture(scope="module")
def landmarks(gse: pd.DataFrame) -> list[str]:
    """Landmark symbols in table order: 20 for the up side, 20 for the down side."""
    return gse.set_index("gene_id").gene_symbol.loc[landmark_gene_ids(gse)].tolist()


def rows(report: pd.DataFrame, side: str) -> pd.DataFrame:
    return report[report.side == side].set_index("input")


# ---------------------------------------------------------------- resolution


def test_gse92742_space_and_resolution(gse: pd.DataFrame, landmarks: list[str]) -> None:
    space = GeneSpace(gse, gse.gene_id)
    assert space.describe() == {
        "space": "bing",
        "bing_source": "pr_is_bing = 1",
        "genes_in_space": 10174,
        "genes_in_index": 12328,
        "usable_genes": 10174,
    }
    up = ["TP53", "1956", "myc", "NOT_A_GENE", "GUCA1A", "EPHB3", *landmarks[:8]]  # GUCA1A: pr_is_bing 0; EPHB3: BING
    down = landmarks[20:30]
    result = space.resolve(up, down)
    report = rows(result.report, "up")
    assert result.report.columns.tolist() == REPORT_COLUMNS
    assert report.loc[["TP53", "1956", "myc", "EPHB3"], "gene_id"].tolist() == ["7157", "1956", "4609", "2049"]
    assert report.loc["1956", "gene_symbol"] == "EGFR" and report.loc["myc", "reason"] == "matched by symbol ignoring case"
    assert report.loc["NOT_A_GENE", ["status", "reason"]].tolist() == ["invalid", UNKNOWN_GSE]
    assert report.loc["NOT_A_GENE", ["gene_id", "gene_symbol"]].isna().all()
    assert report.loc["GUCA1A", "status"] == "valid_not_used"
    assert report.loc["GUCA1A", "reason"] == "outside the BING space (pr_is_bing = 1)"
    symbols = gse.set_index("gene_id").gene_symbol
    assert symbols.loc[result.up].tolist() == ["TP53", "EGFR", "MYC", "EPHB3", *landmarks[:8]]  # input order, BING only
    assert symbols.loc[result.down].tolist() == landmarks[20:30]


def test_lincs2020_ensembl_ambiguity_and_bing_from_feature_space(gse: pd.DataFrame, beta: pd.DataFrame) -> None:
    space = GeneSpace(beta, beta.gene_id)
    assert space.bing_source == "feature_space = landmark or best inferred"
    in_space = space.genes.index[space.genes.in_space]
    assert set(in_space) == set(gse.gene_id[gse.pr_is_bing == "1"])  # the two releases agree on BING
    report = rows(space.report(["ENSG00000141510", "ensg00000141510.16", "MIA2", "ENSG00000174640", "7157x"], ["EGFR"]), "up")
    assert report.loc["ENSG00000141510", ["gene_id", "status", "reason"]].tolist() == ["7157", "valid", "matched by Ensembl id"]
    assert report.loc["ensg00000141510.16", "status"] == "valid_not_used"  # the same gene again
    assert "counted once" in report.loc["ensg00000141510.16", "reason"]
    assert report.loc["MIA2", "reason"] == "ambiguous: the symbol of 2 genes (117153, 4253)"
    assert report.loc["ENSG00000174640", "reason"] == "ambiguous: the Ensembl id of 2 genes (80111, 6578)"
    assert report.loc["7157x", "reason"] == UNKNOWN_BETA
    assert report.status.tolist() == ["valid", "valid_not_used", "invalid", "invalid", "invalid"]


def test_case_insensitive_match_must_be_unique() -> None:
    genes = pd.DataFrame(
        {"gene_id": ["1", "2", "3"], "gene_symbol": ["Sept9", "SEPT9", "ABC"], "is_landmark": [True, True, True]}
    )
    report = rows(GeneSpace(genes, genes.gene_id).report(["sept9", "SEPT9", "abc"], ["1"]), "up")
    assert report.loc["sept9", "reason"] == "ambiguous: the symbol ignoring case of 2 genes (1, 2)"
    assert report.loc["SEPT9", "gene_id"] == "2" and pd.isna(report.loc["SEPT9", "reason"])  # exact match wins
    assert report.loc["abc", "gene_id"] == "3"


def test_repeats_count_once(gse: pd.DataFrame, landmarks: list[str]) -> None:
    up = ["TP53", "tp53", "7157", " TP53 ", "NOPE", "NOPE", *landmarks[:9]]
    result = GeneSpace(gse, gse.gene_id).resolve(up, landmarks[20:30])
    assert result.up.count("7157") == 1 and len(result.up) == 10
    up_rows = result.report[result.report.side == "up"]
    assert up_rows.status.tolist()[:6] == ["valid", *["valid_not_used"] * 3, "invalid", "invalid"]
    assert up_rows.reason.iloc[2] == "repeats 'TP53' on this side: counted once"
    assert up_rows.reason.iloc[5] == f"{UNKNOWN_GSE}; repeats 'NOPE' on this side: counted once"


# ---------------------------------------------------------------- spaces and indexes


def test_landmark_space_and_landmark_index(gse: pd.DataFrame, landmarks: list[str]) -> None:
    up, down = ["EPHB3", *landmarks[:10]], landmarks[20:30]  # EPHB3: BING, not a landmark
    landmark_space = GeneSpace(gse, gse.gene_id, space="landmark")
    assert landmark_space.describe()["genes_in_space"] == 978
    report = rows(landmark_space.resolve(up, down).report, "up")
    assert report.loc["EPHB3", ["status", "reason"]].tolist() == ["valid_not_used", "not a landmark gene (landmark space)"]
    landmark_index = GeneSpace(gse, landmark_gene_ids(gse))
    assert landmark_index.describe()["usable_genes"] == 978
    result = landmark_index.resolve([*up, "GUCA1A"], down)
    report = rows(result.report, "up")
    assert report.loc["EPHB3", "reason"] == "not in the rank index (978 genes)"
    assert report.loc["GUCA1A", "reason"] == "outside the BING space (pr_is_bing = 1); not in the rank index (978 genes)"
    assert "2049" not in result.up and len(result.up) == 10
    with pytest.raises(ValueError, match="space must be one of"):
        GeneSpace(gse, gse.gene_id, space="all")  # type: ignore[arg-type]


def test_table_without_bing_columns(gse: pd.DataFrame) -> None:
    space = GeneSpace(gse.drop(columns="pr_is_bing"), gse.gene_id)
    assert space.bing_source == NO_BING_COLUMN and space.describe()["genes_in_space"] == 12328
    assert rows(space.report(["GUCA1A"], ["TP53"]), "up").loc["GUCA1A", "status"] == "valid"
    with pytest.raises(DataError, match=r"pr_is_bing must be one of \['0', '1'\]; gene 7849 has 'yes'"):
        GeneSpace(gse.assign(pr_is_bing=gse.pr_is_bing.where(gse.gene_id != "7849", "yes")), gse.gene_id)
    with pytest.raises(DataError, match="no is_landmark column"):
        GeneSpace(gse.drop(columns="is_landmark"), gse.gene_id)


# ---------------------------------------------------------------- errors


def test_empty_side(gse: pd.DataFrame) -> None:
    with pytest.raises(EmptySideError, match="the down gene list is empty") as err:
        GeneSpace(gse, gse.gene_id).resolve(["TP53"], [])
    assert err.value.sides == ("down",) and err.value.report.input.tolist() == ["TP53"]
    with pytest.raises(EmptySideError, match="the up and the down gene lists are empty"):
        GeneSpace(gse, gse.gene_id).resolve([], [])


def test_gene_in_both_sides_after_resolution(gse: pd.DataFrame, landmarks: list[str]) -> None:
    with pytest.raises(
        GenesInBothSidesError, match=r"2 genes in both the up and the down list: TP53 \(7157\), EGFR \(1956\)"
    ) as e:
        GeneSpace(gse, gse.gene_id).resolve(["TP53", "EGFR", *landmarks[:10]], ["7157", "egfr", *landmarks[20:30]])
    assert e.value.genes == ["7157", "1956"] and e.value.sides == SIDES
    assert isinstance(e.value, QueryGenesError) and isinstance(e.value, DataError)


def test_side_without_a_usable_gene(gse: pd.DataFrame, landmarks: list[str]) -> None:
    with pytest.raises(NoUsableGenesError) as err:
        GeneSpace(gse, gse.gene_id).resolve(landmarks[:10], ["NOPE", "GUCA1A"])
    assert str(err.value) == (
        "no name of the down list is a usable gene in the BING space:\n"
        f"  'NOPE': {UNKNOWN_GSE}\n"
        "  'GUCA1A': outside the BING space (pr_is_bing = 1)"
    )
    assert err.value.sides == ("down",) and len(err.value.report) == 12


def test_too_few_genes_names_side_count_and_unused(gse: pd.DataFrame, landmarks: list[str]) -> None:
    space = GeneSpace(gse, gse.gene_id)
    with pytest.raises(TooFewGenesError) as err:
        space.resolve([*landmarks[:4], "NOPE"], landmarks[20:30])
    assert str(err.value) == (
        f"the up list has 4 genes usable in the BING space, fewer than the 10 a query needs; not usable:\n  'NOPE': {UNKNOWN_GSE}"
    )
    assert err.value.sides == ("up",)
    with pytest.raises(TooFewGenesError, match=r"the down list has 1 gene usable .* 2 a query needs .every name given is usable"):
        space.resolve(landmarks[:4], landmarks[20:21], min_genes=2)
    assert space.resolve(landmarks[:1], landmarks[20:21], min_genes=1).down == [landmark_gene_ids(gse)[20]]
    with pytest.raises(ValueError, match="min_genes must be at least 1"):
        space.resolve(landmarks[:1], landmarks[20:21], min_genes=0)


def test_format_report(gse: pd.DataFrame, landmarks: list[str]) -> None:
    report = GeneSpace(gse, landmark_gene_ids(gse)).report(["TP53", "EPHB3", "NOPE"], ["egfr"])
    assert format_report(report).splitlines() == [
        "up:   1 valid, 1 valid_not_used, 1 invalid",
        "down: 1 valid, 0 valid_not_used, 0 invalid",
        "not used:",
        "  up   'EPHB3'  EPHB3 (2049)  not in the rank index (978 genes)",
        "invalid:",
        f"  up   'NOPE'   -             {UNKNOWN_GSE}",
    ]


# ---------------------------------------------------------------- fuzz


def names(table: pd.DataFrame) -> st.SearchStrategy[str]:
    """Real ids and symbols (some re-cased or padded), Ensembl-like ids and arbitrary text."""
    known = [table.gene_id, table.gene_symbol, table.get("ensembl_id", table.gene_id)]
    real = st.sampled_from(pd.concat(known).dropna().tolist())
    altered = st.tuples(real, st.sampled_from([str.lower, str.upper, str.strip, lambda s: f" {s}\t"])).map(lambda p: p[1](p[0]))
    return st.one_of(real, altered, st.text(max_size=12), st.sampled_from(["", " ", "MIA2", "ENSG00000174640", "nan", "-666"]))


@pytest.fixture(scope="module")
def fuzzed(gse: pd.DataFrame, beta: pd.DataFrame) -> list[tuple[GeneSpace, st.SearchStrategy[str]]]:
    """Both releases × both spaces × a full and a landmark-only index, each with its name strategy (built once)."""
    return [
        (GeneSpace(table, index, space), names(table))
        for table in (gse, beta)
        for index in (table.gene_id, landmark_gene_ids(table))
        for space in ("bing", "landmark")
    ]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_statuses_partition_inputs(fuzzed: list[tuple[GeneSpace, st.SearchStrategy[str]]], data: st.DataObject) -> None:
    gene_space, name = data.draw(st.sampled_from(fuzzed))
    up, down = data.draw(st.lists(name, max_size=25)), data.draw(st.lists(name, max_size=25))
    min_genes = data.draw(st.integers(1, 12))
    try:
        result, raised = gene_space.resolve(up, down, min_genes), None
        report = result.report
    except QueryGenesError as err:
        report, result, raised = err.report, None, type(err)
    assert report.input.tolist() == [*up, *down] and report.side.tolist() == ["up"] * len(up) + ["down"] * len(down)
    assert report.status.isin(STATUSES).all()
    assert report.gene_id.isna().eq(report.status == "invalid").all()  # resolved exactly when not invalid
    assert report.reason.notna()[report.status != "valid"].all()
    valid = report[report.status == "valid"]
    assert gene_space.genes.loc[valid.gene_id, ["in_space", "indexed"]].all().all()
    for side in SIDES:
        assert not valid.gene_id[valid.side == side].duplicated().any()
    if result is not None:
        assert result.up == valid.gene_id[valid.side == "up"].tolist()
        assert result.down == valid.gene_id[valid.side == "down"].tolist()
        assert min(len(result.up), len(result.down)) >= min_genes and not set(result.up) & set(result.down)
    resolved = [set(report.gene_id[report.side == side].dropna()) for side in SIDES]
    usable = [int(((report.side == side) & (report.status == "valid")).sum()) for side in SIDES]
    expected = (
        EmptySideError
        if not up or not down
        else GenesInBothSidesError
        if resolved[0] & resolved[1]
        else NoUsableGenesError
        if min(usable) == 0
        else TooFewGenesError
        if min(usable) < min_genes
        else None
    )
    assert raised is expected
    event(str(expected))
