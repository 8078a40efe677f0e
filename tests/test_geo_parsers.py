"""GEO parsers on the real GEOquery files and on hand-written series matrices, SOFT and platform tables."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import FormatError
from l1k_assets.geo.platform import parse_platform_table
from l1k_assets.geo.series_matrix import parse_series_matrix
from l1k_assets.geo.soft import parse_soft, soft_to_series_matrix

RAW_MATRIX = """\
!Series_title\t"Paired tumor and normal lung"
!Series_geo_accession\t"GSE99991"
!Series_summary\t"line one"
!Series_summary\t"line two"

!Sample_title\t"Normal lung P1"\t"Tumor lung P1"\t"Normal lung P2"\t"Tumor lung P2"
!Sample_geo_accession\t"GSM101"\t"GSM102"\t"GSM103"\t"GSM104"
!Sample_status\t"Public"\t"Public"\t"Public"\t"Public"
!Sample_source_name_ch1\t"normal lung"\t"lung adenocarcinoma"\t"normal lung"\t"lung adenocarcinoma"
!Sample_characteristics_ch1\t"tissue: Normal"\t"tissue: Tumor"\t"Tissue: normal"\t"tissue: tumour"
!Sample_characteristics_ch1\t"patient id: P1"\t"patient id: P1"\t"age: 61"\t"patient id: P2"
!Sample_characteristics_ch1\t""\t"stage: IIA"\t"patient id: P2"\t"time: 10:30"
!Sample_platform_id\t"GPL96"\t"GPL96"\t"GPL96"\t"GPL96"
!series_matrix_table_begin
"ID_REF"\t"GSM101"\t"GSM102"\t"GSM103"\t"GSM104"
"1007_s_at"\t953.9\t1210.5\t880\t1022.25
"1053_at"\t12.5\tnull\t30.1\t
"117_at"\t0\t45.75\t-3.5\t2.5E3
"7892501"\t101\t202\t303\t404
!series_matrix_table_end
"""

LOG_MATRIX = """\
!Series_geo_accession\t"GSE99992"
!Sample_title\t"normal A"\t"tumor A"
!Sample_geo_accession\t"GSM201"\t"GSM202"
!series_matrix_table_begin
"ID_REF"\t"GSM201"\t"GSM202"
"p1"\t7.25\t8.5
"p2"\t11.125\t3.0
!series_matrix_table_end
"""


def write(path: Path, text: str, *, compress: bool = False, newline: str = "\n") -> Path:
    data = text.replace("\n", newline).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# --- series matrix: content -------------------------------------------------------------------


@pytest.mark.parametrize(("compress", "newline"), [(False, "\n"), (True, "\n"), (True, "\r\n")])
def test_series_matrix_values_samples_and_series(tmp_path: Path, compress: bool, newline: str) -> None:
    # the name does not say .gz: the gzip magic is sniffed
    sm = parse_series_matrix(write(tmp_path / "GSE99991_series_matrix.txt", RAW_MATRIX, compress=compress, newline=newline))

    assert sm.series["title"] == ["Paired tumor and normal lung"]
    assert sm.series["summary"] == ["line one", "line two"]
    assert list(sm.samples.index) == ["GSM101", "GSM102", "GSM103", "GSM104"]
    assert sm.samples.index.name == "gsm"
    assert list(sm.samples.columns) == [
        "title",
        "geo_accession",
        "source_name_ch1",
        "platform_id",
        "characteristics:tissue",
        "characteristics:patient id",
        "characteristics:stage",
        "characteristics:age",
        "characteristics:time",
    ]
    assert sm.samples["title"].tolist() == ["Normal lung P1", "Tumor lung P1", "Normal lung P2", "Tumor lung P2"]
    assert sm.samples["characteristics:tissue"].tolist() == ["Normal", "Tumor", "normal", "tumour"]
    assert sm.samples["characteristics:patient id"].tolist() == ["P1", "P1", "P2", "P2"]
    assert sm.samples["characteristics:time"].tolist()[3] == "10:30"  # only the first colon separates
    assert sm.samples["characteristics:age"].isna().tolist() == [True, True, False, True]

    expr = sm.expression
    assert expr.index.name == "probe_id"
    assert list(expr.index) == ["1007_s_at", "1053_at", "117_at", "7892501"]  # numeric-looking ids stay text
    assert all(expr.dtypes == np.float64)
    assert expr.loc["1007_s_at"].tolist() == [953.9, 1210.5, 880.0, 1022.25]
    assert expr.loc["117_at"].tolist() == [0.0, 45.75, -3.5, 2500.0]
    assert expr.loc["1053_at", "GSM101"] == 12.5
    assert math.isnan(expr.loc["1053_at", "GSM102"])  # "null"
    assert math.isnan(expr.loc["1053_at", "GSM104"])  # empty cell


def test_series_matrix_log_scale(tmp_path: Path) -> None:
    sm = parse_series_matrix(write(tmp_path / "log.txt", LOG_MATRIX))
    assert sm.expression.to_numpy().tolist() == [[7.25, 8.5], [11.125, 3.0]]
    assert list(sm.samples.columns) == ["title", "geo_accession"]


def test_keyless_and_repeated_characteristics(tmp_path: Path) -> None:
    text = LOG_MATRIX.replace(
        "!series_matrix_table_begin",
        '!Sample_characteristics_ch1\t"Normal lung"\t"treatment: none"\n'
        '!Sample_characteristics_ch1\t"treatment: a"\t"Treatment: b"\n'
        "!series_matrix_table_begin",
    )
    samples = parse_series_matrix(write(tmp_path / "m.txt", text)).samples
    assert samples["characteristics_ch1"].tolist()[0] == "Normal lung"  # no "key:" part
    assert samples["characteristics_ch1"].isna().tolist() == [False, True]
    assert samples["characteristics:treatment"].tolist() == ["a", "none; b"]  # one key twice for a sample


# --- series matrix: every defect is a FormatError naming file and line ------------------------


def test_missing_begin_marker(tmp_path: Path) -> None:
    path = write(tmp_path / "m.txt", RAW_MATRIX.split("!series_matrix_table_begin")[0])
    with pytest.raises(FormatError, match="series_matrix_table_begin") as err:
        parse_series_matrix(path)
    assert str(path) in str(err.value)


def test_missing_end_marker(tmp_path: Path) -> None:
    path = write(tmp_path / "m.txt", RAW_MATRIX.replace("!series_matrix_table_end\n", ""))
    with pytest.raises(FormatError, match="series_matrix_table_end"):
        parse_series_matrix(path)


def test_header_samples_differ_from_accessions(tmp_path: Path) -> None:
    text = replace_line(
        RAW_MATRIX, '"ID_REF"\t"GSM101"\t"GSM102"\t"GSM103"\t"GSM104"', '"ID_REF"\t"GSM101"\t"GSM102"\t"GSM103"\t"GSM999"'
    )
    with pytest.raises(FormatError) as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert err.value.line == 15
    assert "GSM104" in str(err.value) and "GSM999" in str(err.value)


def test_header_samples_reordered(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, '"ID_REF"\t"GSM101"\t"GSM102"', '"ID_REF"\t"GSM102"\t"GSM101"')
    with pytest.raises(FormatError, match="another order"):
        parse_series_matrix(write(tmp_path / "m.txt", text))


def test_row_with_wrong_field_count(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, '"117_at"\t0\t45.75\t-3.5\t2.5E3', '"117_at"\t0\t45.75\t-3.5')
    with pytest.raises(FormatError, match="5 tab-separated fields") as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert err.value.line == 18
    assert "line 18" in str(err.value)


def test_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, "\t30.1\t", "\t30.1x\t")
    with pytest.raises(FormatError) as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert (err.value.line, err.value.field) == (17, "GSM103")
    assert "30.1x" in str(err.value)


def test_infinite_value_is_refused(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, "\t880\t", "\t1e400\t")
    with pytest.raises(FormatError, match="finite") as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert (err.value.line, err.value.field) == (16, "GSM103")


def test_duplicate_probe_ids(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, '"117_at"', '"1053_at"')
    with pytest.raises(FormatError, match="already on line 17") as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert err.value.line == 18


def test_sample_line_with_wrong_cell_count(tmp_path: Path) -> None:
    text = replace_line(RAW_MATRIX, '!Sample_status\t"Public"\t"Public"\t"Public"\t"Public"', '!Sample_status\t"Public"')
    with pytest.raises(FormatError, match="Sample_status") as err:
        parse_series_matrix(write(tmp_path / "m.txt", text))
    assert err.value.line == 8


def test_text_outside_header_lines(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="header line") as err:
        parse_series_matrix(write(tmp_path / "m.txt", "stray text\n" + RAW_MATRIX))
    assert err.value.line == 1


def test_content_after_end_marker(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="nothing after"):
        parse_series_matrix(write(tmp_path / "m.txt", RAW_MATRIX + '"extra"\t1\t2\t3\t4\n'))


def test_truncated_gzip_is_a_format_error(tmp_path: Path) -> None:
    data = gzip.compress((RAW_MATRIX * 1).encode())
    path = tmp_path / "m.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="complete gzip stream") as err:
        parse_series_matrix(path)
    assert str(path) in str(err.value)


# --- SOFT: real GEOquery files ----------------------------------------------------------------


def test_soft_real_gsm11805(shared_data: Path) -> None:
    soft = parse_soft(shared_data / "geo" / "geoquery_GSM11805.txt.gz")
    (sample,) = soft.entities
    assert (sample.kind, sample.accession) == ("SAMPLE", "GSM11805")
    assert sample.attributes["title"] == ["N035 Normal Human Kidney U133A"]
    assert sample.attributes["platform_id"] == ["GPL96"]
    assert len(sample.attributes["description"]) == 7
    assert sample.columns["VALUE"] == "MAS 5.0 Statistical Algorithm (mean scaled to 500)"
    assert sample.table is not None
    assert sample.table.shape == (22283, 3)
    assert sample.table_line == 40
    assert sample.table.iloc[0].tolist() == ["AFFX-BioB-5_at", "953.9", "P"]
    assert sample.table.index[0] == 41  # rows are indexed by their line in the file

    sm = soft_to_series_matrix(soft)
    assert sm.expression.shape == (22283, 1)
    assert sm.expression.loc["AFFX-BioB-5_at", "GSM11805"] == 953.9
    assert sm.expression.loc["222384_at", "GSM11805"] == 26.4
    assert sm.samples.loc["GSM11805", "platform_id"] == "GPL96"
    assert sm.samples.loc["GSM11805", "source_name_ch1"].startswith("Trizol isolation of total RNA from normal tissue")


def test_soft_real_gpl96_platform(shared_data: Path) -> None:
    soft = parse_soft(shared_data / "geo" / "geoquery_GPL96.txt.gz")
    (platform,) = soft.of_kind("platform")
    assert platform.accession == "GPL96"
    assert platform.attributes["data_row_count"] == ["22283"]
    assert platform.columns["Gene Symbol"] == "A gene symbol, when one is available (from UniGene)."
    assert platform.table is not None
    assert platform.table.shape == (22283, 16)
    assert platform.table.loc[platform.table["ID"] == "1007_s_at", "Gene Symbol"].tolist() == ["DDR1"]


def test_soft_real_gpl97_annotation(shared_data: Path) -> None:
    soft = parse_soft(shared_data / "geo" / "geoquery_GPL97.annot.gz")
    (annotation,) = soft.of_kind("ANNOTATION")
    assert annotation.attributes["platform"] == ["GPL97"]
    assert annotation.table is not None
    assert annotation.table.shape == (22645, 21)
    # the GO columns appear twice (terms, then identifiers): the repeats are suffixed
    assert {"GO:Function", "GO:Function.1", "GO:Component.1"} <= set(annotation.table.columns)


# --- SOFT: hand-written GSE family and GDS ----------------------------------------------------

FAMILY_SOFT = """\
^DATABASE = GeoMiame
!Database_name = Gene Expression Omnibus (GEO)
^SERIES = GSE99991
!Series_title = Paired tumor and normal lung
!Series_summary = line one
!Series_summary = line two
!Series_sample_id = GSM101
!Series_sample_id = GSM102
^PLATFORM = GPL96
!Platform_title = [HG-U133A] Affymetrix Human Genome U133A Array
#ID = probe set
#Gene Symbol = symbol
!platform_table_begin
ID\tGene Symbol
1007_s_at\tDDR1
1053_at\tRFC2
!platform_table_end
^SAMPLE = GSM101
!Sample_title = Normal lung P1
!Sample_geo_accession = GSM101
!Sample_source_name_ch1 = normal lung
!Sample_characteristics_ch1 = tissue: Normal
!Sample_characteristics_ch1 = patient id: P1
!Sample_platform_id = GPL96
#ID_REF =
#VALUE = MAS5 signal
!sample_table_begin
ID_REF\tVALUE\tABS_CALL
1007_s_at\t953.9\tP
1053_at\t12.5\tA
!sample_table_end
^SAMPLE = GSM102
!Sample_title = Tumor lung P1
!Sample_geo_accession = GSM102
!Sample_source_name_ch1 = lung adenocarcinoma
!Sample_characteristics_ch1 = tissue: Tumor
!Sample_characteristics_ch1 = patient id: P1
!Sample_characteristics_ch1 = stage: IIA
!Sample_platform_id = GPL96
!sample_table_begin
ID_REF\tVALUE
1053_at\tnull
1007_s_at\t1210.5
117_at\t45.75
!sample_table_end
"""

FAMILY_AS_MATRIX = """\
!Series_title\t"Paired tumor and normal lung"
!Series_summary\t"line one"
!Series_summary\t"line two"
!Series_sample_id\t"GSM101"
!Series_sample_id\t"GSM102"
!Sample_title\t"Normal lung P1"\t"Tumor lung P1"
!Sample_geo_accession\t"GSM101"\t"GSM102"
!Sample_source_name_ch1\t"normal lung"\t"lung adenocarcinoma"
!Sample_characteristics_ch1\t"tissue: Normal"\t"tissue: Tumor"
!Sample_characteristics_ch1\t"patient id: P1"\t"patient id: P1"
!Sample_characteristics_ch1\t""\t"stage: IIA"
!Sample_platform_id\t"GPL96"\t"GPL96"
!series_matrix_table_begin
"ID_REF"\t"GSM101"\t"GSM102"
"1007_s_at"\t953.9\t1210.5
"1053_at"\t12.5\t
"117_at"\t\t45.75
!series_matrix_table_end
"""


def test_family_soft_gives_the_same_series_matrix(tmp_path: Path) -> None:
    from_soft = soft_to_series_matrix(parse_soft(write(tmp_path / "GSE99991_family.soft.gz", FAMILY_SOFT, compress=True)))
    from_matrix = parse_series_matrix(write(tmp_path / "GSE99991_series_matrix.txt", FAMILY_AS_MATRIX))
    assert from_soft.series == from_matrix.series
    pd.testing.assert_frame_equal(from_soft.samples, from_matrix.samples)
    pd.testing.assert_frame_equal(from_soft.expression, from_matrix.expression)


def test_soft_entities_and_prefix_free_attributes(tmp_path: Path) -> None:
    soft = parse_soft(write(tmp_path / "family.soft", FAMILY_SOFT))
    assert [(e.kind, e.accession) for e in soft.entities] == [
        ("DATABASE", "GeoMiame"),
        ("SERIES", "GSE99991"),
        ("PLATFORM", "GPL96"),
        ("SAMPLE", "GSM101"),
        ("SAMPLE", "GSM102"),
    ]
    assert soft.of_kind("database")[0].attributes == {"name": ["Gene Expression Omnibus (GEO)"]}
    assert soft.of_kind("SAMPLE")[0].columns == {"ID_REF": "", "VALUE": "MAS5 signal"}


def test_soft_sample_with_duplicate_probe(tmp_path: Path) -> None:
    text = FAMILY_SOFT.replace("117_at\t45.75", "1053_at\t45.75")
    with pytest.raises(FormatError, match="already on line 42") as err:
        soft_to_series_matrix(parse_soft(write(tmp_path / "family.soft", text)))
    assert err.value.line == 44


def test_soft_sample_with_bad_value(tmp_path: Path) -> None:
    text = FAMILY_SOFT.replace("1007_s_at\t1210.5", "1007_s_at\tabc")
    with pytest.raises(FormatError) as err:
        soft_to_series_matrix(parse_soft(write(tmp_path / "family.soft", text)))
    assert (err.value.line, err.value.field) == (43, "VALUE")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("!sample_table_end\n^SAMPLE = GSM102", "^SAMPLE = GSM102", "3 tab-separated fields"),
        ("^DATABASE = GeoMiame\n", "", "ENTITY"),
        ("!Platform_title", "Platform_title", "outside a data table"),
    ],
)
def test_soft_format_errors(tmp_path: Path, old: str, new: str, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        parse_soft(write(tmp_path / "family.soft", FAMILY_SOFT.replace(old, new)))


def test_soft_without_table_end(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="sample_table_end"):
        parse_soft(write(tmp_path / "family.soft", FAMILY_SOFT.removesuffix("!sample_table_end\n")))


GDS_SOFT = """\
^DATABASE = Geo
!Database_name = Gene Expression Omnibus (GEO)
^DATASET = GDS9990
!dataset_title = Renal clear cell carcinoma (test)
!dataset_platform = GPL97
!dataset_sample_count = 4
^SUBSET = GDS9990_1
!subset_dataset_id = GDS9990
!subset_description = normal
!subset_sample_id = GSM11810,GSM11827
!subset_type = disease state
^SUBSET = GDS9990_2
!subset_description = clear cell RCC
!subset_sample_id = GSM11815,GSM11830
!subset_type = disease state
^SUBSET = GDS9990_3
!subset_description = 035
!subset_sample_id = GSM11810,GSM11815
!subset_type = individual
^SUBSET = GDS9990_4
!subset_description = 023
!subset_sample_id = GSM11827,GSM11830
!subset_type = individual
^DATASET = GDS9990
#ID_REF = Platform reference identifier
#IDENTIFIER = identifier
#GSM11810 = Value for GSM11810: N035 Normal Human Kidney HG-U133B; src: normal kidney
#GSM11815 = Value for GSM11815: T035 Renal Clear Cell Carcinoma HG-U133B; src: clear cell RCC
#GSM11827 = Value for GSM11827: N023 Normal Human Kidney HG-U133B; src: normal kidney
#GSM11830 = Value for GSM11830: T023 Renal Clear Cell Carcinoma HG-U133B; src: clear cell RCC
!dataset_table_begin
ID_REF\tIDENTIFIER\tGSM11810\tGSM11815\tGSM11827\tGSM11830
200000_s_at\tPRPF8\t4254\t5124.9\tnull\t3967.5
200001_at\tCAPNS1\t17996.2\t23182.4\t13418.5\t19562.1
!dataset_table_end
"""


def test_gds_soft_to_series_matrix(tmp_path: Path) -> None:
    soft = parse_soft(write(tmp_path / "GDS9990_full.soft.gz", GDS_SOFT, compress=True))
    (dataset,) = soft.of_kind("DATASET")  # the repeated ^DATASET continues the same entity
    assert dataset.attributes["title"] == ["Renal clear cell carcinoma (test)"]
    assert len(soft.of_kind("SUBSET")) == 4

    sm = soft_to_series_matrix(soft)
    assert list(sm.samples.index) == ["GSM11810", "GSM11815", "GSM11827", "GSM11830"]
    assert sm.samples["title"].tolist()[:2] == ["N035 Normal Human Kidney HG-U133B", "T035 Renal Clear Cell Carcinoma HG-U133B"]
    assert sm.samples["source_name_ch1"].tolist() == ["normal kidney", "clear cell RCC", "normal kidney", "clear cell RCC"]
    assert sm.samples["platform_id"].tolist() == ["GPL97"] * 4
    assert sm.samples["characteristics:disease state"].tolist() == ["normal", "clear cell RCC", "normal", "clear cell RCC"]
    assert sm.samples["characteristics:individual"].tolist() == ["035", "035", "023", "023"]
    assert sm.series["platform"] == ["GPL97"]
    assert sm.expression.loc["200001_at"].tolist() == [17996.2, 23182.4, 13418.5, 19562.1]
    assert math.isnan(sm.expression.loc["200000_s_at", "GSM11827"])


def test_gds_subset_naming_an_unknown_sample(tmp_path: Path) -> None:
    text = GDS_SOFT.replace("GSM11827,GSM11830\n!subset_type = individual", "GSM11827,GSM99999\n!subset_type = individual")
    with pytest.raises(FormatError, match="GSM99999"):
        soft_to_series_matrix(parse_soft(write(tmp_path / "gds.soft", text)))


def test_soft_without_samples_or_dataset(tmp_path: Path) -> None:
    platform_only = FAMILY_SOFT.split("^SAMPLE = GSM101")[0]
    with pytest.raises(FormatError, match="DATASET"):
        soft_to_series_matrix(parse_soft(write(tmp_path / "gpl.soft", platform_only)))


# --- platform tables --------------------------------------------------------------------------


def test_platform_real_gpl96(shared_data: Path) -> None:
    table = parse_platform_table(shared_data / "geo" / "geoquery_GPL96.txt.gz")
    # 22,283 probes, of which 862 list several symbols ("///") and 1,288 none (counted with awk)
    assert len(table) == 22283 - 862 - 1288
    assert list(table.columns) == ["probe_id", "symbol"]
    assert table["probe_id"].is_unique
    mapping = dict(zip(table["probe_id"], table["symbol"], strict=True))
    assert mapping["1007_s_at"] == "DDR1"
    assert mapping["1053_at"] == "RFC2"
    assert mapping["200000_s_at"] == "PRPF8"
    assert "1598_g_at" not in mapping  # GAS6 /// LOC100133684
    assert "200017_at" not in mapping  # RPS27A /// UBB /// UBC
    assert "AFFX-BioB-5_at" not in mapping  # control probe, no symbol
    assert not table["symbol"].str.contains("///").any()


def test_platform_real_gpl97_annot(shared_data: Path) -> None:
    table = parse_platform_table(shared_data / "geo" / "geoquery_GPL97.annot.gz")
    assert len(table) == 12425  # probes with exactly one "Gene symbol" (counted with awk)
    mapping = dict(zip(table["probe_id"], table["symbol"], strict=True))
    assert mapping["200000_s_at"] == "PRPF8"
    assert mapping["200001_at"] == "CAPNS1"
    assert mapping["223096_at"] == "NOP5/NOP58"  # a single symbol that happens to contain "/"


def _platform_soft(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["^PLATFORM = GPL1", "!Platform_title = test", "!platform_table_begin", "\t".join(columns)]
    return "\n".join([*lines, *("\t".join(row) for row in rows), "!platform_table_end", ""])


@pytest.mark.parametrize(
    ("columns", "rows", "expected"),
    [
        (  # Agilent
            ["ID", "SPOT_ID", "GENE_SYMBOL"],
            [["A_1", "x", "TP53"], ["A_2", "y", ""], ["A_3", "z", "EGFR"]],
            [("A_1", "TP53"), ("A_3", "EGFR")],
        ),
        (  # Illumina: the curated Symbol wins over the probe-design ILMN_Gene
            ["ID", "ILMN_Gene", "Symbol"],
            [["ILMN_1", "LOC1", "KRAS"], ["ILMN_2", "MYC", ""]],
            [("ILMN_1", "KRAS")],
        ),
        (  # Illumina with only ILMN_Gene
            ["ID", "ILMN_Gene"],
            [["ILMN_1", "KRAS"]],
            [("ILMN_1", "KRAS")],
        ),
        (  # Affymetrix Gene ST: symbol is the second "//" field; repeats of one gene are not ambiguous
            ["ID", "gene_assignment"],
            [
                [
                    "7896736",
                    "NM_001005240 // OR4F17 // olfactory receptor // 19p13.3 /// ENST00000318050 // OR4F17 // x // 81099",
                ],
                ["7896740", "NM_1 // AAA // a /// NM_2 // BBB // b"],
                ["7896742", "---"],
            ],
            [("7896736", "OR4F17")],
        ),
        (  # Affymetrix: "---" means no symbol, "A /// B" is ambiguous, "A /// A" is not
            ["ID", "Gene Symbol"],
            [["1_at", "---"], ["2_at", "A1BG /// A2M"], ["3_at", "NAT1 /// NAT1"], ["4_at", " GAPDH "]],
            [("3_at", "NAT1"), ("4_at", "GAPDH")],
        ),
    ],
)
def test_platform_vendor_symbol_columns(tmp_path: Path, columns: list[str], rows: list[list[str]], expected: list) -> None:
    table = parse_platform_table(write(tmp_path / "GPL1.soft", _platform_soft(columns, rows)))
    assert list(table.itertuples(index=False, name=None)) == expected


def test_platform_plain_full_table(tmp_path: Path) -> None:
    text = "# ID = probe\n# Gene Symbol = symbol\nID\tGB_ACC\tGene Symbol\n1007_s_at\tU48705\tDDR1\n117_at\tX51757\tHSPA6\n"
    table = parse_platform_table(write(tmp_path / "GPL96-full.txt", text))
    assert list(table.itertuples(index=False, name=None)) == [("1007_s_at", "DDR1"), ("117_at", "HSPA6")]


def test_platform_family_soft_stops_after_platform_table(tmp_path: Path) -> None:
    # a sample entity after the platform table is never read, even when it is broken
    text = FAMILY_SOFT.replace("1053_at\tnull", "broken row with no tabs")
    table = parse_platform_table(write(tmp_path / "GPL96_family.soft.gz", text, compress=True))
    assert list(table.itertuples(index=False, name=None)) == [("1007_s_at", "DDR1"), ("1053_at", "RFC2")]


def test_platform_without_symbol_column(tmp_path: Path) -> None:
    path = write(tmp_path / "GPL1.soft", _platform_soft(["ID", "GB_ACC"], [["1_at", "U48705"]]))
    with pytest.raises(FormatError, match="gene symbol column") as err:
        parse_platform_table(path)
    assert err.value.field == "gene symbol"
    assert err.value.found == "ID, GB_ACC"
    assert err.value.line == 4
    assert str(path) in str(err.value)


def test_platform_duplicate_probe_id(tmp_path: Path) -> None:
    path = write(tmp_path / "GPL1.soft", _platform_soft(["ID", "Gene Symbol"], [["1_at", "A"], ["2_at", "B"], ["1_at", "C"]]))
    with pytest.raises(FormatError, match="already on line 5") as err:
        parse_platform_table(path)
    assert err.value.line == 7


def test_platform_without_table(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="platform_table_begin"):
        parse_platform_table(write(tmp_path / "GPL1.soft", "^PLATFORM = GPL1\n!Platform_title = no table\n"))
