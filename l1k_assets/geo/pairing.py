"""Tumor-normal pairing of a cohort's samples by the catalog's rule.

Method 1's signature is a within-patient difference (normal − tumor), so every used sample
must be classified and matched to exactly one partner of the other class. Which header field
holds the class and the patient, and how to read them, differs per series and lives in the
cohort catalog; this module applies those rules and refuses anything ambiguous, because a
wrongly paired sample would silently become a wrong training example.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.geo.catalog import Cohort

LOG = logging.getLogger(__name__)
TISSUES = ("normal", "tumor")
# Where the sample table came from, carried in DataFrame.attrs so pairing errors name it.
SOURCE_ATTR = "source"


def sample_classes(samples: pd.DataFrame, cohort: Cohort, path_hint: str) -> pd.DataFrame:
    """Columns gsm, tissue ("normal"/"tumor") and patient_id for the samples the cohort's patterns classify.

    Samples matching neither pattern are left out (and logged); a sample matching both, a
    missing field column, a class (normal or tumor) no sample matches, or a classified sample
    whose patient pattern does not match is an error.
    """
    source = f"{path_hint} (cohort {cohort.cohort})"
    class_values = _field(samples, cohort.class_field, source)
    patient_values = _field(samples, cohort.patient_field, source)
    normal = _searches(class_values, cohort.normal_pattern)
    tumor = _searches(class_values, cohort.tumor_pattern)
    both = normal & tumor
    if both.any():
        gsm = both.index[both.to_numpy()][0]
        raise DataError(
            f"{source}: sample {gsm} matches both the normal and the tumor pattern in field "
            f"{cohort.class_field!r} (value {class_values[gsm]!r})"
        )
    for tissue, hits, pattern in (("normal", normal, cohort.normal_pattern), ("tumor", tumor, cohort.tumor_pattern)):
        if not hits.any():
            values = sorted(set(class_values))[:12]
            raise DataError(
                f"{source}: no sample is {tissue}: pattern {pattern!r} matches no value of field {cohort.class_field!r} "
                f"(its values: {values}); for a GDS, the field is a subset type and its values the subsets' descriptions"
            )
    classified = normal | tumor
    if not classified.all():
        LOG.info(
            "%s: %d samples are neither normal nor tumor, left out: %s",
            source,
            (~classified).sum(),
            list(samples.index[~classified]),
        )
    patient_rx = re.compile(cohort.patient_pattern)
    patients = patient_values[classified].map(lambda value: _patient(patient_rx, value))
    unmatched = patients.isna() | (patients == "")
    if unmatched.any():
        gsm = patients.index[unmatched.to_numpy()][0]
        raise DataError(
            f"{source}: sample {gsm} has no patient id: pattern {cohort.patient_pattern!r} does not match "
            f"field {cohort.patient_field!r} (value {patient_values[gsm]!r})"
        )
    classes = pd.DataFrame(
        {
            "gsm": pd.Series(patients.index, dtype=str),
            "tissue": pd.Series(normal[classified].map({True: "normal", False: "tumor"}).to_numpy(), dtype=str),
            "patient_id": pd.Series(patients.to_numpy(), dtype=str),
        }
    )
    classes.attrs[SOURCE_ATTR] = source
    return classes


def pair_samples(classes: pd.DataFrame, unpaired: str = "error") -> pd.DataFrame:
    """One row per patient: patient_id, normal_gsm, tumor_gsm, sorted by patient id.

    A patient with two samples of one class is always an error. A sample with no partner of
    the other class is an error too, unless the cohort's catalog row says ``unpaired=drop``:
    some real series (GSE10072) publish unpaired tumors beside their pairs, and those are
    dropped with a log line naming them rather than silently.
    """
    source = classes.attrs.get(SOURCE_ATTR, "sample classes")
    if classes.empty:
        raise DataError(f"{source}: no sample is classified as normal or tumor, nothing to pair")
    counts = (
        classes.groupby(["patient_id", "tissue"]).size().unstack("tissue", fill_value=0).reindex(columns=TISSUES, fill_value=0)
    )
    repeated = counts.index[(counts > 1).any(axis=1).to_numpy()]
    if len(repeated):
        raise DataError(f"{source}: patients with two samples of one class: {_listing(classes, repeated)}")
    alone = counts.index[(counts == 0).any(axis=1).to_numpy()]
    if len(alone) and unpaired != "drop":
        raise DataError(f"{source}: sample with no partner of the other class: {_listing(classes, alone)}")
    if len(alone):
        LOG.warning("%s: dropping %d unpaired samples: %s", source, len(alone), _listing(classes, alone))
        classes = classes[~classes.patient_id.isin(alone)]
    pairs = classes.pivot(index="patient_id", columns="tissue", values="gsm").sort_index()
    return pd.DataFrame(
        {
            "patient_id": pd.Series(pairs.index, dtype=str),
            "normal_gsm": pd.Series(pairs["normal"].to_numpy(), dtype=str),
            "tumor_gsm": pd.Series(pairs["tumor"].to_numpy(), dtype=str),
        }
    )


def _field(samples: pd.DataFrame, name: str, source: str) -> pd.Series:
    """A sample field as text indexed by GSM (absent values read as empty text)."""
    if name not in samples.columns:
        raise DataError(f"{source}: sample field {name!r} not in the series header; fields: {list(samples.columns)}")
    return samples[name].astype(str).where(samples[name].notna(), "")


def _searches(values: pd.Series, pattern: str) -> pd.Series:
    """``re.search`` semantics exactly (pandas' string engine may differ on flags and syntax)."""
    rx = re.compile(pattern)
    return values.map(lambda value: rx.search(value) is not None).astype(bool)


def _patient(rx: re.Pattern[str], value: str) -> str | None:
    match = rx.search(value)
    return match.group(1).strip() if match and match.group(1) is not None else None


def _listing(classes: pd.DataFrame, patients: pd.Index) -> str:
    """``patient: tissue GSM, ...`` for the first few offending patients."""
    shown = classes[classes["patient_id"].isin(patients[:10])].sort_values(["patient_id", "tissue", "gsm"])
    per_patient = shown.groupby("patient_id")[["tissue", "gsm"]].apply(
        lambda rows: ", ".join(f"{tissue} {gsm}" for tissue, gsm in zip(rows["tissue"], rows["gsm"], strict=True))
    )
    more = f" (and {len(patients) - 10} more)" if len(patients) > 10 else ""
    return "; ".join(f"patient {patient}: {gsms}" for patient, gsms in per_patient.items()) + more
