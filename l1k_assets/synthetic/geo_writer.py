"""Synthetic GEO tumor-normal cohorts, written in GEO's own file formats and FTP layout.

The embedded default must exercise the very parsers and preprocessing that read real GEO
downloads, so each cohort of the catalog becomes a gzipped series matrix and each platform
GEO's annotation file or the vendor's family SOFT table, at the paths GEO's FTP server uses
(``sources/layout.py`` is the one place that knows them). What the files hide is planted on
purpose and returned as truth: which GSMs pair up, which cohorts are on the raw MAS5-like scale
so GEO2R's log2 rule must fire, which probe of a multi-probe gene has the highest variance,
which landmark genes one platform lacks, and the tumor programs the normal−tumor deltas carry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.geo.catalog import Cohort
from l1k_assets.sources.layout import geo_cohort_expression_url, geo_platform_url, geo_series_matrix_url
from l1k_assets.synthetic.gzipped import write_gz_text
from l1k_assets.synthetic.soft_writer import PUBLIC_DATE, add_unpaired_normal, family_soft_text, gds_soft_text
from l1k_assets.synthetic.universe import Universe

# Cohorts whose submitters deposited MAS5 signal rather than log2 values, as the real ones did.
RAW_SCALE_COHORTS = frozenset({"GSE6631", "GSE10072", "GSE15852", "GDS507"})

# Expression model, log2 units: tumor and normal of a patient share baseline, batch and patient effect.
BASELINE_RANGE = (4.0, 13.0)
BATCH_SD = 0.5
PATIENT_SD = 0.35
NOISE_SD = 0.2
PROBE_NOISE_SD = 0.05
# Tumor heterogeneity, calibrated so that the default scale lands where seed 000 does (nested-CV
# balanced accuracy about 0.94, ESCC taken for LUAD and STAD for COAD, leave-one-cohort-out
# lower). Each tumor effect (delta = normal - tumor) is scaled by the tumor's purity relative to
# the mean, so a cohort's mean effect on its program genes is still the program.
PURITY_BETA = (2.5, 1.5)  # tumor cell fraction of a tumor sample
# Types whose tumors carry part of another type's program, and the Beta law of that share:
# ESCC shares the squamous/proliferative (E2F) component of lung tumors, intestinal-type gastric
# tumors the intestinal (WNT) program of colon tumors. Seed 000's two main confusions.
SHARED_PROGRAMS = {"ESCC": ("LUAD", (4.0, 2.0)), "STAD": ("COAD", (3.0, 3.0))}
PROGRAM_GENE_SD = 0.3  # per tumor and program gene: relative deviation from the program's effect
N_CROSS_CUTTING = 3  # pan-cancer programs (proliferation, immune, stroma) that vary within every type
CROSS_CUTTING_SD = 0.8  # per-tumor amplitude of each cross-cutting program
COHORT_EFFECT_SD = 0.8  # a cohort's own tumor effect (site, dissection, subtype mix) on genes off its program
COHORT_GAIN_RANGE = (0.6, 1.2)  # a cohort's scale of every tumor effect (array dynamic range, tumor content)
COHORT_PROGRAM_SD = 0.35  # per cohort and program gene: log-normal gain of the gene (the series' subtype mix)
TUMOR_NOISE_SD = 0.8  # tumor-only biological noise per gene, on top of the technical NOISE_SD
NONLANDMARK_FRACTION = 0.5  # share of the non-landmark genes each platform measures
EXTRA_PROBES_P = (0.55, 0.3, 0.15)  # probability of 0, 1 or 2 probes beyond a gene's main probe
N_MULTI_SYMBOL = 3
N_UNANNOTATED = 4  # unannotated probes stand in for named controls on vendors without them

# organ (for sample annotations) and disease (for series titles) per cancer type
CANCER_NAMES = {
    "BRCA": ("breast", "breast cancer"),
    "COAD": ("colon", "colorectal cancer"),
    "ESCC": ("esophagus", "esophageal squamous cell carcinoma"),
    "HNSC": ("head and neck", "head and neck squamous cell carcinoma"),
    "KIRC": ("kidney", "clear cell renal cell carcinoma"),
    "LIHC": ("liver", "hepatocellular carcinoma"),
    "LUAD": ("lung", "lung adenocarcinoma"),
    "STAD": ("stomach", "gastric cancer"),
    "THCA": ("thyroid", "papillary thyroid carcinoma"),
}

# Sample title styles tried in order until the catalog's regular expressions read the planted
# class and patient back: (patient id format, normal title, tumor title). The first keeps class
# and patient out of the title, as most series do; the others are GSE6631's and GSE15852's.
TITLE_STYLES = (
    ("P{:03d}", "{ctype}_{pid}_N", "{ctype}_{pid}_T"),
    ("P{:03d}", "Normal {pid}", "Cancer {pid}"),
    ("BC{:04d}", "Normal {pid}N", "Cancer {pid}T"),
)


@dataclass(frozen=True)
class Vendor:
    """What differs between array vendors: probe-id style, controls and the SOFT table's columns."""

    manufacturer: str
    technology: str
    label: str  # !Sample_label_ch1
    controls: tuple[str, ...]  # named control probes, annotated with no gene
    # (column, probe-table field or "" for an empty column, #column description)
    soft_columns: tuple[tuple[str, str, str], ...]


