"""The embedded default's GEO cohorts and gene-set libraries: real formats, real layout, recoverable truth.

The files are checked twice: with plain text reads (quoting, markers, paths, gzip headers),
independent of the project's parsers, and through ``clean_cohort``, which must recover exactly
what the writer planted (pairs, scale, missing landmarks, highest-variance probes, programs).
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1k_assets.geo.catalog import Cohort, load_catalog
from l1k_assets.geo.cohort import clean_cohort, read_cohort_matrix
from l1k_assets.synthetic.genesets import GENESET_URL, write_gene_sets
from l1k_assets.synthetic.geo_writer import (
    PARTIAL_COVERAGE,
    PLATFORMS,
    expression_path,
    platform_path,
    series_matrix_path,
    write_geo_cohorts,
)
from l1k_assets.synthetic.universe import PROGRAM_PATHWAYS, Universe, build_universe

SEED = 7
# The catalog's pairs per cancer type, summed by hand from cohorts.csv.
# Seed 000's 549 pairs, plus the 8 of GDS507 (a GDS cohort, KIRC) that exercise the GDS path.
CATALOG_PAIRS = {"BRCA": 43, "COAD": 128, "ESCC": 30, "HNSC": 22, "KIRC": 68, "LIHC": 37, "LUAD": 153, "STAD": 32, "THCA": 44}
N_PAIRS = sum(CATALOG_PAIRS.values())
SYMBOL_COLUMN = {
    "annot": "Gene symbol",
    "GPL14550": "GENE_SYMBOL",
    "GPL6104": "Symbol",
    "GPL10558": "Symbol",
    "GPL13667": "Gene Symbol",
}
PROBE_ID_STYLE = {
    "Affymetrix": r"^(\d+_(s_|x_|a_)?at|AFFX-[\w-]+_at)$",
    "Agilent": r"^(A_(23|24|32|33)_P\d+|\(\+\)E1A_r60_\w+|GE_BrightCorner)$",
    "Illumina": r"^ILMN_\d{7}$",
}
NUMBER = re.compile(r"^-?\d+\.\d+$")


@dataclass
class Mirror:
    root: Path
    universe: Universe
    catalog: list[Cohort]
    truth: dict[str, Any]
    genesets: dict[str, Any]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    root = tmp_path_factory.mktemp("mirror")
    universe = build_universe("tiny", SEED)
    catalog = load_catalog()
    truth = write_geo_cohorts(universe, root, catalog)
    return Mirror(root, universe, catalog, truth, write_gene_sets(universe, root))


def _lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")


def _header(lines: list[str], key: str) -> list[list[str]]:
    """The cells of every ``!key`` header line, quotes kept."""
    return [line.split("\t")[1:] for line in lines if line.split("\t")[0] == f"!{key}"]


def _unquoted(cells: list[str]) -> list[str]:
    return [c[1:-1] for c in cells]


def _matrix(path: Path) -> pd.DataFrame:
    """The data table of a series matrix, read with pandas rather than the project's parser."""
    lines = _lines(path)
    body = lines[lines.index("!series_matrix_table_begin") + 1 : lines.index("!series_matrix_table_end")]
    return pd.read_csv(io.StringIO("\n".join(body)), sep="\t", index_col=0)


def _values(mirror: Mirror, cohort: Cohort) -> pd.DataFrame:
    """Probes × samples of a cohort: series matrices read with pandas, SOFT-published cohorts through the parser
    (whose SOFT route ``tests/test_geo_soft_cohorts.py`` checks against the writer)."""
    path = expression_path(mirror.root, cohort)
    if cohort.source == "series_matrix":
        return _matrix(path)
    return read_cohort_matrix(path, cohort.source).expression


def _series_matrix_cohorts(mirror: Mirror) -> list[Cohort]:
    return [c for c in mirror.catalog if c.source == "series_matrix"]


def _platform_table(path: Path) -> pd.DataFrame:
    lines = _lines(path)
    body = lines[lines.index("!platform_table_begin") + 1 : lines.index("!platform_table_end")]
    return pd.read_csv(io.StringIO("\n".join(body)), sep="\t", dtype=str, keep_default_na=False)


def _symbol_column(cohort: Cohort) -> str:
    return SYMBOL_COLUMN["annot"] if cohort.platform_file == "annot" else SYMBOL_COLUMN[cohort.platform]


