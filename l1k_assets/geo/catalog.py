"""The cohort catalog: which GEO series make up the tumor-normal compendium and how to pair them.

The catalog is a versioned CSV in the repository (``cohorts.csv``) so that cohort partitions
are static and reviewable; a user adds a cohort by adding a row. Each row says where the class
(normal or tumor) and the patient id of a sample are found in the series-matrix header and
which regular expressions read them.

A cohort's expression comes from one of three GEO files (the ``source`` column, optional,
``series_matrix`` by default): the series matrix of a GSE, the family SOFT file of a GSE
whose submitters published no usable matrix, or the SOFT file of a curated GEO DataSet (a
GDS row), whose subsets (``disease state``, ``individual``, ...) become the samples'
``characteristics:<subset type>`` fields, so a GDS pairs by its subsets with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from l1k_assets.errors import FormatError
from l1k_assets.sources.layout import validate_accession

DEFAULT_CATALOG = Path(__file__).with_name("cohorts.csv")
CATALOG_COLUMNS = (
    "cohort",
    "platform",
    "cancer_type",
    "platform_file",
    "class_field",
    "normal_pattern",
    "tumor_pattern",
    "patient_field",
    "patient_pattern",
    "expected_pairs",
    "unpaired",
)
SOURCES = ("series_matrix", "family_soft", "gds")


@dataclass(frozen=True)
class Cohort:
    """One GEO series of paired tumor and normal samples."""

    cohort: str
    platform: str
    cancer_type: str
    platform_file: str  # "annot" (GPLxxx.annot.gz) or "soft" (GPLxxx_family.soft.gz)
    class_field: str  # "title", "source_name_ch1" or "characteristics:<key>"
    normal_pattern: str
    tumor_pattern: str
    patient_field: str
    patient_pattern: str  # regex with one capturing group: the patient id
    expected_pairs: int
    unpaired: str = "error"  # "drop": samples without a partner are logged and left out instead of failing
    source: str = "series_matrix"  # the expression file: "series_matrix", "family_soft" (GSE) or "gds" (GDS)


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> list[Cohort]:
    """Read and validate the cohort catalog."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CATALOG_COLUMNS if c not in table.columns]
    if missing:
        raise FormatError(path, f"columns {list(CATALOG_COLUMNS)}", line=1, found=f"missing {missing}")
    cohorts: list[Cohort] = []
    seen: set[str] = set()
    if "source" not in table.columns:
        table["source"] = "series_matrix"
    for i, row in enumerate(table.to_dict("records"), start=2):
        row["source"] = row["source"] or "series_matrix"
        if row["source"] not in SOURCES:
            raise FormatError(path, f"one of {', '.join(SOURCES)}", line=i, field="source", found=row["source"])
        try:
            validate_accession(row["cohort"], "GDS" if row["source"] == "gds" else "GSE")
            validate_accession(row["platform"], "GPL")
        except ValueError as exc:
            expected = "a GDS accession with source gds, GSE otherwise, and a GPL platform"
            raise FormatError(path, expected, line=i, field="cohort", found=str(exc)) from None
        if row["cohort"] in seen:
            raise FormatError(path, "unique cohort ids", line=i, field="cohort", found=row["cohort"])
        seen.add(row["cohort"])
        if row["platform_file"] not in ("annot", "soft"):
            raise FormatError(path, "'annot' or 'soft'", line=i, field="platform_file", found=row["platform_file"])
        for key in ("normal_pattern", "tumor_pattern", "patient_pattern"):
            try:
                compiled = re.compile(row[key])
            except re.error as exc:
                raise FormatError(path, "a valid regular expression", line=i, field=key, found=str(exc)) from None
            if key == "patient_pattern" and compiled.groups != 1:
                raise FormatError(path, "exactly one capturing group", line=i, field=key, found=row[key])
        if row["unpaired"] not in ("error", "drop"):
            raise FormatError(path, "'error' or 'drop'", line=i, field="unpaired", found=row["unpaired"])
        if not row["expected_pairs"].isdigit():
            raise FormatError(path, "a whole number", line=i, field="expected_pairs", found=row["expected_pairs"])
        known = {k: v for k, v in row.items() if k in CATALOG_COLUMNS or k == "source"}
        cohorts.append(Cohort(**{**known, "expected_pairs": int(row["expected_pairs"])}))
    return cohorts