VENDORS = {
    "Affymetrix": Vendor(
        "Affymetrix",
        "in situ oligonucleotide",
        "biotin",
        ("AFFX-BioB-5_at", "AFFX-BioB-M_at", "AFFX-BioC-3_at", "AFFX-CreX-5_at", "AFFX-DapX-3_at"),
        (
            ("ID", "id", "Affymetrix Probe Set ID"),
            ("GB_ACC", "accession", "GenBank Accession Number"),
            ("SPOT_ID", "spot_id", "identifies controls"),
            ("Species Scientific Name", "species", "The genus and species of the organism represented by the probe set."),
            ("Gene Title", "title", "Title of Gene represented by the probe set."),
            ("Gene Symbol", "symbol", "A gene symbol, when one is available (from UniGene)."),
            ("ENTREZ_GENE_ID", "gene_id", "Entrez Gene Database UID"),
        ),
    ),
    "Agilent": Vendor(
        "Agilent Technologies",
        "in situ oligonucleotide",
        "Cy3",
        ("(+)E1A_r60_1", "(+)E1A_r60_a104", "(+)E1A_r60_a107", "(+)E1A_r60_a135", "GE_BrightCorner"),
        (
            ("ID", "id", "Agilent feature extraction feature number"),
            ("SPOT_ID", "id", "Agilent probe name"),
            ("CONTROL_TYPE", "control_type", "Control type"),
            ("GB_ACC", "accession", "GenBank accession"),
            ("GENE", "gene_id", "Entrez Gene ID"),
            ("GENE_SYMBOL", "symbol", "Gene Symbol"),
            ("GENE_NAME", "title", "Gene name"),
        ),
    ),
    "Illumina": Vendor(
        "Illumina Inc.",
        "oligonucleotide beads",
        "biotin",
        (),
        (
            ("ID", "id", ""),
            ("Species", "species", ""),
            ("Source", "source", ""),
            ("ILMN_Gene", "symbol", ""),
            ("Entrez_Gene_ID", "gene_id", ""),
            ("Accession", "accession", ""),
            ("Symbol", "symbol", ""),
            ("Definition", "title", ""),
        ),
    ),
}

# GEO's curated annotation-file columns (the real files carry more, all optional to readers).
ANNOT_COLUMNS = (
    ("ID", "id", "ID from Platform data table"),
    ("Gene title", "title", "Entrez Gene name"),
    ("Gene symbol", "symbol", "Entrez Gene symbol"),
    ("Gene ID", "gene_id", "Entrez Gene identifier"),
    ("UniGene title", "", "Entrez UniGene name"),
    ("UniGene symbol", "", "Entrez UniGene symbol"),
    ("UniGene ID", "", "Entrez UniGene identifier"),
    ("Nucleotide Title", "nucleotide_title", "Entrez Nucleotide title"),
    ("GI", "", "GenBank identifier"),
    ("GenBank Accession", "accession", "GenBank accession"),
)


@dataclass(frozen=True)
class PlatformSpec:
    """A GPL's title and vendor; ``id_start`` is where its probe-set numbers begin (Affymetrix, Illumina)."""

    title: str
    vendor: str
    id_start: int


PLATFORMS = {
    "GPL96": PlatformSpec("[HG-U133A] Affymetrix Human Genome U133A Array", "Affymetrix", 200000),
    "GPL97": PlatformSpec("[HG-U133B] Affymetrix Human Genome U133B Array", "Affymetrix", 222000),
    "GPL570": PlatformSpec("[HG-U133_Plus_2] Affymetrix Human Genome U133 Plus 2.0 Array", "Affymetrix", 200000),
    "GPL571": PlatformSpec("[HG-U133A_2] Affymetrix Human Genome U133A 2.0 Array", "Affymetrix", 200000),
    "GPL8300": PlatformSpec("[HG_U95Av2] Affymetrix Human Genome U95 Version 2 Array", "Affymetrix", 31307),
    "GPL13667": PlatformSpec("[HG-U219] Affymetrix Human Genome U219 Array", "Affymetrix", 11715100),
    "GPL14550": PlatformSpec("Agilent-028004 SurePrint G3 Human GE 8x60K Microarray (Probe Name Version)", "Agilent", 0),
    "GPL6104": PlatformSpec("Illumina humanRef-8 v2.0 expression beadchip", "Illumina", 1343291),
    "GPL10558": PlatformSpec("Illumina HumanHT-12 V4.0 expression beadchip", "Illumina", 1651199),
}