def _single_symbol_probes(cohort: Cohort, root: Path) -> pd.Series:
    """probe id -> symbol for probes annotated with exactly one gene."""
    table = _platform_table(platform_path(root, cohort.platform, cohort.platform_file))
    symbols = table.set_index("ID")[_symbol_column(cohort)]
    return symbols[(symbols != "") & ~symbols.str.contains("///")]


def test_files_sit_at_the_geo_ftp_paths_with_shared_platforms_written_once(mirror: Mirror) -> None:
    root = mirror.root
    for example in (
        "geo/series/GSE38nnn/GSE38129/matrix/GSE38129_series_matrix.txt.gz",
        "geo/series/GSE6nnn/GSE6631/matrix/GSE6631_series_matrix.txt.gz",
        "geo/platforms/GPLnnn/GPL96/annot/GPL96.annot.gz",
        "geo/platforms/GPL8nnn/GPL8300/annot/GPL8300.annot.gz",
        "geo/platforms/GPL14nnn/GPL14550/soft/GPL14550_family.soft.gz",
        "geo/platforms/GPL10nnn/GPL10558/soft/GPL10558_family.soft.gz",
        "geo/series/GSE65nnn/GSE65801/soft/GSE65801_family.soft.gz",
        "geo/datasets/GDSnnn/GDS507/soft/GDS507.soft.gz",
    ):
        assert (root / example).is_file(), example
    expected = {expression_path(root, c) for c in mirror.catalog}
    expected |= {platform_path(root, c.platform, c.platform_file) for c in mirror.catalog}
    written = {p for p in (root / "geo").rglob("*") if p.is_file()}
    assert written == expected
    assert len(written) == 13 + 9  # GPL570 (4 cohorts) and GPL96 (2 cohorts) once each


def test_gzip_files_have_valid_headers_and_no_timestamp(mirror: Mirror) -> None:
    for path in (mirror.root / "geo").rglob("*.gz"):
        data = path.read_bytes()
        assert data[:3] == b"\x1f\x8b\x08", path
        assert data[4:8] == b"\x00\x00\x00\x00", f"{path}: mtime must be 0 for byte-identical output"
        text = gzip.decompress(data)
        assert int.from_bytes(data[-4:], "little") == len(text) % 2**32


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(mirror: Mirror, tmp_path: Path) -> None:
    again = tmp_path / "again"
    truth = write_geo_cohorts(build_universe("tiny", SEED), again, mirror.catalog)
    sets = write_gene_sets(build_universe("tiny", SEED), again)
    assert truth == mirror.truth and sets == mirror.genesets
    originals = sorted(p for p in mirror.root.rglob("*") if p.is_file())
    assert originals and [p.relative_to(mirror.root) for p in originals] == sorted(
        p.relative_to(again) for p in again.rglob("*") if p.is_file()
    )
    for path in originals:
        assert path.read_bytes() == (again / path.relative_to(mirror.root)).read_bytes(), path
    other = tmp_path / "other"
    write_geo_cohorts(build_universe("tiny", SEED + 1), other, mirror.catalog[:1])
    name = series_matrix_path(Path(), mirror.catalog[0].cohort)
    assert (other / name).read_bytes() != (mirror.root / name).read_bytes()


