"""Readers of the patient-level sources (seed 003 §3.3.3): Xena's TCGA hub and Ding et al.'s drug responses.

Xena's GDC hub publishes, per cohort, log2(FPKM + 1) expression with versioned Ensembl ids as
rows and sample barcodes as columns, a phenotype table whose ``sample_type.samples`` says
which samples are primary tumors, and one probe map from Ensembl ids to gene symbols. Ding et
al. (2016) curated TCGA's clinical drug records into patient, drug and RECIST-like response;
a responder had a complete or partial response, a non-responder stable or progressive disease.
Every reader returns plain tables with text ids, and a file that is not what it should be is a
FormatError naming the file and what was expected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError, FormatError
from l1k_assets.response.readers import read_table
from l1k_assets.sources.download import Downloader
from l1k_assets.sources.fetch_set import fetch_urls
from l1k_assets.sources.layout import TCGA_RESPONSE_FILE, XENA_PROBE_MAP, xena_file_url, xena_url

log = logging.getLogger("l1k.response")

PHENOTYPE_SAMPLE = "submitter_id.samples"
PHENOTYPE_TYPE = "sample_type.samples"
PRIMARY_TUMOR = "Primary Tumor"
RESPONSE_COLUMNS = ("cancer", "bcr_patient_barcode", "drug_name", "measure_of_response")
RESPONDERS = ("Complete Response", "Partial Response")
NON_RESPONDERS = ("Stable Disease", "Clinical Progressive Disease")
PATIENT_BARCODE_LENGTH = 12  # TCGA-XX-XXXX: a sample barcode (TCGA-XX-XXXX-01A) starts with its patient's


def _unversioned(ids: pd.Series) -> pd.Series:
    """Ensembl ids without their version suffix (ENSG00000141510.15 → ENSG00000141510)."""
    return ids.astype(str).str.split(".", n=1).str[0]


def read_probe_map(path: str | Path) -> pd.Series:
    """Xena's gene probe map as unversioned Ensembl id → gene symbol."""
    table = read_table(path, ["id", "gene"], sep="\t", dtype=str)
    return pd.Series(table["gene"].to_numpy(), index=_unversioned(table["id"]).to_numpy(), name="symbol")


def read_xena_expression(path: str | Path, probe_map: pd.Series) -> pd.DataFrame:
    """Samples × gene symbols of a cohort's expression matrix; ids the map lacks are dropped, duplicates averaged."""
    table = read_table(path, ["Ensembl_ID"], sep="\t", index_col=None)
    ids = _unversioned(table.pop("Ensembl_ID"))
    if table.shape[1] == 0:
        raise FormatError(path, "sample columns after Ensembl_ID", line=1, found="none")
    values = table.apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().all():
        raise FormatError(path, "numeric log2(FPKM + 1) values", found="no number in any column")
    symbols = ids.map(probe_map)
    unmapped = int(symbols.isna().sum())
    if unmapped:
        log.info("%s: %d Ensembl ids are not in the probe map and are dropped", Path(path).name, unmapped)
    kept = values[symbols.notna().to_numpy()]
    return kept.groupby(symbols[symbols.notna()].to_numpy()).mean().T.rename_axis("sample").rename_axis(None, axis=1)


def read_xena_phenotype(path: str | Path) -> pd.DataFrame:
    """Each sample's barcode, patient barcode and sample type (``Primary Tumor``, ``Solid Tissue Normal`` …)."""
    table = read_table(path, [PHENOTYPE_SAMPLE, PHENOTYPE_TYPE], sep="\t", dtype=str, keep_default_na=False)
    samples = table[PHENOTYPE_SAMPLE].str.strip()
    return pd.DataFrame(
        {
            "sample": samples,
            "patient": samples.str[:PATIENT_BARCODE_LENGTH],
            "sample_type": table[PHENOTYPE_TYPE].str.strip(),
        }
    )