# Platforms that measure only part of the landmarks: HG-U133B's annotation names about 221 of the 978.
PARTIAL_COVERAGE = {"GPL97": 221 / 978}


@dataclass(frozen=True)
class Platform:
    """One synthetic platform: its probe table (annotation fields plus how each probe reads its gene).

    A probe's log2 value in a sample is ``center + offset + slope * (gene value - center)`` plus
    noise, where ``center`` is the gene's cohort mean; probes without a gene sit at ``level``.
    The main probe of a gene has slope 1 and no extra noise, so it has the highest variance.
    """

    gpl: str
    spec: PlatformSpec
    probes: pd.DataFrame
    genes: list[str]  # symbols measured, in gene-table order
    main_probe: dict[str, str]  # landmark symbol -> main probe id, for landmarks with several probes


def expression_path(root: Path, cohort: Cohort) -> Path:
    """Where a cohort's expression file (series matrix, family SOFT or GDS SOFT, by its ``source``) lives."""
    return Path(geo_cohort_expression_url(str(Path(root) / "geo"), cohort.cohort, cohort.source))


def series_matrix_path(root: Path, gse: str) -> Path:
    """Where a cohort's series matrix lives in the mirror (GEO's FTP layout below ``root/geo``)."""
    return Path(geo_series_matrix_url(str(Path(root) / "geo"), gse))


def platform_path(root: Path, gpl: str, kind: str) -> Path:
    """Where a platform's ``annot`` or family ``soft`` table lives in the mirror."""
    return Path(geo_platform_url(str(Path(root) / "geo"), gpl, kind))


def write_geo_cohorts(universe: Universe, root: Path, catalog: Sequence[Cohort]) -> dict[str, Any]:
    """Write every catalog cohort's series matrix and each platform table once; return the planted truth."""
    root = Path(root)
    unknown = sorted({c.cancer_type for c in catalog} - set(universe.programs))
    if unknown:
        raise DataError(f"cohort catalog names cancer types {unknown} that the universe has no program for")
    gpls = sorted({c.platform for c in catalog})
    missing = _missing_landmarks(universe, gpls)
    platforms = {gpl: _build_platform(universe, gpl, missing.get(gpl, [])) for gpl in gpls}
    for gpl, kind in sorted({(c.platform, c.platform_file) for c in catalog}):
        text = _annot_text(platforms[gpl]) if kind == "annot" else _soft_text(platforms[gpl])
        write_gz_text(platform_path(root, gpl, kind), text)

    baseline = pd.Series(universe.rng("geo-baseline").uniform(*BASELINE_RANGE, len(universe.genes)))
    baseline.index = universe.genes.pr_gene_symbol.to_numpy()
    cross_cutting = _cross_cutting_programs(universe)
    first_gsm = _first_gsms(universe, catalog)
    cohorts: dict[str, Any] = {}
    for cohort in catalog:
        rng = universe.rng(f"geo-cohort-{cohort.cohort}")
        platform = platforms[cohort.platform]
        samples = _cohort_samples(cohort, first_gsm[cohort.cohort], rng)
        effects, cohort_genes = _tumor_effects(universe, cohort.cancer_type, cohort.expected_pairs, cross_cutting, rng)
        values = _cohort_expression(platform, baseline, effects, samples, rng)
        raw = cohort.cohort in RAW_SCALE_COHORTS
        pairs = _gsm_pairs(samples)
        unpaired: list[str] = []
        if cohort.unpaired == "drop" and cohort.patient_field.startswith("characteristics:"):
            # such series publish samples without a partner (GSE10072's extra tumors, GDS507's ninth normal): plant one
            patient_key = cohort.patient_field.split(":", 1)[1]
            samples, values, gsm = add_unpaired_normal(samples, values, patient_key, rng)
            unpaired.append(gsm)
        write_gz_text(expression_path(root, cohort), _expression_text(cohort, platform, samples, values, raw))
        cohorts[cohort.cohort] = {
            "cancer_type": cohort.cancer_type,
            "platform": cohort.platform,
            "source": cohort.source,
            "n_pairs": cohort.expected_pairs,
            "raw_scale": raw,
            "gsm_pairs": pairs,
            "unpaired_gsms": unpaired,
            "missing_landmarks": sorted(missing.get(cohort.platform, [])),
            "cohort_effect_genes": cohort_genes,
        }
    pairs_per_type: dict[str, int] = {}
    for truth in cohorts.values():
        pairs_per_type[truth["cancer_type"]] = pairs_per_type.get(truth["cancer_type"], 0) + truth["n_pairs"]
    return {
        "cohorts": cohorts,
        "pairs_per_type": dict(sorted(pairs_per_type.items())),
        "raw_scale_cohorts": sorted(c for c in cohorts if cohorts[c]["raw_scale"]),
        "main_probe": {gpl: p.main_probe for gpl, p in platforms.items()},
        "shared_programs": {ctype: partner for ctype, (partner, _) in SHARED_PROGRAMS.items()},
        "cross_cutting_genes": [sorted(program.index) for program in cross_cutting],
    }


