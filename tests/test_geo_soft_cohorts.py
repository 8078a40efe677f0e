"""Cohorts GEO publishes as a DataSet (GDS) or a family SOFT file: catalog rows, pairing by subsets, errors."""

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError, FormatError
from l1k_assets.geo.catalog import CATALOG_COLUMNS, load_catalog
from l1k_assets.geo.cohort import clean_cohort
from l1k_assets.synthetic.soft_writer import add_unpaired_normal, family_soft_text, gds_soft_text
from tests.test_geo_preprocess import PLATFORM_SOFT, cohort

CATALOG_HEADER = ",".join(CATALOG_COLUMNS)

# test_geo_preprocess's two-pair cohort, published as a GDS whose subsets give class and patient
GDS_COHORT = cohort(
    cohort="GDS9507",
    platform="GPL97",
    cancer_type="KIRC",
    platform_file="soft",
    class_field="characteristics:disease state",
    tumor_pattern="(?i)(tumou?r|carcinoma)",
    patient_field="characteristics:individual",
    unpaired="drop",
    source="gds",
)
PROBES = ["a1", "a2", "b1", "c1"]
SYMBOLS = ["AAA", "AAA", "BBB", "CCC"]
# probes × samples (N035, T035, N023, T023) on MAS5 scale
VALUES = np.array([[256.0, 512, 1024, 2048], [256, 256, 256, 256], [64, 32, 16, 8], [128, np.nan, 128, 128]])


def kidney_samples() -> pd.DataFrame:
    rows = []
    for k, (patient, tumor) in enumerate([("035", False), ("035", True), ("023", False), ("023", True)]):
        state = "clear cell renal cell carcinoma" if tumor else "normal"
        rows.append(
            {
                "gsm": f"GSM118{10 + k}",
                "title": f"{'T' if tumor else 'N'}{patient} kidney",
                "source_name_ch1": state,
                "characteristics": {"disease state": state, "individual": patient},
                "patient_id": patient,
                "tumor": tumor,
                "pair": int(patient),
            }
        )
    return pd.DataFrame(rows)


def write_gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return write_gz(tmp_path / "GPL97_family.soft.gz", PLATFORM_SOFT.replace("GPL96", "GPL97"))


def test_gds_cohort_pairs_by_its_subsets_and_reports_the_unpaired_sample(tmp_path: Path, platform: Path) -> None:
    samples, values, extra = add_unpaired_normal(kidney_samples(), VALUES, "individual", np.random.default_rng(0))
    text = gds_soft_text("GDS9507", "GPL97", "Renal clear cell carcinoma", samples, PROBES, SYMBOLS, values, "%.2f")
    assert "!subset_type = individual" in text and "!subset_description = 035" in text
    gds = write_gz(tmp_path / "GDS9507.soft.gz", text)
    table, report = clean_cohort(gds, platform, GDS_COHORT, ["AAA", "BBB", "CCC"])
    assert report.source == "gds" and report.log2_transformed
    assert report.n_pairs == 2 and report.unpaired_dropped == [extra] and report.n_unpaired_dropped == 1
    assert sorted(table.index) == ["GSM11810", "GSM11811", "GSM11812", "GSM11813"]
    assert table.set_index("patient_id", append=True).loc[("GSM11810", "035"), "tissue"] == "normal"
    # normals, then tumors, patients in order (023, 035): log2 of 16, 64, then 8, 32
    assert table["BBB"].tolist() == [4.0, 6.0, 3.0, 5.0]
    assert report.landmarks_missing == ["CCC"]  # one sample is null for c1


def test_family_soft_cohort_reads_like_its_series_matrix(tmp_path: Path, platform: Path) -> None:
    text = family_soft_text("GSE99992", "GPL97", "paired kidney", kidney_samples(), PROBES, VALUES, "%.2f")
    family = write_gz(tmp_path / "GSE99992_family.soft.gz", text)
    family_cohort = dataclasses.replace(GDS_COHORT, cohort="GSE99992", source="family_soft", unpaired="error")
    table, report = clean_cohort(family, platform, family_cohort, ["AAA", "BBB"])
    assert report.n_pairs == 2 and report.unpaired_dropped == [] and report.source == "family_soft"
    assert table["BBB"].tolist() == [4.0, 6.0, 3.0, 5.0]