def test_series_matrix_header_and_table_follow_geo_quoting(mirror: Mirror) -> None:
    for cohort in _series_matrix_cohorts(mirror):
        lines = _lines(series_matrix_path(mirror.root, cohort.cohort))
        n = 2 * cohort.expected_pairs + len(mirror.truth["cohorts"][cohort.cohort]["unpaired_gsms"])
        assert lines[0].startswith('!Series_title\t"') and lines[0].endswith('"')
        assert _header(lines, "Series_geo_accession") == [[f'"{cohort.cohort}"']]
        assert _header(lines, "Series_platform_id") == [[f'"{cohort.platform}"']]
        assert len(_header(lines, "Series_summary")) == 1
        sample_lines = [line for line in lines if line.startswith("!Sample_")]
        for line in sample_lines:
            cells = line.split("\t")[1:]
            assert len(cells) == n and all(re.fullmatch(r'"[^"\t]*"', c) for c in cells), line[:80]
        gsms = _unquoted(_header(lines, "Sample_geo_accession")[0])
        assert all(re.fullmatch(r"GSM\d+", g) for g in gsms)
        assert set(_unquoted(_header(lines, "Sample_type")[0])) == {"RNA"}
        assert set(_unquoted(_header(lines, "Sample_organism_ch1")[0])) == {"Homo sapiens"}
        assert set(_unquoted(_header(lines, "Sample_platform_id")[0])) == {cohort.platform}
        assert len(_header(lines, "Sample_characteristics_ch1")) >= 2
        begin, end = lines.index("!series_matrix_table_begin"), lines.index("!series_matrix_table_end")
        assert lines[end + 1 :] == [""], "the file ends right after the table-end marker"
        assert lines[begin + 1].split("\t") == ['"ID_REF"', *(f'"{g}"' for g in gsms)]
        rows = [line.split("\t") for line in lines[begin + 2 : end]]
        assert set(_unquoted(_header(lines, "Sample_data_row_count")[0])) == {str(len(rows))}
        for row in rows:
            assert re.fullmatch(r'"[^"]+"', row[0]) and len(row) == n + 1
            assert all(NUMBER.match(v) for v in row[1:]), row[:4]


def test_characteristics_cohorts_annotate_class_and_patient_like_geo(mirror: Mirror) -> None:
    lines = _lines(series_matrix_path(mirror.root, "GSE38129"))
    characteristics = [_unquoted(cells) for cells in _header(lines, "Sample_characteristics_ch1")]
    assert len(characteristics) == 3
    assert set(characteristics[0]) == {"tissue: normal", "tissue: tumor"}
    assert all(re.fullmatch(r"patient id: P\d{3}", c) for c in characteristics[1])
    assert all(re.fullmatch(r"age: \d+", c) for c in characteristics[2])
    gsms = _unquoted(_header(lines, "Sample_geo_accession")[0])
    by_gsm = dict(zip(gsms, zip(characteristics[0], characteristics[1], strict=True), strict=True))
    for patient, normal, tumor in mirror.truth["cohorts"]["GSE38129"]["gsm_pairs"]:
        assert by_gsm[normal] == ("tissue: normal", f"patient id: {patient}")
        assert by_gsm[tumor] == ("tissue: tumor", f"patient id: {patient}")


@pytest.mark.parametrize(
    ("gse", "title_re", "organ"),
    [("GSE15852", r"(Normal BC\d{4}N|Cancer BC\d{4}T)", "breast"), ("GSE6631", r"(Normal|Cancer) P\d{3}", "head and neck")],
)
def test_title_cohorts_carry_class_and_patient_in_the_title_only(mirror: Mirror, gse: str, title_re: str, organ: str) -> None:
    lines = _lines(series_matrix_path(mirror.root, gse))
    titles = _unquoted(_header(lines, "Sample_title")[0])
    gsms = _unquoted(_header(lines, "Sample_geo_accession")[0])
    assert all(re.fullmatch(title_re, t) for t in titles), titles[:4]
    characteristics = {c for cells in _header(lines, "Sample_characteristics_ch1") for c in _unquoted(cells)}
    assert f"tissue: {organ}" in characteristics
    assert not characteristics & {"tissue: normal", "tissue: tumor"}
    cohort = next(c for c in mirror.catalog if c.cohort == gse)
    title_of = dict(zip(gsms, titles, strict=True))
    for patient, normal, tumor in mirror.truth["cohorts"][gse]["gsm_pairs"]:
        assert re.search(cohort.normal_pattern, title_of[normal]) and re.search(cohort.tumor_pattern, title_of[tumor])
        assert re.search(cohort.patient_pattern, title_of[normal]).group(1) == patient
        assert re.search(cohort.patient_pattern, title_of[tumor]).group(1) == patient