def _first_gsms(universe: Universe, catalog: Sequence[Cohort]) -> dict[str, int]:
    """The first GSM number of each cohort: disjoint blocks, rising with the series accession as on GEO."""
    rng = universe.rng("geo-gsm")
    first: dict[str, int] = {}
    next_gsm = int(rng.integers(100_000, 200_000))
    for cohort in sorted(catalog, key=lambda c: int(c.cohort[3:])):
        first[cohort.cohort] = next_gsm
        next_gsm += 2 * cohort.expected_pairs + int(rng.integers(1_000, 60_000))
    return first


def _missing_landmarks(universe: Universe, gpls: Sequence[str]) -> dict[str, list[str]]:
    """The landmarks each platform lacks: two or three on one full platform, most of them on a partial one.

    Older whole-genome arrays lack a few genes; those are drawn outside every program so that
    combining cohorts (which drops genes some cohort lacks) removes no planted signal. A
    partial platform (HG-U133B, the second half of a two-chip set) measures only the share
    ``PARTIAL_COVERAGE`` gives, drawn at random, as the real one covers about 221 landmarks.
    """
    rng = universe.rng("geo-missing-landmarks")
    program_genes = set().union(*(set(p.index) for p in universe.programs.values()))
    candidates = [g for g in universe.landmarks if g not in program_genes]
    gpl = gpls[int(rng.integers(len(gpls)))]
    chosen = rng.choice(candidates, size=min(int(rng.integers(2, 4)), len(candidates)), replace=False)
    missing = {gpl: {str(g) for g in chosen}}
    for partial, share in PARTIAL_COVERAGE.items():
        if partial in gpls:
            landmarks = np.asarray(universe.landmarks)
            kept = universe.rng(f"geo-partial-{partial}").choice(len(landmarks), round(share * len(landmarks)), replace=False)
            missing[partial] = missing.get(partial, set()) | set(np.delete(landmarks, kept).tolist())
    return {platform: sorted(genes) for platform, genes in missing.items()}


def _build_platform(universe: Universe, gpl: str, missing: Sequence[str]) -> Platform:
    """Probes for every measured gene (1–3 each), a few multi-symbol probes and controls, sorted by id."""
    rng = universe.rng(f"geo-platform-{gpl}")
    spec = PLATFORMS.get(gpl, PlatformSpec(f"{gpl} expression array", "Affymetrix", 200000))
    vendor = VENDORS[spec.vendor]
    table = universe.genes
    landmark = table.pr_is_lm.to_numpy() == 1
    keep = (landmark & ~table.pr_gene_symbol.isin(missing).to_numpy()) | (
        ~landmark & (rng.random(len(table)) < NONLANDMARK_FRACTION)
    )
    measured = table[keep].reset_index(drop=True)
    n_probes = 1 + rng.choice(len(EXTRA_PROBES_P), size=len(measured), p=EXTRA_PROBES_P)
    gene_probes = _gene_probes(measured, n_probes, rng)
    multi = _multi_symbol_probes(measured, rng)
    n_named = len(vendor.controls)
    ids = _probe_ids(spec, len(gene_probes) + len(multi) + (0 if n_named else N_UNANNOTATED), rng)
    gene_probes["id"] = ids[: len(gene_probes)]
    multi["id"] = ids[len(gene_probes) : len(gene_probes) + len(multi)]
    controls = _control_probes(list(vendor.controls) or ids[len(gene_probes) + len(multi) :], rng)
    probes = pd.concat([gene_probes, multi, controls], ignore_index=True)
    probes["spot_id"] = np.where(probes.control_type == "pos", "--Control", "")
    probes["species"] = "Homo sapiens"
    probes["source"] = np.where(probes.gene_id != "", "RefSeq", "")
    probes = probes.sort_values("id", kind="stable").reset_index(drop=True)
    several = gene_probes[(gene_probes.kind == "main") & (np.repeat(n_probes, n_probes) > 1)]
    lm_symbols = set(universe.landmarks)
    main_probe = {s: i for s, i in zip(several.gene, several.id, strict=True) if s in lm_symbols}
    return Platform(gpl, spec, probes, measured.pr_gene_symbol.tolist(), dict(sorted(main_probe.items())))


