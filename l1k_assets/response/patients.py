"""Seed 003's patient inputs: TCGA tumors made comparable with GDSC's cell lines, per cancer type.

The paper batch-corrects GDSC and TCGA together per cancer type with ComBat at the log2 level
and then takes robust z-scores. Here ComBat is inmoose's ``pycombat_norm`` (the maintained
Python port; no empirical Bayes is re-written), with GDSC as the reference batch: the cell
lines the model was fine-tuned on keep their values and the patients are moved onto them.
The robust z-scores then use GDSC's per-gene median and MAD over all its cell lines, the very
transform the fine-tuning inputs had (``benchmark.response_data``), so a patient reaches the
model on its training scale. Each cohort reports how separable the two sources are before and
after (silhouette of the source labels on the first principal components).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.inference.gene_metrics import DEFAULT_MAD_FLOOR, MAD_SCALE

log = logging.getLogger("l1k.response")

SOURCES = ("GDSC", "TCGA")
MIN_SAMPLES = 2  # ComBat estimates a batch's mean and variance per gene: one sample has no variance
SEPARATION_COMPONENTS = 10


@dataclass
class HarmonisedCohort:
    """One cancer type's GDSC lines and TCGA patients before and after ComBat (samples × genes, log2)."""

    cohort: str
    before: pd.DataFrame
    after: pd.DataFrame
    source: np.ndarray  # "GDSC" / "TCGA" per row
    dropped_genes: list[str] = field(default_factory=list)

    def patients(self) -> pd.DataFrame:
        """The corrected TCGA rows (patients × genes)."""
        return self.after[self.source == "TCGA"]

    def separation(self) -> dict[str, float]:
        """Silhouette of the source labels on the first principal components, before and after (1 = apart, ≤ 0 = mixed)."""
        return {
            "silhouette_before": source_silhouette(self.before, self.source),
            "silhouette_after": source_silhouette(self.after, self.source),
        }


def source_silhouette(values: pd.DataFrame, source: np.ndarray) -> float:
    """Silhouette score of ``source`` on the first ``SEPARATION_COMPONENTS`` principal components of the centred values."""
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    components = min(SEPARATION_COMPONENTS, values.shape[0] - 1, values.shape[1])
    points = PCA(components, random_state=0).fit_transform(values.to_numpy(np.float64))
    return float(silhouette_score(points, source))


def harmonise_cohort(cohort: str, gdsc: pd.DataFrame, tcga: pd.DataFrame) -> HarmonisedCohort:
    """ComBat (inmoose, GDSC as the reference batch) on the genes both sources measure, for one cancer type.

    A gene constant within either source has no variance for ComBat to scale and is left out
    (named in ``dropped_genes``); fewer than two cell lines or patients is a DataError naming
    the cohort, as ComBat cannot estimate a batch from one sample.
    """
    from inmoose.pycombat import pycombat_norm

    for name, table in zip(SOURCES, (gdsc, tcga), strict=True):
        if len(table) < MIN_SAMPLES:
            raise DataError(f"cohort {cohort}: {len(table)} {name} sample(s); ComBat needs at least {MIN_SAMPLES} per batch")
    genes = [g for g in gdsc.columns if g in set(tcga.columns)]
    varies = (gdsc[genes].std() > 0) & (tcga[genes].std() > 0)
    dropped = [g for g in genes if not varies[g]]
    kept = [g for g in genes if varies[g]]
    if len(kept) < MIN_SAMPLES:
        raise DataError(f"cohort {cohort}: GDSC and TCGA share {len(kept)} varying genes; ComBat needs at least {MIN_SAMPLES}")
    before = pd.concat([gdsc[kept], tcga[kept]]).astype(np.float64)
    source = np.array([SOURCES[0]] * len(gdsc) + [SOURCES[1]] * len(tcga))
    after = pycombat_norm(before.T, list(source), ref_batch=SOURCES[0]).T
    if dropped:
        log.info("cohort %s: %d genes constant in one source left out of ComBat", cohort, len(dropped))
    return HarmonisedCohort(cohort, before, after.loc[before.index, kept], source, dropped)


