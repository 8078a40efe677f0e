"""Where each public server keeps each file: one pure string function per kind of URL.

The servers' folder schemes are the only thing l1k hard-codes about them, so they live here
and nowhere else. Every function takes the base URL as its first argument, which is how the
same code reaches the real servers, a mirror of them, the local test server or the embedded
``file://`` mirror (all of which copy the real layout below the base).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

GEO_DEFAULT_BASE = "https://ftp.ncbi.nlm.nih.gov/geo"
CLUE_DEFAULT_BASE = "https://s3.amazonaws.com/data.clue.io"
LINCS2020_DEFAULT_BASE = "https://s3.amazonaws.com/macchiato.clue.io/builds/LINCS2020"
# Where the embedded mirror keeps a CLUE build: the bucket's path below an S3 endpoint, as the real one.
CLUE_BUILD_MIRROR_PATH = "s3/macchiato.clue.io/builds"
GDSC_DEFAULT_BASE = "https://cog.sanger.ac.uk/cancerrxgene/GDSC_release8.5"
STRING_DEFAULT_BASE = "https://stringdb-downloads.org/download"
MSIGDB_DEFAULT_BASE = "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/2023.2.Hs"
# UCSC Xena's GDC hub: per-cohort files below download/ (TCGA-<cohort>.<dataset>.tsv.gz) and the gene probe map.
XENA_GDC_DEFAULT_BASE = "https://gdc-hub.s3.us-east-1.amazonaws.com"
XENA_DATASETS = {"expression": "htseq_fpkm", "phenotype": "GDC_phenotype"}
XENA_PROBE_MAP = "gencode.v22.annotation.gene.probeMap"
# Not a Xena file: Ding et al. (2016)'s curated TCGA drug responses (their Supplementary Table),
# as a tab-separated table served beside the hub's files, as l1k serves GDSC's SMILES.
TCGA_RESPONSE_FILE = "ding2016_tcga_drug_response.tsv"

GDSC_RESPONSE_FILE = "GDSC2_fitted_dose_response_27Oct23.csv"
GDSC_COMPOUNDS_FILE = "screened_compounds_rel_8.5.csv"
GDSC_EXPRESSION_FILE = "Cell_line_RMA_proc_basalExp.txt.zip"
# Not a Sanger file: GDSC publishes compound names and PubChem ids but no structures, so l1k
# keeps its own table of SMILES looked up in PubChem, served beside the GDSC files.
GDSC_SMILES_FILE = "drug_smiles.csv"

DEFAULT_GENE_SET_FILES = (
    "h.all.v2023.2.Hs.symbols.gmt",
    "c2.cp.kegg_legacy.v2023.2.Hs.symbols.gmt",
    "c2.cp.reactome.v2023.2.Hs.symbols.gmt",
)

ACCESSION_RE = re.compile(r"(GSE|GPL|GDS|GSM)(\d{1,9})")


def validate_accession(value: object, prefix: str | None = None) -> str:
    """Return ``value`` if it is a GEO accession (optionally of a given prefix); refuse anything else.

    Accessions become path components, URL segments and partition keys, so this is the guard
    against path traversal through an id; the whole value must match (``GSE1\n`` does not).
    """
    if not isinstance(value, str) or ACCESSION_RE.fullmatch(value) is None:
        raise ValueError(f"not a GEO accession (GSE, GPL, GDS or GSM followed by up to 9 digits): {value!r}")
    if prefix is not None and not value.startswith(prefix):
        raise ValueError(f"expected a {prefix} accession, got {value!r}")
    return value


def geo_nnn(accession: str) -> str:
    """GEO's bucket folder of an accession: the digits but the last three, then ``nnn``.

    GEO groups accessions by thousands (GSE92742 lives in ``GSE92nnn``, GSE123 in ``GSEnnn``).
    """
    prefix, digits = ACCESSION_RE.fullmatch(validate_accession(accession)).groups()  # type: ignore[union-attr]
    return f"{prefix}{digits[:-3]}nnn"


def _geo_folder(base: str, section: str, accession: str, prefix: str) -> str:
    """``{base}/{section}/{nnn}/{accession}`` after checking the accession is of the right kind."""
    return f"{base.rstrip('/')}/{section}/{geo_nnn(validate_accession(accession, prefix))}/{accession}"


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    """Refuse a value outside a Literal's choices (callers may pass plain strings read from config)."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    return value


def geo_series_matrix_url(base: str, gse: str) -> str:
    """The series-matrix file of a GEO series: sample characteristics and the processed matrix."""
    return f"{_geo_folder(base, 'series', gse, 'GSE')}/matrix/{gse}_series_matrix.txt.gz"