def test_pairs_match_the_catalog_gsms_are_unique_and_pairs_are_not_adjacent(mirror: Mirror) -> None:
    truth = mirror.truth
    assert truth["pairs_per_type"] == CATALOG_PAIRS
    assert sum(t["n_pairs"] for t in truth["cohorts"].values()) == N_PAIRS
    all_gsms: list[str] = []
    adjacent = 0
    for cohort in mirror.catalog:
        planted = truth["cohorts"][cohort.cohort]
        assert planted["n_pairs"] == len(planted["gsm_pairs"]) == cohort.expected_pairs
        assert len({p for p, _, _ in planted["gsm_pairs"]}) == cohort.expected_pairs
        assert len(planted["unpaired_gsms"]) == (cohort.unpaired == "drop")
        gsms = _values(mirror, cohort).columns.tolist()
        paired = [g for _, n, t in planted["gsm_pairs"] for g in (n, t)]
        assert sorted(gsms) == sorted(paired + planted["unpaired_gsms"])
        gsms = [g for g in gsms if g not in planted["unpaired_gsms"]]
        column = {g: i for i, g in enumerate(gsms)}
        adjacent += sum(abs(column[n] - column[t]) == 1 for _, n, t in planted["gsm_pairs"])
        all_gsms += gsms
    assert len(all_gsms) == len(set(all_gsms)) == 2 * N_PAIRS
    assert adjacent < 0.2 * N_PAIRS, "sample columns must be shuffled, not laid out pair by pair"


def test_raw_scale_cohorts_trigger_geo2r_log2_rule_and_log2_ones_do_not(mirror: Mirror) -> None:
    assert mirror.truth["raw_scale_cohorts"] == ["GDS507", "GSE10072", "GSE15852", "GSE6631"]
    for cohort in mirror.catalog:
        values = _values(mirror, cohort).to_numpy().ravel()
        values = values[np.isfinite(values)]
        q0, q25, q99, q100 = np.quantile(values, [0, 0.25, 0.99, 1])
        log_c = q99 > 100 or (q100 - q0 > 50 and q25 > 0)
        assert log_c == mirror.truth["cohorts"][cohort.cohort]["raw_scale"], cohort.cohort


def test_platforms_cover_landmarks_but_the_planted_missing_ones_in_vendor_format(mirror: Mirror) -> None:
    landmarks = set(mirror.universe.landmarks)
    missing_by_platform: dict[str, set[str]] = {}
    for cohort in mirror.catalog:
        path = platform_path(mirror.root, cohort.platform, cohort.platform_file)
        lines = _lines(path)
        if cohort.platform_file == "annot":
            assert lines[0] == "^Annotation" and f"!Annotation_platform = {cohort.platform}" in lines
        else:
            assert f"^PLATFORM = {cohort.platform}" in lines and any(
                line.startswith("!Platform_manufacturer = ") for line in lines
            )
        assert "#ID = " in "\n".join(lines)
        table = _platform_table(path)
        symbols = table[_symbol_column(cohort)]
        if cohort.platform in ("GPL6104", "GPL10558"):
            assert "ILMN_Gene" in table.columns
        vendor = PLATFORMS[cohort.platform].vendor
        assert table.ID.str.fullmatch(PROBE_ID_STYLE[vendor]).all(), table.ID[~table.ID.str.fullmatch(PROBE_ID_STYLE[vendor])]
        assert table.ID.is_unique and table.ID.tolist() == sorted(table.ID)
        assert (symbols == "").sum() >= 4, "control or unannotated probes without a symbol"
        assert symbols.str.contains("///").sum() >= 2
        single = symbols[(symbols != "") & ~symbols.str.contains("///")]
        per_gene = single.value_counts()
        assert per_gene.max() <= 3 and (per_gene > 1).sum() >= 10
        assert set(per_gene.index) - landmarks, "platforms also measure non-landmark genes"
        missing = landmarks - set(per_gene.index)
        missing_by_platform[cohort.platform] = missing
        assert sorted(missing) == mirror.truth["cohorts"][cohort.cohort]["missing_landmarks"]
    partial = {gpl: m for gpl, m in missing_by_platform.items() if gpl in PARTIAL_COVERAGE}
    assert partial.keys() == {"GPL97"}
    covered = 1 - len(partial["GPL97"]) / len(landmarks)
    assert abs(covered - 221 / 978) < 0.02, "HG-U133B covers about 23 % of the landmarks, as the real annotation does"
    lacking = {gpl: m for gpl, m in missing_by_platform.items() if m and gpl not in PARTIAL_COVERAGE}
    assert len(lacking) <= 1 and all(2 <= len(m) <= 3 for m in lacking.values())
    programs = set().union(*(set(p.index) for p in mirror.universe.programs.values()))
    assert not set().union(*lacking.values()) & programs