def gdsc_robust_z(gdsc_all: pd.DataFrame, values: pd.DataFrame, mad_floor: float = DEFAULT_MAD_FLOOR) -> pd.DataFrame:
    """``values`` (rows × genes) as robust z-scores against GDSC's cell lines: (x − median) / (1.4826 · max(MAD, floor)).

    The median and MAD are every GDSC line's, per gene, as the fine-tuning inputs were
    scaled; genes GDSC lacks come out NaN.
    """
    reference = gdsc_all.reindex(columns=values.columns).astype(np.float64)
    median = reference.median()
    mad = (reference - median).abs().median()
    return (values - median) / (MAD_SCALE * np.maximum(mad, mad_floor))


def split_by_cohort(lines: pd.DataFrame, labels: pd.Series) -> Mapping[str, pd.DataFrame]:
    """GDSC's expression (cell lines × genes) per TCGA cohort of its ``TCGA_DESC`` label (``COAD/READ`` feeds both)."""
    cohorts: dict[str, list[str]] = {}
    for line, label in labels.items():
        for part in str(label).split("/"):
            cohorts.setdefault(part.strip(), []).append(str(line))
    present = set(lines.index.astype(str))
    return {c: lines.loc[[x for x in members if x in present]] for c, members in cohorts.items()}


@dataclass
class PatientInputs:
    """Every cohort's patients as model inputs (robust z against GDSC) and how ComBat changed the two sources."""

    expression: pd.DataFrame  # patients × genes, plus a ``cohort`` column
    cohorts: list[HarmonisedCohort]

    def separation(self) -> pd.DataFrame:
        """Per cohort: cell lines, patients, genes corrected, genes left out, silhouette before and after."""
        rows = [
            {
                "cohort": h.cohort,
                "gdsc_lines": int((h.source == SOURCES[0]).sum()),
                "patients": int((h.source == SOURCES[1]).sum()),
                "genes": h.after.shape[1],
                "genes_left_out": len(h.dropped_genes),
                **h.separation(),
            }
            for h in self.cohorts
        ]
        return pd.DataFrame(rows)

    def embeddings(self) -> dict[str, tuple[np.ndarray, pd.Series]]:
        """Before and after ComBat: each cohort's samples on its own first two principal components, stacked, and labels."""
        from sklearn.decomposition import PCA

        out = {}
        for stage in ("before", "after"):
            points, labels = [], []
            for h in self.cohorts:
                values = getattr(h, stage).to_numpy(np.float64)
                points.append(PCA(2, random_state=0).fit_transform(values))
                labels += [f"{h.cohort} {s}" for s in h.source]
            out[stage] = (np.vstack(points), pd.Series(labels))
        return out


def patient_inputs(tumors: Mapping[str, pd.DataFrame], gdsc: pd.DataFrame, labels: pd.Series) -> PatientInputs:
    """ComBat each cohort's primary tumors with GDSC's lines of that type, then robust-z them against all of GDSC.

    ``tumors`` maps a cohort to its patients × gene symbols (log2(FPKM + 1), ``tcga.primary_tumors``);
    ``gdsc`` is GDSC's cell lines × symbols, ``labels`` each line's ``TCGA_DESC``.
    """
    by_cohort = split_by_cohort(gdsc, labels)
    harmonised = [harmonise_cohort(c, by_cohort.get(c, gdsc.iloc[:0]), t) for c, t in sorted(tumors.items())]
    frames = [gdsc_robust_z(gdsc, h.patients()).assign(cohort=h.cohort) for h in harmonised]
    expression = pd.concat(frames).rename_axis("patient")
    genes = [c for c in expression.columns if c != "cohort"]
    return PatientInputs(expression[["cohort", *genes]], harmonised)