def test_gds_whose_subsets_do_not_define_the_declared_classes(tmp_path: Path, platform: Path) -> None:
    samples = kidney_samples()
    samples["characteristics"] = [{**c, "disease state": "kidney"} for c in samples.characteristics]
    gds = write_gz(tmp_path / "GDS9507.soft.gz", gds_soft_text("GDS9507", "GPL97", "t", samples, PROBES, SYMBOLS, VALUES, "%.2f"))
    with pytest.raises(DataError, match=r"GDS9507.*no sample is normal: .*field 'characteristics:disease state'.*\['kidney'\]"):
        clean_cohort(gds, platform, GDS_COHORT, ["AAA"])


def test_gds_subset_naming_a_sample_absent_from_the_table(tmp_path: Path, platform: Path) -> None:
    text = gds_soft_text("GDS9507", "GPL97", "t", kidney_samples(), PROBES, SYMBOLS, VALUES, "%.2f")
    gds = write_gz(tmp_path / "GDS9507.soft.gz", text.replace("GSM11810,GSM11811", "GSM11810,GSM11811,GSM99999", 1))
    with pytest.raises(FormatError, match=r"GDS9507\.soft\.gz, field 'SUBSET GDS9507_\d+'.*GSM99999"):
        clean_cohort(gds, platform, GDS_COHORT, ["AAA"])


def test_family_soft_without_sample_tables(tmp_path: Path, platform: Path) -> None:
    text = family_soft_text("GSE99992", "GPL97", "t", kidney_samples(), PROBES, VALUES, "%.2f")
    no_tables = "\n".join(
        line for line in text.splitlines() if not line.startswith(("!sample_table", "ID_REF", "a1", "a2", "b1", "c1"))
    )
    family = write_gz(tmp_path / "GSE99992_family.soft.gz", no_tables + "\n")
    family_cohort = dataclasses.replace(GDS_COHORT, cohort="GSE99992", source="family_soft")
    with pytest.raises(FormatError, match=r"GSE99992_family\.soft\.gz: expected a data table in SAMPLE GSM11810"):
        clean_cohort(family, platform, family_cohort, ["AAA"])


def test_catalog_rows_name_their_source(tmp_path: Path) -> None:
    rows = [
        "GDS507,GPL97,KIRC,annot,characteristics:disease state,(?i)^normal,(?i)carcinoma,"
        "characteristics:individual,(.+),8,drop,gds",
        "GSE99992,GPL97,KIRC,annot,title,(?i)^N,(?i)^T,title,^\\w(\\d+),2,error,family_soft",
        "GSE99993,GPL97,KIRC,annot,title,(?i)^N,(?i)^T,title,^\\w(\\d+),2,error,",
    ]
    path = tmp_path / "cohorts.csv"
    path.write_text(CATALOG_HEADER + ",source\n" + "\n".join(rows) + "\n")
    assert [c.source for c in load_catalog(path)] == ["gds", "family_soft", "series_matrix"]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("GDS507,GPL97,KIRC,annot,title,a,b,title,(.),1,error,series_matrix", "line 2, field 'cohort'.*expected a GSE"),
        ("GSE507,GPL97,KIRC,annot,title,a,b,title,(.),1,error,gds", "line 2, field 'cohort'.*expected a GDS"),
        ("GSE507,GPL97,KIRC,annot,title,a,b,title,(.),1,error,matrix", "line 2, field 'source'.*series_matrix, family_soft, gds"),
    ],
)
def test_catalog_source_errors(tmp_path: Path, row: str, match: str) -> None:
    path = tmp_path / "cohorts.csv"
    path.write_text(CATALOG_HEADER + ",source\n" + row + "\n")
    with pytest.raises(FormatError, match=match):
        load_catalog(path)
