"""GEO2R log2 rule, probe collapse, landmark restriction and tumor-normal pairing, on hand-computed examples."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from l1k_assets.errors import DataError
from l1k_assets.geo.catalog import Cohort, load_catalog
from l1k_assets.geo.cohort import clean_cohort
from l1k_assets.geo.pairing import pair_samples, sample_classes
from l1k_assets.geo.preprocess import collapse_probes, geo2r_log2, restrict_to_genes

NAN = float("nan")


def frame(rows: dict[str, list[float]], samples: list[str] | None = None) -> pd.DataFrame:
    width = len(next(iter(rows.values())))
    return pd.DataFrame.from_dict(rows, orient="index", columns=samples or [f"S{i + 1}" for i in range(width)], dtype=float)


# --- GEO2R log2 rule --------------------------------------------------------------------------


def test_geo2r_raw_scale_is_logged_and_non_positive_becomes_missing() -> None:
    # sorted values 0 8 16 32 64 256: q99 = 64 + 0.95 * 192 = 246.4 > 100
    expr = frame({"p1": [8, 16], "p2": [32, 64], "p3": [256, 0]})
    logged, transformed = geo2r_log2(expr)
    assert transformed
    assert logged.loc["p1"].tolist() == [3.0, 4.0]
    assert logged.loc["p2"].tolist() == [5.0, 6.0]
    assert logged.loc["p3", "S1"] == 8.0
    assert math.isnan(logged.loc["p3", "S2"])
    assert list(logged.index) == ["p1", "p2", "p3"] and list(logged.columns) == ["S1", "S2"]


def test_geo2r_wide_range_with_positive_q25_is_logged() -> None:
    # sorted 1 2 4 8 16 64: q99 = 16 + 0.95 * 48 = 61.6 <= 100, but q100 - q0 = 63 > 50 and q25 = 2.5 > 0
    logged, transformed = geo2r_log2(frame({"p1": [1, 2], "p2": [4, 8], "p3": [16, 64]}))
    assert transformed
    assert logged.to_numpy().ravel().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]


def test_geo2r_wide_range_with_non_positive_q25_is_kept() -> None:
    # sorted -4 -2 0 8 16 60: q99 = 57.8, range 64 > 50 but q25 = -2 + 0.25 * 2 = -1.5 <= 0
    expr = frame({"p1": [-4, -2], "p2": [0, 8], "p3": [16, 60]})
    kept, transformed = geo2r_log2(expr)
    assert not transformed
    pd.testing.assert_frame_equal(kept, expr)


def test_geo2r_log_scale_is_kept_and_missing_values_are_ignored() -> None:
    expr = frame({"p1": [7.25, 8.5], "p2": [11.125, NAN], "p3": [1000.0, NAN]})
    # NaNs are skipped: q99 of 7.25 8.5 11.125 1000 = 11.125 + 0.97 * 988.875 > 100 (a NaN quantile would compare False)
    assert geo2r_log2(expr)[1]
    log_scale = frame({"p1": [7.25, 8.5], "p2": [11.125, NAN]})
    kept, transformed = geo2r_log2(log_scale)
    assert not transformed
    pd.testing.assert_frame_equal(kept, log_scale)


def test_geo2r_without_values() -> None:
    with pytest.raises(DataError, match="no value"):
        geo2r_log2(frame({"p1": [NAN, NAN]}))


# --- probe collapse ---------------------------------------------------------------------------

PLATFORM = pd.DataFrame(
    {
        "probe_id": ["p1", "p2", "p3", "p6", "p5", "p8", "p9", "p10", "p99"],
        "symbol": ["A", "A", "B", "D", "D", "E", "E", "F", "G"],
    },
    dtype=str,
)
PROBES = frame(
    {
        "p1": [1, 2, 3],  # A, variance 1
        "p2": [0, 4, 8],  # A, variance 16: kept
        "p3": [5, 5, 5],  # B, only probe (variance 0)
        "p4": [9, 9, 1],  # not on the platform
        "p6": [1, 3, 5],  # D, variance 4
        "p5": [2, 4, 6],  # D, variance 4: tie, smaller id kept although listed second
        "p8": [1, NAN, NAN],  # E, no variance
        "p9": [2, 2, 2],  # E, variance 0 beats no variance
        "p10": [NAN, NAN, NAN],  # F, only probe
    }
)


def test_collapse_keeps_the_highest_variance_probe_per_gene() -> None:
    genes = collapse_probes(PROBES, PLATFORM)
    assert list(genes.index) == ["A", "B", "D", "E", "F"]
    assert genes.index.name == "symbol"
    assert genes.loc["A"].tolist() == [0, 4, 8]
    assert genes.loc["B"].tolist() == [5, 5, 5]
    assert genes.loc["D"].tolist() == [2, 4, 6]
    assert genes.loc["E"].tolist() == [2, 2, 2]
    assert genes.loc["F"].isna().all()
    assert list(genes.columns) == ["S1", "S2", "S3"]


def test_collapse_does_not_depend_on_row_order() -> None:
    shuffled = PROBES.iloc[::-1]
    pd.testing.assert_frame_equal(collapse_probes(shuffled, PLATFORM.iloc[::-1]), collapse_probes(PROBES, PLATFORM))


def test_collapse_refuses_ambiguous_or_empty_mapping() -> None:
    with pytest.raises(DataError, match="more than once"):
        collapse_probes(PROBES, pd.concat([PLATFORM, PLATFORM.iloc[:1]]))
    with pytest.raises(DataError, match="none of the 9 probes"):
        collapse_probes(PROBES, pd.DataFrame({"probe_id": ["x"], "symbol": ["X"]}, dtype=str))


# --- landmark restriction ---------------------------------------------------------------------


def test_restrict_keeps_given_order_and_reports_dropped_genes() -> None:
    genes = collapse_probes(PROBES, PLATFORM)
    kept, dropped = restrict_to_genes(genes, ["E", "Z", "A", "F", "B", "A"])
    assert list(kept.index) == ["E", "A", "B"]
    assert kept.loc["A"].tolist() == [0, 4, 8]
    assert dropped == ["Z", "F"]  # Z absent, F missing in some sample


def test_restrict_drops_a_gene_missing_in_one_sample() -> None:
    genes = frame({"A": [1, 2], "B": [3, NAN]})
    kept, dropped = restrict_to_genes(genes, ["B", "A"])
    assert list(kept.index) == ["A"] and dropped == ["B"]


# --- pairing ----------------------------------------------------------------------------------


def cohort(**changes: str) -> Cohort:
    base = Cohort(
        cohort="GSE99991",
        platform="GPL96",
        cancer_type="LUAD",
        platform_file="annot",
        class_field="characteristics:tissue",
        normal_pattern="(?i)^normal",
        tumor_pattern="(?i)^tumou?r",
        patient_field="characteristics:patient id",
        patient_pattern="(.+)",
        expected_pairs=2,
    )
    return dataclasses.replace(base, **changes)


def samples(tissue: list[str], patient: list[str]) -> pd.DataFrame:
    index = pd.Index([f"GSM{i + 1}" for i in range(len(tissue))], name="gsm")
    return pd.DataFrame({"characteristics:tissue": tissue, "characteristics:patient id": patient}, index=index, dtype=str)


SAMPLES = samples(["Normal", "Tumor", "normal", "tumour", "cell line"], ["P2", "P2", "P1", "P1", "X"])


def test_pairing_by_characteristics(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="l1k_assets.geo.pairing"):
        classes = sample_classes(SAMPLES, cohort(), "GSE99991_series_matrix.txt.gz")
    assert classes.to_dict("list") == {
        "gsm": ["GSM1", "GSM2", "GSM3", "GSM4"],
        "tissue": ["normal", "tumor", "normal", "tumor"],
        "patient_id": ["P2", "P2", "P1", "P1"],
    }
    assert "GSM5" in caplog.text  # neither class: left out, logged
    pairs = pair_samples(classes)
    assert pairs.to_dict("list") == {"patient_id": ["P1", "P2"], "normal_gsm": ["GSM3", "GSM1"], "tumor_gsm": ["GSM4", "GSM2"]}


def test_pairing_by_title_like_gse15852(shared_data: Path) -> None:
    gse15852 = next(c for c in load_catalog() if c.cohort == "GSE15852")
    metadata = pd.read_csv(shared_data / "geo" / "motaghianfar_GSE15852_sample_metadata.csv", dtype=str)
    table = metadata.set_index("geo_accession").rename_axis("gsm")[["title", "source_name_ch1"]]
    pairs = pair_samples(sample_classes(table, gse15852, "GSE15852_series_matrix.txt.gz"))
    assert len(pairs) == gse15852.expected_pairs == 43
    assert pairs.iloc[0].tolist() == ["BC0043", "GSM398074", "GSM398075"]  # "Normal BC0043N" / "Cancer BC0043T"
    titles = table["title"]
    assert titles[pairs["normal_gsm"]].str.startswith("Normal").all()
    assert titles[pairs["tumor_gsm"]].str.startswith("Cancer").all()
    assert list(pairs["patient_id"]) == sorted(pairs["patient_id"])


def test_sample_matching_both_classes() -> None:
    with pytest.raises(DataError, match="both") as err:
        sample_classes(SAMPLES, cohort(tumor_pattern="(?i)^(tumou?r|normal)"), "m.txt")
    assert all(part in str(err.value) for part in ("m.txt", "GSE99991", "GSM1", "characteristics:tissue"))


def test_missing_field_column() -> None:
    with pytest.raises(DataError, match="characteristics:disease state") as err:
        sample_classes(SAMPLES, cohort(class_field="characteristics:disease state"), "m.txt")
    assert "GSE99991" in str(err.value)
    with pytest.raises(DataError, match="title"):
        sample_classes(SAMPLES, cohort(patient_field="title"), "m.txt")


def test_patient_pattern_not_matching_a_classified_sample() -> None:
    table = samples(["normal", "tumor"], ["P1", "unknown"])
    with pytest.raises(DataError, match="GSM2") as err:
        sample_classes(table, cohort(patient_pattern=r"^(P\d+)$"), "m.txt")
    assert "GSE99991" in str(err.value) and "unknown" in str(err.value)


def test_patient_with_two_normals() -> None:
    table = samples(["normal", "tumor", "normal"], ["P1", "P1", "P1"])
    with pytest.raises(DataError, match="two samples of one class") as err:
        pair_samples(sample_classes(table, cohort(), "m.txt"))
    assert all(part in str(err.value) for part in ("m.txt", "P1", "GSM1", "GSM3"))


def test_sample_with_no_partner() -> None:
    table = samples(["normal", "tumor", "normal"], ["P1", "P1", "P7"])
    with pytest.raises(DataError, match="no partner") as err:
        pair_samples(sample_classes(table, cohort(), "m.txt"))
    assert all(part in str(err.value) for part in ("m.txt", "GSE99991", "P7", "GSM3"))
    assert "GSM1" not in str(err.value)


def test_unpaired_samples_are_dropped_and_logged_when_the_catalog_says_so(caplog: pytest.LogCaptureFixture) -> None:
    table = samples(["normal", "tumor", "normal", "tumor"], ["P1", "P1", "P7", "P8"])
    pairs = pair_samples(sample_classes(table, cohort(), "m.txt"), unpaired="drop")
    assert pairs.patient_id.tolist() == ["P1"]
    assert "dropping 2 unpaired samples" in caplog.text and "P7" in caplog.text and "P8" in caplog.text


def test_nothing_classified() -> None:
    with pytest.raises(DataError, match="nothing to pair"):
        pair_samples(pd.DataFrame(columns=["gsm", "tissue", "patient_id"]))


def test_a_class_no_sample_has_is_an_error_naming_the_field_and_its_values() -> None:
    with pytest.raises(DataError, match=r"no sample is normal: pattern .* matches no value of field .*\['cell line', 'tumor'\]"):
        sample_classes(samples(["cell line", "tumor"], ["X", "Y"]), cohort(), "m.txt")


# --- the whole chain as cohort.clean_cohort runs it -------------------------------------------

MATRIX = """\
!Series_geo_accession\t"GSE99991"
!Sample_title\t"N1"\t"T1"\t"N2"\t"T2"\t"line"
!Sample_geo_accession\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"\t"GSM5"
!Sample_characteristics_ch1\t"tissue: normal"\t"tissue: tumor"\t"tissue: normal"\t"tissue: tumor"\t"tissue: cell line"
!Sample_characteristics_ch1\t"patient id: P1"\t"patient id: P1"\t"patient id: P2"\t"patient id: P2"\t"patient id: C"
!series_matrix_table_begin
"ID_REF"\t"GSM1"\t"GSM2"\t"GSM3"\t"GSM4"\t"GSM5"
"a1"\t256\t512\t1024\t2048\t4
"a2"\t256\t256\t256\t256\t256
"b1"\t64\t32\t16\t8\t2
"c1"\t128\tnull\t128\t128\t128
!series_matrix_table_end
"""
PLATFORM_SOFT = """\
^PLATFORM = GPL96
!platform_table_begin
ID\tGene Symbol
a1\tAAA
a2\tAAA
b1\tBBB
c1\tCCC
!platform_table_end
"""


def test_clean_cohort_end_to_end(tmp_path: Path) -> None:
    matrix = tmp_path / "GSE99991_series_matrix.txt"
    matrix.write_text(MATRIX)
    platform = tmp_path / "GPL96.soft"
    platform.write_text(PLATFORM_SOFT)
    table, report = clean_cohort(matrix, platform, cohort(), ["CCC", "BBB", "AAA", "ZZZ"])
    assert report.log2_transformed and report.n_pairs == 2 and report.n_genes_mapped == 3
    assert report.landmarks_missing == ["CCC", "ZZZ"]  # CCC has a missing value, ZZZ is not measured
    assert list(table.index) == ["GSM1", "GSM3", "GSM2", "GSM4"]
    assert table["tissue"].tolist() == ["normal", "normal", "tumor", "tumor"]
    assert table["BBB"].tolist() == [6.0, 4.0, 5.0, 3.0]  # log2 of 64, 16, 32, 8
    assert table["AAA"].tolist() == [8.0, 10.0, 9.0, 11.0]  # a1 varies, a2 does not
    assert np.isfinite(table[["BBB", "AAA"]].to_numpy()).all()