def test_main_probe_has_the_highest_variance_of_its_gene_in_every_cohort(mirror: Mirror) -> None:
    main_probe = mirror.truth["main_probe"]
    not_first = 0
    for cohort in mirror.catalog:
        expr = _values(mirror, cohort)
        if mirror.truth["cohorts"][cohort.cohort]["raw_scale"]:
            expr = np.log2(expr)
        variance = expr.var(axis=1)
        symbols = _single_symbol_probes(cohort, mirror.root)
        mains = main_probe[cohort.platform]
        assert len(mains) >= 10
        for symbol, probe in mains.items():
            probes = symbols.index[symbols == symbol]
            assert probe in probes and len(probes) > 1
            assert variance[probes].idxmax() == probe, (cohort.cohort, symbol)
            not_first += probe != min(probes)
    assert not_first > 0, "the main probe must not always be the first of its gene in file order"


def _planted_pairs(mirror: Mirror, gse: str) -> set[tuple[str, str, str]]:
    return {(p, n, t) for p, n, t in mirror.truth["cohorts"][gse]["gsm_pairs"]}


def _pairs_of(table: pd.DataFrame) -> set[tuple[str, str, str]]:
    """``(patient, normal GSM, tumor GSM)`` of a clean cohort table (indexed by GSM)."""
    normal = table[table.tissue == "normal"]
    tumor = table[table.tissue == "tumor"]
    tumor_of = pd.Series(tumor.index, index=tumor.patient_id)
    return {(p, g, tumor_of[p]) for g, p in zip(normal.index, normal.patient_id, strict=True)}


def test_clean_cohort_recovers_everything_planted(mirror: Mirror) -> None:
    main_probe = mirror.truth["main_probe"]
    for cohort in mirror.catalog:
        planted = mirror.truth["cohorts"][cohort.cohort]
        matrix = expression_path(mirror.root, cohort)
        table, report = clean_cohort(
            matrix, platform_path(mirror.root, cohort.platform, cohort.platform_file), cohort, mirror.universe.landmarks
        )
        assert report.log2_transformed == planted["raw_scale"], cohort.cohort
        assert report.landmarks_missing == planted["missing_landmarks"]
        assert report.n_pairs == cohort.expected_pairs
        assert report.unpaired_dropped == planted["unpaired_gsms"], "the unpaired samples are reported by id"
        assert _pairs_of(table) == _planted_pairs(mirror, cohort.cohort)
        normals = table[table.tissue == "normal"].set_index("patient_id")
        tumors = table[table.tissue == "tumor"].set_index("patient_id")
        # the highest-variance probe was chosen: gene columns are the main probes' values
        raw = _values(mirror, cohort)
        logged = np.log2(raw) if planted["raw_scale"] else raw
        for symbol, probe in main_probe[cohort.platform].items():
            np.testing.assert_allclose(table[symbol].to_numpy(), logged.loc[probe, table.index].to_numpy(), atol=1e-9)
        # normal − tumor deltas carry −program on the program genes
        program = mirror.universe.programs[cohort.cancer_type]
        genes = [g for g in program.index if g in table.columns]
        delta = (normals[genes] - tumors.loc[normals.index, genes]).mean()
        # every program gene moves the planted way, at the cohort's own gain (GEO cohorts differ in amplitude)
        assert (np.sign(delta) == -np.sign(program[genes])).all(), cohort.cohort
        assert 0.4 < float((-delta / program[genes]).median()) < 2.0, cohort.cohort


def _read_gmt(path: Path) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        name, url, *genes = line.split("\t")
        assert url == f"https://www.gsea-msigdb.org/gsea/msigdb/human/geneset/{name}" == GENESET_URL + name
        assert name not in sets and genes and len(genes) == len(set(genes))
        sets[name] = genes
    assert list(sets) == sorted(sets)
    return sets