def geo_soft_family_url(base: str, gse: str) -> str:
    """The family SOFT file of a GEO series: every sample and platform record of the series."""
    return f"{_geo_folder(base, 'series', gse, 'GSE')}/soft/{gse}_family.soft.gz"


def geo_gds_soft_url(base: str, gds: str) -> str:
    """The SOFT file of a curated GEO data set (GDS)."""
    return f"{_geo_folder(base, 'datasets', gds, 'GDS')}/soft/{gds}.soft.gz"


def geo_cohort_expression_url(base: str, accession: str, source: str) -> str:
    """A cohort's expression file by its catalog ``source``: series matrix, family SOFT (GSE) or GDS SOFT."""
    urls = {"series_matrix": geo_series_matrix_url, "family_soft": geo_soft_family_url, "gds": geo_gds_soft_url}
    return urls[_one_of(source, tuple(urls), "cohort source")](base, accession)


def geo_platform_url(base: str, gpl: str, kind: Literal["annot", "soft"]) -> str:
    """A platform's probe table: GEO's curated ``.annot.gz`` where it exists, else the submitter's family SOFT.

    Older Affymetrix platforms have an annotation file with gene symbols; newer ones often
    only have the SOFT table, so the cohort catalog says which one each platform uses.
    """
    folder = _geo_folder(base, "platforms", gpl, "GPL")
    if _one_of(kind, ("annot", "soft"), "platform file kind") == "annot":
        return f"{folder}/annot/{gpl}.annot.gz"
    return f"{folder}/soft/{gpl}_family.soft.gz"


def geo_suppl_url(base: str, gse: str, filename: str) -> str:
    """A supplementary file of a GEO series; an empty ``filename`` gives the folder (with a trailing slash)."""
    return f"{_geo_folder(base, 'series', gse, 'GSE')}/suppl/{filename}"


def clue_repurposing_url(base: str, table: Literal["drugs", "samples"], date: str = "20200324") -> str:
    """The Drug Repurposing Hub's drug or sample table; ``date`` names the release (20200324 is the last public one)."""
    _one_of(table, ("drugs", "samples"), "repurposing table")
    return f"{base.rstrip('/')}/repurposing/downloads/repurposing_{table}_{date}.txt"


def clue_build_url(base: str, key: str) -> str:
    """A file of a CLUE build folder by its path below it (``siginfo_beta.txt``, ``level5/level5_beta_...gctx``).

    Keys come from the bucket listing, so one with an empty, ``.`` or ``..`` segment is refused.
    """
    parts = key.split("/")
    if not all(p and p not in (".", "..") for p in parts):
        raise ValueError(f"not a file path below a build folder: {key!r}")
    return f"{base.rstrip('/')}/{'/'.join(quote(p) for p in parts)}"


def gdsc_url(base: str, filename: str) -> str:
    """A file of the GDSC release folder (see the ``GDSC_*_FILE`` names)."""
    return f"{base.rstrip('/')}/{filename}"


def string_url(base: str, kind: Literal["links", "info"], taxon: int = 9606, version: str = "12.0") -> str:
    """STRING's per-organism protein links (scored interactions) or protein info (names) table."""
    _one_of(kind, ("links", "info"), "STRING table kind")
    table = f"protein.{kind}.v{version}"
    return f"{base.rstrip('/')}/{table}/{taxon}.{table}.txt.gz"


def xena_url(base: str, cohort: str, kind: Literal["expression", "phenotype"]) -> str:
    """A TCGA cohort's gene expression (log2(FPKM + 1), Ensembl ids) or phenotype table on Xena's GDC hub."""
    if re.fullmatch(r"[A-Z]{2,5}", cohort) is None:
        raise ValueError(f"not a TCGA cohort code (2–5 capitals, e.g. BRCA): {cohort!r}")
    dataset = XENA_DATASETS[_one_of(kind, tuple(XENA_DATASETS), "Xena dataset kind")]
    return f"{base.rstrip('/')}/download/TCGA-{cohort}.{dataset}.tsv.gz"


def xena_file_url(base: str, filename: str) -> str:
    """A hub-wide file below download/ (the probe map, the response table)."""
    return f"{base.rstrip('/')}/download/{filename}"


def msigdb_url(base: str, filename: str) -> str:
    """A gene-set file of an MSigDB release folder (see ``DEFAULT_GENE_SET_FILES``)."""
    return f"{base.rstrip('/')}/{filename}"
