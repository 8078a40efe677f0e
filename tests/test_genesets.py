"""GMT reading: the real MSigDB files, hand-made errors, and fuzzing."""

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l1k_assets.errors import FormatError
from l1k_assets.genesets.gmt import read_gmt


@pytest.mark.parametrize(
    "name", ["mdskw4_h.all.v7.4.symbols.gmt", "gseapy_c2.cp.kegg.v7.5.1.symbols.gmt", "mdskw4_c2.cp.reactome.v7.4.symbols.gmt"]
)
def test_reads_real_msigdb_libraries(shared_data: Path, name: str) -> None:
    sets = read_gmt(shared_data / "genesets" / name)
    lines = [line for line in (shared_data / "genesets" / name).read_text().splitlines() if line.strip()]
    assert len(sets) == len(lines)
    first = lines[0].split("\t")
    assert sets[first[0]] == list(dict.fromkeys(g for g in first[2:] if g))


def test_hallmark_has_its_fifty_sets(shared_data: Path) -> None:
    sets = read_gmt(shared_data / "genesets" / "mdskw4_h.all.v7.4.symbols.gmt")
    assert len(sets) == 50 and "HALLMARK_E2F_TARGETS" in sets and "CDK1" in sets["HALLMARK_G2M_CHECKPOINT"]


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        ("A\tdesc\tG1\nA\tdesc\tG2\n", "unique gene-set names", 2),
        ("A\tdesc\tG1\nB only\n", "name<TAB>description", 2),
        ("\n\n", "at least one gene set", None),
    ],
)
def test_bad_gmt_names_the_line(tmp_path: Path, text: str, match: str, line: int | None) -> None:
    path = tmp_path / "x.gmt"
    path.write_text(text)
    with pytest.raises(FormatError, match=match) as info:
        read_gmt(path)
    assert info.value.line == line and str(path) in str(info.value)


names = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\t\n\r"), min_size=1, max_size=12).filter(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(names, st.lists(names, min_size=1, max_size=6, unique=True), min_size=1, max_size=6))
def test_gmt_round_trip(tmp_path_factory: pytest.TempPathFactory, sets: dict[str, list[str]]) -> None:
    path = tmp_path_factory.mktemp("gmt") / "x.gmt"
    path.write_text("".join(f"{k}\turl\t" + "\t".join(v) + "\n" for k, v in sets.items()), encoding="utf-8")
    assert read_gmt(path) == {k: [g.strip() for g in v] for k, v in sets.items()}


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_gmt_garbage_raises_only_format_errors(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("gmt") / "x.gmt"
    path.write_bytes(blob)
    with contextlib.suppress(FormatError):
        read_gmt(path)