def test_gene_set_libraries_hold_each_program_pathway_among_decoys(mirror: Mirror) -> None:
    files = mirror.genesets["files"]
    assert files == [
        "genesets/h.all.v2023.2.Hs.symbols.gmt",
        "genesets/c2.cp.kegg_legacy.v2023.2.Hs.symbols.gmt",
        "genesets/c2.cp.reactome.v2023.2.Hs.symbols.gmt",
    ]
    libraries = {name: _read_gmt(mirror.root / name) for name in files}
    hallmark, kegg, reactome = libraries.values()
    assert (len(hallmark), len(kegg), len(reactome)) == (50, 41, 41)  # 43 + 7, 40 + 1, 40 + 1 program sets
    assert mirror.genesets["program_sets"] == PROGRAM_PATHWAYS
    universe_genes = set(mirror.universe.genes.pr_gene_symbol)
    landmarks = set(mirror.universe.landmarks)
    for library in libraries.values():
        assert all(set(genes) <= universe_genes for genes in library.values())
    for ctype, name in PROGRAM_PATHWAYS.items():
        library = {"HALLMARK": hallmark, "KEGG": kegg, "REACTOME": reactome}[name.split("_")[0]]
        members = library[name]
        program = set(mirror.universe.programs[ctype].index)
        assert program <= set(members) and 30 <= len(members) <= 200
        assert set(members) & landmarks == program, "filler genes are non-landmarks"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_program_sets_hold_their_programs_for_any_seed(seed: int, tmp_path: Path) -> None:
    universe = build_universe("tiny", seed)
    out = write_gene_sets(universe, tmp_path / str(seed))
    hallmark = _read_gmt(tmp_path / str(seed) / out["files"][0])
    for ctype in ("BRCA", "LUAD"):
        assert set(universe.programs[ctype].index) <= set(hallmark[PROGRAM_PATHWAYS[ctype]])


_KEY = st.from_regex(r"[a-z]{1,8}( [a-z]{1,6})?", fullmatch=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    class_key=_KEY,
    patient_key=_KEY,
    n_pairs=st.integers(2, 6),
    gpl=st.sampled_from(sorted(PLATFORMS)),
    kind=st.sampled_from(["annot", "soft"]),
    number=st.integers(1, 999_999),
)
def test_any_catalog_row_round_trips_through_the_readers(
    class_key: str, patient_key: str, n_pairs: int, gpl: str, kind: str, number: int, tmp_path: Path
) -> None:
    """Writer and readers agree for catalog rows with other characteristic keys, platforms and sizes."""
    if class_key == patient_key:
        patient_key += " id"
    cohort = replace(
        load_catalog()[0],
        cohort=f"GSE{number}",
        platform=gpl,
        platform_file=kind,
        class_field=f"characteristics:{class_key}",
        patient_field=f"characteristics:{patient_key}",
        expected_pairs=n_pairs,
    )
    universe = build_universe("tiny", number % 5)
    root = tmp_path / f"{number}-{class_key}-{patient_key}-{gpl}-{kind}"
    truth = write_geo_cohorts(universe, root, [cohort])
    table, report = clean_cohort(
        series_matrix_path(root, cohort.cohort), platform_path(root, gpl, kind), cohort, universe.landmarks
    )
    planted = truth["cohorts"][cohort.cohort]
    assert report.n_pairs == n_pairs and report.landmarks_missing == planted["missing_landmarks"]
    assert _pairs_of(table) == {tuple(p) for p in planted["gsm_pairs"]}


def test_soft_published_cohorts_are_written_as_geo_does(mirror: Mirror) -> None:
    gds = next(c for c in mirror.catalog if c.source == "gds")
    lines = _lines(expression_path(mirror.root, gds))
    planted = mirror.truth["cohorts"][gds.cohort]
    assert lines[3] == f"^DATASET = {gds.cohort}" and f"!dataset_platform = {gds.platform}" in lines
    subset_types = [line.split(" = ", 1)[1] for line in lines if line.startswith("!subset_type")]
    n_samples = 2 * gds.expected_pairs + len(planted["unpaired_gsms"])
    # one disease-state subset per class and one individual subset per patient (the unpaired one too)
    assert subset_types.count("disease state") == 2 and subset_types.count("individual") == n_samples - gds.expected_pairs
    header = lines[lines.index("!dataset_table_begin") + 1].split("\t")
    assert header[:2] == ["ID_REF", "IDENTIFIER"] and len(header) == 2 + n_samples
    family = next(c for c in mirror.catalog if c.source == "family_soft")
    text = "\n".join(_lines(expression_path(mirror.root, family)))
    assert text.count("^SAMPLE = ") == text.count("!sample_table_begin") == 2 * family.expected_pairs
    assert f"^SERIES = {family.cohort}" in text and "!Sample_characteristics_ch1 = patient id: " in text