def _gene_probes(measured: pd.DataFrame, n_probes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """The probes of measured genes: a main probe each, then attenuated or flat copies with lower variance.

    Attenuated copies follow the gene at a fraction of its amplitude (cross-hybridising or
    3'-biased probe sets); flat copies sit near background (probes that miss the transcript).
    """
    rows = measured.loc[measured.index.repeat(n_probes)].reset_index(drop=True)
    rank = rows.groupby("pr_gene_symbol", sort=False).cumcount().to_numpy()
    n = len(rows)
    attenuated = rng.random(n) < 0.6
    kind = np.where(rank == 0, "main", np.where(attenuated, "attenuated", "flat"))
    slope = np.select([rank == 0, attenuated], [1.0, rng.uniform(0.2, 0.6, n)], 0.0)
    offset = np.select([rank == 0, attenuated], [0.0, rng.uniform(-1.5, 0.3, n)], rng.uniform(-3.0, -1.0, n))
    symbols = rows.pr_gene_symbol.astype(str)
    return pd.DataFrame(
        {
            "symbol": symbols,
            "gene_id": rows.pr_gene_id.astype(str),
            "title": rows.pr_gene_title.astype(str),
            "accession": [f"NM_{k:06d}" for k in rng.integers(1_000, 999_999, n)],
            "nucleotide_title": "Homo sapiens " + rows.pr_gene_title.astype(str) + " (" + symbols + "), mRNA",
            "control_type": "FALSE",
            "gene": symbols,
            "kind": kind,
            "slope": slope,
            "offset": offset,
            "level": np.nan,
            "noise_sd": np.where(rank == 0, 0.0, PROBE_NOISE_SD),
        }
    )


def _multi_symbol_probes(measured: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Probes annotated to two genes at once (``A///B``), flat near background like real ambiguous probe sets.

    Being flat, they can never win a gene's highest-variance choice, whichever way a reader
    splits or drops them.
    """
    picks = [measured.iloc[rng.choice(len(measured), 2, replace=False)] for _ in range(N_MULTI_SYMBOL)]
    return pd.DataFrame(
        {
            "symbol": ["///".join(p.pr_gene_symbol) for p in picks],
            "gene_id": ["///".join(p.pr_gene_id.astype(str)) for p in picks],
            "title": ["///".join(p.pr_gene_title) for p in picks],
            "accession": "",
            "nucleotide_title": "",
            "control_type": "FALSE",
            "gene": "",
            "kind": "multi",
            "slope": 0.0,
            "offset": 0.0,
            "level": rng.uniform(3.0, 6.0, N_MULTI_SYMBOL),
            "noise_sd": PROBE_NOISE_SD,
        }
    )


def _control_probes(ids: Sequence[str], rng: np.random.Generator) -> pd.DataFrame:
    """Control probes: bright, annotated with no gene, so symbol mapping must drop them."""
    return pd.DataFrame(
        {
            "id": list(ids),
            "symbol": "",
            "gene_id": "",
            "title": "",
            "accession": "",
            "nucleotide_title": "",
            "control_type": "pos",
            "gene": "",
            "kind": "control",
            "slope": 0.0,
            "offset": 0.0,
            "level": rng.uniform(8.0, 12.0, len(ids)),
            "noise_sd": 2 * PROBE_NOISE_SD,
        }
    )


def _probe_ids(spec: PlatformSpec, n: int, rng: np.random.Generator) -> list[str]:
    """Distinct probe ids in the vendor's style: ``201291_s_at``, ``A_23_P12345``, ``ILMN_1651199``."""
    if spec.vendor == "Agilent":
        numbers = 10_000 + rng.choice(460_000, n, replace=False)
        prefixes = np.array(["A_23_P", "A_24_P", "A_32_P", "A_33_P"])[rng.integers(0, 4, n)]
        return [f"{p}{k}" for p, k in zip(prefixes, numbers, strict=True)]
    numbers = spec.id_start + rng.choice(10 * n, n, replace=False)
    if spec.vendor == "Illumina":
        return [f"ILMN_{k}" for k in numbers]
    suffixes = np.array(["_at", "_s_at", "_x_at", "_a_at"])[rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05])]
    return [f"{k}{s}" for k, s in zip(numbers, suffixes, strict=True)]


def _cohort_samples(cohort: Cohort, first_gsm: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per series-matrix column (shuffled, so pairs are not adjacent) with its annotations.

    GSMs ascend along the columns from ``first_gsm``, as GEO numbers a submission's samples.
    """
    n = cohort.expected_pairs
    numbers = np.sort(rng.choice(np.arange(1, 4 * n + 1), n, replace=False))
    ages = rng.integers(35, 86, n)
    order = rng.permutation(2 * n)
    pair = order % n
    tumor = order >= n
    for style in TITLE_STYLES:
        fields = [_sample_fields(cohort, style, int(numbers[p]), bool(t), int(ages[p])) for p, t in zip(pair, tumor, strict=True)]
        if all(_reads_back(cohort, f) for f in fields):
            break
    else:
        raise DataError(
            f"cohort {cohort.cohort}: none of the generator's sample title styles is read back by the catalog's "
            f"patterns for {cohort.class_field!r} and {cohort.patient_field!r}"
        )
    samples = pd.DataFrame(fields)
    samples.insert(0, "gsm", [f"GSM{first_gsm + j}" for j in range(2 * n)])
    samples["pair"] = pair
    samples["tumor"] = tumor
    return samples


def _sample_fields(cohort: Cohort, style: tuple[str, str, str], number: int, tumor: bool, age: int) -> dict[str, Any]:
    """Title, source name and characteristics of one sample, with class and patient where the catalog reads them."""
    pid_format, normal_title, tumor_title = style
    pid = pid_format.format(number)
    organ = CANCER_NAMES[cohort.cancer_type][0]
    cls = "tumor" if tumor else "normal"
    characteristics = {"tissue": organ}
    if cohort.class_field.startswith("characteristics:"):
        characteristics[cohort.class_field.split(":", 1)[1]] = cls
    if cohort.patient_field.startswith("characteristics:"):
        characteristics[cohort.patient_field.split(":", 1)[1]] = pid
    characteristics.setdefault("age", str(age))
    return {
        "title": (tumor_title if tumor else normal_title).format(ctype=cohort.cancer_type, pid=pid),
        "source_name_ch1": f"{cls} {organ} tissue",
        "characteristics": characteristics,
        "patient_id": pid,
        "cls": cls,
    }


def _reads_back(cohort: Cohort, fields: dict[str, Any]) -> bool:
    """Whether the catalog's patterns read this sample's planted class and patient id from its fields."""

    def value(name: str) -> str:
        if name.startswith("characteristics:"):
            return fields["characteristics"].get(name.split(":", 1)[1], "")
        return fields.get(name, "")

    cls_value = value(cohort.class_field)
    is_normal = re.search(cohort.normal_pattern, cls_value) is not None
    is_tumor = re.search(cohort.tumor_pattern, cls_value) is not None
    patient = re.search(cohort.patient_pattern, value(cohort.patient_field))
    return (is_normal, is_tumor) == (fields["cls"] == "normal", fields["cls"] == "tumor") and (
        patient is not None and patient.group(1) == fields["patient_id"]
    )


def _cross_cutting_programs(universe: Universe) -> list[pd.Series]:
    """Signed loadings of the pan-cancer programs, on landmarks outside every type's program.

    Every tumor varies along them whatever its type, so they carry variance (the leading
    principal components) but no class signal, as proliferation and immune infiltration do.
    """
    rng = universe.rng("geo-cross-cutting")
    program_genes = set().union(*(set(p.index) for p in universe.programs.values()))
    free = np.array([g for g in universe.landmarks if g not in program_genes])
    size = min(universe.scale.program_size, len(free) // N_CROSS_CUTTING)
    chosen = rng.permutation(free)[: size * N_CROSS_CUTTING].reshape(N_CROSS_CUTTING, size)
    signs = np.where(rng.random(chosen.shape) < 0.5, 1.0, -1.0)
    loadings = signs * rng.uniform(0.5, 1.5, chosen.shape)
    return [pd.Series(row, index=genes) for genes, row in zip(chosen, loadings, strict=True)]


def _beta_mean(shape: tuple[float, float]) -> float:
    return shape[0] / (shape[0] + shape[1])


def _tumor_effects(
    universe: Universe, cancer_type: str, n_pairs: int, cross_cutting: Sequence[pd.Series], rng: np.random.Generator
) -> tuple[pd.DataFrame, list[str]]:
    """Landmarks × pairs: what each tumor adds to its patient's normal profile (log2 tumor − normal).

    A tumor expresses its type's program scaled by its purity and by (1 − share) of a partner
    type's program it carries (``SHARED_PROGRAMS``), normalised so that the cohort's mean
    effect on the program genes is the program itself; each gene deviates a little per
    tumor. On top come the cross-cutting programs, the cohort's own effect on genes off its
    program (so cohorts of one type differ and a held-out cohort is harder than a held-out
    pair), and tumor-only noise. Returns the effects and the cohort-effect genes.
    """
    landmarks = universe.landmarks
    gain = rng.uniform(*COHORT_GAIN_RANGE)
    program = universe.programs[cancer_type]
    program = program * np.exp(rng.normal(0.0, COHORT_PROGRAM_SD, len(program)))
    purity = gain * rng.beta(*PURITY_BETA, n_pairs)
    partner, share_law = SHARED_PROGRAMS.get(cancer_type, ("", (0.0, 1.0)))
    share = rng.beta(*share_law, n_pairs) if partner else np.zeros(n_pairs)
    scale = _beta_mean(PURITY_BETA) * (1.0 - (_beta_mean(share_law) if partner else 0.0))
    effects = pd.DataFrame(0.0, index=landmarks, columns=range(n_pairs))

    def add(loadings: pd.Series, amplitude: np.ndarray, gene_sd: float = 0.0) -> None:
        deviation = 1.0 + rng.normal(0.0, gene_sd, (len(loadings), n_pairs)) if gene_sd else 1.0
        effects.loc[loadings.index] += np.outer(loadings.to_numpy(), amplitude) * deviation

    add(program, purity * (1.0 - share) / scale, PROGRAM_GENE_SD)
    if partner:
        add(universe.programs[partner], purity * share / _beta_mean(PURITY_BETA), PROGRAM_GENE_SD)
    for loadings in cross_cutting:
        add(loadings, rng.normal(0.0, CROSS_CUTTING_SD, n_pairs))
    off_program = [g for g in landmarks if g not in program.index]
    cohort_genes = sorted(str(g) for g in rng.choice(off_program, universe.scale.program_size, replace=False))
    add(pd.Series(rng.normal(0.0, COHORT_EFFECT_SD, len(cohort_genes)), index=cohort_genes), purity / _beta_mean(PURITY_BETA))
    effects += rng.normal(0.0, TUMOR_NOISE_SD, effects.shape)
    return effects, cohort_genes


def _cohort_expression(
    platform: Platform, baseline: pd.Series, effects: pd.DataFrame, samples: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Probes × samples log2 values: normal = baseline + batch + patient + noise; a tumor adds its effects.

    The effects are tumor − normal, so a patient's normal − tumor delta carries their negative.
    """
    genes = platform.genes
    center = baseline.loc[genes].to_numpy() + rng.normal(0.0, BATCH_SD, len(genes))
    pair = samples.pair.to_numpy()
    patient = rng.normal(0.0, PATIENT_SD, (len(genes), int(pair.max()) + 1))
    tumor_effect = effects.reindex(genes, fill_value=0.0).to_numpy()
    gene_values = (
        center[:, None]
        + patient[:, pair]
        + tumor_effect[:, pair] * samples.tumor.to_numpy(dtype=float)
        + rng.normal(0.0, NOISE_SD, (len(genes), len(samples)))
    )
    probes = platform.probes
    position = pd.Index(genes).get_indexer(probes.gene)
    has_gene = position >= 0
    row = np.where(has_gene, position, 0)
    probe_center = np.where(has_gene, center[row] + probes.offset.to_numpy(), probes.level.to_numpy())
    deviation = gene_values[row] - center[row][:, None]
    noise = rng.normal(0.0, 1.0, (len(probes), len(samples))) * probes.noise_sd.to_numpy()[:, None]
    return probe_center[:, None] + probes.slope.to_numpy()[:, None] * deviation + noise


def _gsm_pairs(samples: pd.DataFrame) -> list[list[str]]:
    """``[patient_id, normal_gsm, tumor_gsm]`` per patient, ordered by patient."""
    by_pair = samples.pivot(index="pair", columns="tumor", values="gsm")
    patients = samples.drop_duplicates("pair").set_index("pair").patient_id
    return sorted([str(patients[p]), str(by_pair.loc[p, False]), str(by_pair.loc[p, True])] for p in by_pair.index)


def _expression_text(cohort: Cohort, platform: Platform, samples: pd.DataFrame, values: np.ndarray, raw: bool) -> str:
    """The cohort's expression file in the format its catalog ``source`` names."""
    if cohort.source == "series_matrix":
        return _series_matrix_text(cohort, platform, samples, values, raw)
    organ, disease = CANCER_NAMES[cohort.cancer_type]
    title = f"{disease.capitalize()} and adjacent normal {organ} (l1k synthetic stand-in for {cohort.cohort})"
    written, fmt = (np.exp2(values), "%.2f") if raw else (values, "%.4f")
    probes = platform.probes.id.tolist()
    if cohort.source == "family_soft":
        return family_soft_text(cohort.cohort, cohort.platform, title, samples, probes, written, fmt)
    return gds_soft_text(cohort.cohort, cohort.platform, title, samples, probes, platform.probes.symbol.tolist(), written, fmt)


def _series_matrix_text(cohort: Cohort, platform: Platform, samples: pd.DataFrame, values: np.ndarray, raw: bool) -> str:
    """The series matrix as GEO writes it: quoted header cells, then ``"probe"`` rows of bare numbers."""
    organ, disease = CANCER_NAMES[cohort.cancer_type]
    n = len(samples)
    processing = (
        "MAS5 signal (Affymetrix Microarray Suite 5.0), scaled to target intensity 500, not log-transformed"
        if raw
        else "Background corrected, quantile normalized, log2 transformed"
    )
    vendor = VENDORS[platform.spec.vendor]
    series = [
        ("Series_title", f"Paired {disease} and adjacent normal {organ} tissue (l1k synthetic stand-in for {cohort.cohort})"),
        ("Series_geo_accession", cohort.cohort),
        ("Series_status", f"Public on {PUBLIC_DATE}"),
        (
            "Series_summary",
            f"Synthetic data generated by l1k's embedded default in the format of GEO series {cohort.cohort}: "
            f"{n // 2} {disease} tumors with patient-matched adjacent normal tissue.",
        ),
        ("Series_overall_design", f"{n // 2} tumor-normal pairs, one array per sample, {platform.spec.title}."),
        ("Series_type", "Expression profiling by array"),
        ("Series_sample_id", " ".join(samples.gsm) + " "),
        ("Series_platform_id", cohort.platform),
        ("Series_platform_taxid", "9606"),
        ("Series_sample_taxid", "9606"),
    ]
    characteristic_keys = list(samples.characteristics.iloc[0])
    sample_rows = [
        ("Sample_title", samples.title),
        ("Sample_geo_accession", samples.gsm),
        ("Sample_status", [f"Public on {PUBLIC_DATE}"] * n),
        ("Sample_type", ["RNA"] * n),
        ("Sample_channel_count", ["1"] * n),
        ("Sample_source_name_ch1", samples.source_name_ch1),
        ("Sample_organism_ch1", ["Homo sapiens"] * n),
        *(("Sample_characteristics_ch1", [f"{key}: {c[key]}" for c in samples.characteristics]) for key in characteristic_keys),
        ("Sample_molecule_ch1", ["total RNA"] * n),
        ("Sample_label_ch1", [vendor.label] * n),
        ("Sample_taxid_ch1", ["9606"] * n),
        ("Sample_data_processing", [processing] * n),
        ("Sample_platform_id", [cohort.platform] * n),
        ("Sample_data_row_count", [str(len(platform.probes))] * n),
    ]
    lines = [f'!{key}\t"{value}"' for key, value in series]
    lines.append("")
    lines += ["\t".join([f"!{key}", *(f'"{v}"' for v in cells)]) for key, cells in sample_rows]
    lines.append("!series_matrix_table_begin")
    lines.append("\t".join(['"ID_REF"', *(f'"{g}"' for g in samples.gsm)]))
    written = np.exp2(values) if raw else values
    row_format = "\t".join(["%.2f" if raw else "%.4f"] * n)
    lines += [f'"{pid}"\t' + row_format % tuple(row) for pid, row in zip(platform.probes.id, written.tolist(), strict=True)]
    lines.append("!series_matrix_table_end")
    return "\n".join(lines) + "\n"


def _annot_text(platform: Platform) -> str:
    """GEO's curated ``GPLxxx.annot`` file: ``^Annotation`` header, ``#`` column notes, the table."""
    header = [
        "^Annotation",
        "!Annotation_date = 01/15/2013 00:00:00",
        f"!Annotation_platform = {platform.gpl}",
        f"!Annotation_platform_title = {platform.spec.title}",
        "!Annotation_platform_organism = Homo sapiens",
        f"!Annotation_platform_data_row_count = {len(platform.probes)}",
    ]
    return _with_table(header, platform.probes, ANNOT_COLUMNS)


def _soft_text(platform: Platform) -> str:
    """The platform part of a family SOFT file, with the vendor's own column names."""
    vendor = VENDORS[platform.spec.vendor]
    header = [
        "^DATABASE = GeoMiame",
        "!Database_name = Gene Expression Omnibus (GEO)",
        "!Database_institute = NCBI NLM NIH",
        "!Database_web_link = http://www.ncbi.nlm.nih.gov/geo",
        "!Database_email = geo@ncbi.nlm.nih.gov",
        f"^PLATFORM = {platform.gpl}",
        f"!Platform_title = {platform.spec.title}",
        f"!Platform_geo_accession = {platform.gpl}",
        f"!Platform_status = Public on {PUBLIC_DATE}",
        f"!Platform_technology = {vendor.technology}",
        "!Platform_distribution = commercial",
        "!Platform_organism = Homo sapiens",
        f"!Platform_manufacturer = {vendor.manufacturer}",
        f"!Platform_data_row_count = {len(platform.probes)}",
    ]
    # Vendors' own tables space their multi-gene separators; GEO's annot files do not.
    probes = platform.probes.assign(
        **{c: platform.probes[c].str.replace("///", " /// ", regex=False) for c in ("symbol", "gene_id", "title")}
    )
    return _with_table(header, probes, vendor.soft_columns)


def _with_table(header: list[str], probes: pd.DataFrame, columns: Sequence[tuple[str, str, str]]) -> str:
    """Header lines, ``#column = description`` notes, then the tab-separated table between its markers."""
    notes = [f"#{name} = {description}" for name, _, description in columns]
    table = pd.DataFrame({name: probes[field] if field else "" for name, field, _ in columns})
    body = table.to_csv(sep="\t", index=False, lineterminator="\n")
    return "\n".join([*header, *notes, "!platform_table_begin"]) + "\n" + body + "!platform_table_end\n"
