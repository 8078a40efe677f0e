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
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError
from l1k_assets.inference.gene_metrics import robust_z

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


def gdsc_robust_z(gdsc_all: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``values`` (rows × genes) as robust z-scores against GDSC's cell lines (``robust_z`` with them as reference).

    The reference is every GDSC line with a finite value for each of these genes, as the
    fine-tuning inputs were scaled (``benchmark.response_data``); genes GDSC lacks are an error.
    """
    missing = [g for g in values.columns if g not in gdsc_all.columns]
    if missing:
        raise DataError(f"GDSC's expression lacks {len(missing)} of the patients' genes, e.g. {missing[:3]}")
    reference = gdsc_all[list(values.columns)].astype(np.float64)
    reference = reference[np.isfinite(reference.to_numpy()).all(axis=1)]
    z = robust_z(values.to_numpy(np.float64), reference=reference.to_numpy())
    return pd.DataFrame(z, index=values.index, columns=values.columns)


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
    skipped: dict[str, str] = field(default_factory=dict)  # cohort → why ComBat could not take it

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
    ``gdsc`` is GDSC's cell lines × symbols, ``labels`` each line's ``TCGA_DESC``. A cohort ComBat
    cannot take (fewer than two lines or patients, too few shared genes) is left out and named
    in ``skipped``; when no cohort is left, the reasons are the error.
    """
    by_cohort = split_by_cohort(gdsc, labels)
    harmonised, skipped = [], {}
    for cohort, patients in sorted(tumors.items()):
        try:
            harmonised.append(harmonise_cohort(cohort, by_cohort.get(cohort, gdsc.iloc[:0]), patients))
        except DataError as exc:
            skipped[cohort] = str(exc)
    if not harmonised:
        raise DataError("no TCGA cohort can be batch-corrected against GDSC: " + "; ".join(skipped.values()))
    frames = [gdsc_robust_z(gdsc, h.patients()).assign(cohort=h.cohort) for h in harmonised]
    expression = pd.concat(frames).rename_axis("patient")
    genes = [c for c in expression.columns if c != "cohort"]
    return PatientInputs(expression[["cohort", *genes]], harmonised, skipped)


def drug_ids_by_name(names: pd.Series) -> dict[str, list[str]]:
    """GDSC drug name → its DRUG_IDs (``names`` is DRUG_ID → DRUG_NAME): GDSC screened some drugs more than once."""
    out: dict[str, list[str]] = {}
    for drug_id, name in names.items():
        out.setdefault(str(name), []).append(str(drug_id))
    return out


def predict_patients(
    model: Any,
    genes: list[str],
    patients: pd.DataFrame,
    pairs: pd.DataFrame,
    drug_ids: Mapping[str, list[str]],
    structures: pd.DataFrame,
) -> pd.DataFrame:
    """Each treated patient's predicted ln IC50 for the drug given: the model on [robust-z expression | structure].

    ``patients`` is ``PatientInputs.expression``; ``pairs`` the GDSC-matched responses
    (cancer, patient, drug, responder). A drug GDSC screened several times gets the mean of its
    screens' predictions. Genes the patients lack are 0 (the median), as for the cell lines;
    pairs whose patient has no expression or whose drug no structure are left out, with a count.
    """
    z = patients.drop(columns="cohort").reindex(columns=genes, fill_value=0.0).astype(np.float64)
    has_structure = {name: [i for i in ids if i in structures.index] for name, ids in drug_ids.items()}
    usable = pairs.patient.isin(z.index) & pairs.drug.map(lambda d: bool(has_structure.get(d))).astype(bool)
    if (~usable).any():
        log.warning("left out %d of %d patient–drug pairs: no expression or no structure", int((~usable).sum()), len(pairs))
    kept = pairs[usable].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"none of the {len(pairs)} patient–drug pairs has both expression and a drug structure")
    predictions = np.zeros(len(kept))
    for name, rows in kept.groupby("drug").groups.items():
        ids = has_structure[str(name)]
        expression = z.loc[kept.patient[rows]].to_numpy()
        screens = [
            model.predict(np.hstack([expression, np.repeat(structures.loc[[i]].to_numpy(), len(rows), axis=0)])) for i in ids
        ]
        predictions[np.asarray(rows)] = np.mean(screens, axis=0)
    return kept.assign(predicted_ln_ic50=predictions)


