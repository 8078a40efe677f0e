"""From one cohort's raw GEO files to a clean samples × landmark-genes table, and the compendium.

This is the GEO half of method 1's preprocessing (METHODS.md §1): GEO2R log2 rule, probe →
symbol via the platform table, highest-variance probe per gene, landmark genes present in
every sample, tumor-normal pairs by the catalog's rule, and cohorts of one type combined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.geo.catalog import Cohort
from l1k_assets.geo.pairing import pair_samples, sample_classes
from l1k_assets.geo.platform import parse_platform_table
from l1k_assets.geo.preprocess import collapse_probes, geo2r_log2, restrict_to_genes
from l1k_assets.geo.series_matrix import SeriesMatrix, parse_series_matrix
from l1k_assets.geo.soft import parse_soft, soft_to_series_matrix
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, LandmarkCoverage, landmark_coverage

SAMPLE_COLUMNS = ["cohort", "cancer_type", "patient_id", "tissue"]


@dataclass
class CohortReport:
    """What happened to one cohort on its way to the clean table (shown in the UI)."""

    cohort: str
    log2_transformed: bool
    n_samples_in_file: int
    n_probes: int
    n_genes_mapped: int
    n_pairs: int
    n_unpaired_dropped: int
    landmarks_missing: list[str] = field(default_factory=list)
    unpaired_dropped: list[str] = field(default_factory=list)  # GSMs classified but left without a partner
    source: str = "series_matrix"


def read_cohort_matrix(path: Path, source: str) -> SeriesMatrix:
    """The cohort's samples and expression from its series matrix, GSE family SOFT or GDS SOFT file."""
    if source == "series_matrix":
        return parse_series_matrix(path)
    return soft_to_series_matrix(parse_soft(path))


def clean_cohort(
    matrix_path: Path, platform_path: Path, cohort: Cohort, landmarks: Sequence[str]
) -> tuple[pd.DataFrame, CohortReport]:
    """Samples (paired only) × landmark genes on log2 scale, with cohort, type, patient and tissue columns.

    ``matrix_path`` is the cohort's expression file of the kind its catalog row names (``source``).
    """
    sm = read_cohort_matrix(matrix_path, cohort.source)
    platform = parse_platform_table(platform_path)
    expr, transformed = geo2r_log2(sm.expression)
    genes = collapse_probes(expr, platform)
    kept, missing = restrict_to_genes(genes, landmarks)
    classes = sample_classes(sm.samples, cohort, str(matrix_path))
    pairs = pair_samples(classes, cohort.unpaired)
    rows = pd.concat(
        [
            pd.DataFrame({"gsm": pairs.normal_gsm, "patient_id": pairs.patient_id, "tissue": "normal"}),
            pd.DataFrame({"gsm": pairs.tumor_gsm, "patient_id": pairs.patient_id, "tissue": "tumor"}),
        ]
    ).set_index("gsm")
    table = kept.T.loc[rows.index]
    table.insert(0, "tissue", rows["tissue"])
    table.insert(0, "patient_id", rows["patient_id"].astype(str))
    table.insert(0, "cancer_type", cohort.cancer_type)
    table.insert(0, "cohort", cohort.cohort)
    table.index.name = "gsm"
    table.columns.name = None
    report = CohortReport(
        cohort=cohort.cohort,
        log2_transformed=transformed,
        n_samples_in_file=sm.expression.shape[1],
        n_probes=sm.expression.shape[0],
        n_genes_mapped=genes.shape[0],
        n_pairs=len(pairs),
        n_unpaired_dropped=len(classes) - 2 * len(pairs),
        landmarks_missing=list(missing),
        unpaired_dropped=sorted(set(classes.gsm) - set(rows.index)),
        source=cohort.source,
    )
    return table, report


@dataclass
class Compendium:
    """The cohorts combined on their shared landmarks, what was dropped, and which cohorts were left out and why."""

    table: pd.DataFrame
    genes_dropped: list[str]
    left_out: dict[str, LandmarkCoverage]  # cohort -> its landmark coverage, below the required share


def _genes(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in SAMPLE_COLUMNS]


def combine_cohorts(
    tables: Mapping[str, pd.DataFrame], landmarks: Sequence[str], min_landmark_share: float = DEFAULT_MIN_SHARE
) -> Compendium:
    """Concatenate cohorts on the landmark genes present in every one of them.

    A cohort whose platform covers fewer than ``min_landmark_share`` of the landmarks (an
    HG-U133B cohort holds about 23 %) is left out rather than allowed to shrink every other
    cohort's features to its few genes; the rest are combined on the genes they all have.
    """
    if not tables:
        raise DataError("no cohorts to combine: the cohort catalog selected none")
    coverage = {name: landmark_coverage(_genes(t), landmarks) for name, t in tables.items()}
    left_out = {name: c for name, c in coverage.items() if c.share < min_landmark_share}
    kept = {name: t for name, t in sorted(tables.items()) if name not in left_out}
    if not kept:
        shares = {name: round(c.share, 3) for name, c in coverage.items()}
        raise DataError(f"every cohort covers less than {min_landmark_share:.0%} of the landmarks: {shares}")
    gene_sets = [_genes(t) for t in kept.values()]
    first = gene_sets[0]
    common = [g for g in first if all(g in set(s) for s in gene_sets[1:])]
    if not common:
        raise DataError(f"cohorts {sorted(kept)} share no landmark gene")
    dropped = sorted(set().union(*map(set, gene_sets)) - set(common))
    combined = pd.concat([t[SAMPLE_COLUMNS + common] for t in kept.values()])
    return Compendium(combined, dropped, left_out)