def primary_tumors(expression: pd.DataFrame, phenotype: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """The expression of the cohort's primary-tumor samples, one per patient (the first barcode), indexed by patient.

    Normal tissue and metastases are not what GDSC's cell lines model; a patient with several
    primary-tumor aliquots keeps the first in barcode order so every patient counts once.
    """
    tumors = phenotype[phenotype.sample_type == PRIMARY_TUMOR]
    chosen = tumors[tumors["sample"].isin(expression.index)].sort_values("sample").drop_duplicates("patient")
    if chosen.empty:
        raise DataError(f"TCGA-{cohort}: no sample of type {PRIMARY_TUMOR!r} is in both the expression and phenotype table")
    return expression.loc[chosen["sample"]].set_axis(chosen.patient.to_numpy()).rename_axis("patient")


def read_drug_responses(path: str | Path) -> pd.DataFrame:
    """Ding et al.'s patient–drug responses: cancer, patient, drug, response and ``responder`` (True / False).

    Responses outside RECIST's four classes (``[Not Available]``, blanks) are dropped with a
    logged count; drug names are stripped, as TCGA's clinical records pad some of them.
    """
    table = read_table(path, list(RESPONSE_COLUMNS), sep="\t", dtype=str, keep_default_na=False)
    response = table.measure_of_response.str.strip()
    known = response.isin(RESPONDERS + NON_RESPONDERS)
    if (~known).any():
        log.info("%s: %d rows without a RECIST response are dropped", Path(path).name, int((~known).sum()))
    out = pd.DataFrame(
        {
            "cancer": table.cancer.str.strip(),
            "patient": table.bcr_patient_barcode.str.strip().str[:PATIENT_BARCODE_LENGTH],
            "drug": table.drug_name.str.strip(),
            "response": response,
            "responder": response.isin(RESPONDERS),
        }
    )[known.to_numpy()]
    return out.drop_duplicates(["patient", "drug"]).reset_index(drop=True)


def match_gdsc_drugs(responses: pd.DataFrame, gdsc_drugs: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """The response rows whose drug GDSC screened (names compared case-insensitively), with GDSC's name, and the rest.

    Returns the matched rows (``drug`` in GDSC's spelling) and the sorted names GDSC lacks, for
    the asset page's warning.
    """
    by_key = {str(name).strip().casefold(): str(name) for name in gdsc_drugs.dropna()}
    keys = responses.drug.str.casefold()
    matched = keys.isin(by_key)
    missing = sorted(set(responses.drug[~matched]))
    return responses[matched].assign(drug=keys[matched].map(by_key)).reset_index(drop=True), missing


def response_summary(responses: pd.DataFrame) -> pd.DataFrame:
    """Per cancer type and drug: patients, responders and non-responders (what a per-drug test can use)."""
    counts = responses.groupby(["cancer", "drug"]).responder.agg(n="size", responders="sum")
    counts["non_responders"] = counts.n - counts.responders
    return counts.reset_index().astype({"responders": np.int64, "non_responders": np.int64})


def gdsc_tcga_labels(path: str | Path) -> pd.Series:
    """Each GDSC cell line's (COSMIC id) TCGA label from the fitted dose-response table (``TCGA_DESC``)."""
    table = read_table(path, ["COSMIC_ID", "TCGA_DESC"], usecols=["COSMIC_ID", "TCGA_DESC"], dtype=str, keep_default_na=False)
    first = table.drop_duplicates("COSMIC_ID")
    return pd.Series(first.TCGA_DESC.str.strip().to_numpy(), index=first.COSMIC_ID.str.strip().to_numpy(), name="tcga")


def gdsc_cohorts(path: str | Path) -> list[str]:
    """The TCGA cohorts GDSC's cell lines are labelled with (``TCGA_DESC``; ``COAD/READ`` is two), sorted.

    Seed 003 takes TCGA's patients "using the TCGA classification information of cell lines
    provided by GDSC"; GDSC's non-TCGA labels (``UNCLASSIFIED``, blanks) name no cohort.
    """
    cohorts = {part.strip() for label in gdsc_tcga_labels(path).unique() for part in label.split("/")}
    return sorted(c for c in cohorts if re.fullmatch(r"[A-Z]{2,5}", c) and c != "UNCLASSIFIED")


def patient_cohorts(gdsc: Sequence[str], responses: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The cohorts with both GDSC cell lines and treated patients, and the response table's cohorts GDSC lacks."""
    treated = set(responses.cancer)
    return sorted(treated & set(gdsc)), sorted(treated - set(gdsc))


@dataclass
class TcgaHub:
    """What ``fetch_tcga_hub`` fetched (one row per file: role, url, path, sha256 …) and which cohorts."""

    files: pd.DataFrame
    cohorts: list[str]
    without_gdsc_lines: list[str]


def fetch_tcga_hub(downloader: Downloader, base: str, gdsc_responses: str | Path) -> TcgaHub:
    """Fetch the response table and probe map, then the expression and phenotype of every cohort both sides have.

    Roles: ``responses``, ``probe_map`` and ``<cohort>.expression`` / ``<cohort>.phenotype``.
    """
    shared = fetch_urls(
        downloader, {"responses": xena_file_url(base, TCGA_RESPONSE_FILE), "probe_map": xena_file_url(base, XENA_PROBE_MAP)}
    )
    responses = read_drug_responses(shared.set_index("role").loc["responses", "path"])
    cohorts, without = patient_cohorts(gdsc_cohorts(gdsc_responses), responses)
    if not cohorts:
        raise DataError(f"no cohort of the response table ({sorted(set(responses.cancer))}) has GDSC cell lines")
    urls = {f"{c}.{kind}": xena_url(base, c, kind) for c in cohorts for kind in ("expression", "phenotype")}
    return TcgaHub(pd.concat([shared, fetch_urls(downloader, urls)], ignore_index=True), cohorts, without)


def cohort_tumors(files: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per cohort of a ``fetch_tcga_hub`` file table, its primary tumors (patients × gene symbols)."""
    paths = files.set_index("role").path
    probe_map = read_probe_map(paths["probe_map"])
    cohorts = sorted(role.removesuffix(".expression") for role in paths.index if role.endswith(".expression"))
    return {
        c: primary_tumors(
            read_xena_expression(paths[f"{c}.expression"], probe_map), read_xena_phenotype(paths[f"{c}.phenotype"]), c
        )
        for c in cohorts
    }