def responder_tests(predictions: pd.DataFrame, within_cancer_type: bool = True, min_per_class: int = 2) -> pd.DataFrame:
    """Per drug: do responders have a lower predicted ln IC50? One-sided t-test and Cohen's d (pooled sd).

    Seed 003 (§4.5) tests each drug with at least ``min_per_class`` responders and as many
    non-responders ("over 10" each there) over every cancer type treated with it, pooled. A drug's
    predictions differ by cancer type (a drug that reverses one type's program is predicted
    stronger on all of its patients), so where one type happens to hold more responders the
    pooled test credits the type, not the patient; ``within_cancer_type`` centres the
    predictions per cancer type and drug first, so only differences between patients of the
    same type count. A drug below ``min_per_class`` in either class gets NaN with its counts.
    """
    from scipy.stats import ttest_ind

    values = predictions.predicted_ln_ic50
    if within_cancer_type:
        values = values - values.groupby([predictions.cancer, predictions.drug]).transform("mean")
    rows = []
    for drug, group in predictions.assign(tested=values).groupby("drug", sort=True):
        yes = group.tested[group.responder].to_numpy()
        no = group.tested[~group.responder].to_numpy()
        row = {"drug": drug, "cancers": ", ".join(sorted(set(group.cancer))), "responders": len(yes), "non_responders": len(no)}
        if min(len(yes), len(no)) < max(min_per_class, 2):
            rows.append(row | {"t": np.nan, "p_one_sided": np.nan, "cohens_d": np.nan})
            continue
        test = ttest_ind(yes, no, alternative="less")
        pooled = np.sqrt(((len(yes) - 1) * yes.var(ddof=1) + (len(no) - 1) * no.var(ddof=1)) / (len(yes) + len(no) - 2))
        d = (no.mean() - yes.mean()) / pooled if pooled > 0 else np.nan
        rows.append(
            row
            | {
                "mean_responders": float(yes.mean()),
                "mean_non_responders": float(no.mean()),
                "t": float(test.statistic),
                "p_one_sided": float(test.pvalue),
                "cohens_d": float(d),
            }
        )
    return pd.DataFrame(rows)


def one_class_groups(predictions: pd.DataFrame) -> list[str]:
    """The (cancer, drug) groups whose patients all responded or none did: a within-type comparison is impossible."""
    classes = predictions.groupby(["cancer", "drug"]).responder.nunique()
    return [f"{cancer}/{drug}" for (cancer, drug), n in classes.items() if n < 2]


@dataclass
class PatientResponse:
    """Predicted response of every treated patient, the per-drug tests, and what could not be used."""

    predictions: pd.DataFrame  # cancer, patient, drug, response, responder, predicted_ln_ic50
    tests: pd.DataFrame  # per drug: counts, means, t, one-sided p, Cohen's d
    drugs_not_in_gdsc: list[str]
    one_class: list[str]  # cancer/drug groups with a single response class

    def significant(self, alpha: float) -> list[str]:
        """The drugs whose responders are predicted more sensitive at one-sided p < ``alpha``."""
        return self.tests.drug[self.tests.p_one_sided < alpha].tolist()

    def boxes(self) -> dict[str, dict[str, np.ndarray]]:
        """Per drug, the predictions of responders and non-responders (the box plot's data)."""
        return {
            str(drug): {
                cls: group.predicted_ln_ic50[group.responder == (cls == "responders")].to_numpy()
                for cls in ("responders", "non-responders")
            }
            for drug, group in self.predictions.groupby("drug", sort=True)
        }


def patient_response(
    model: Any,
    genes: list[str],
    patients: pd.DataFrame,
    responses: pd.DataFrame,
    gdsc_names: pd.Series,
    structures: pd.DataFrame,
    within_cancer_type: bool = True,
    min_per_class: int = 2,
) -> PatientResponse:
    """Seed 003 §3.3.3 end to end: match the response table's drugs to GDSC's, predict, test responders per drug.

    ``responses`` is ``tcga.read_drug_responses``' table, ``gdsc_names`` GDSC's DRUG_ID → name,
    ``structures`` the drugs' structure features by DRUG_ID (the fine-tuning inputs);
    ``within_cancer_type`` and ``min_per_class`` are ``responder_tests``'.
    """
    from l1k_assets.response.tcga import match_gdsc_drugs

    matched, missing = match_gdsc_drugs(responses[responses.cancer.isin(set(patients.cohort))], gdsc_names)
    if missing:
        log.warning("drugs the response table names but GDSC never screened: %s", missing)
    predictions = predict_patients(model, genes, patients, matched, drug_ids_by_name(gdsc_names), structures)
    tests = responder_tests(predictions, within_cancer_type, min_per_class)
    return PatientResponse(predictions, tests, missing, one_class_groups(predictions))
