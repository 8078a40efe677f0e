"""The embedded TCGA hub: a few cohorts in Xena's GDC layout and Ding et al.'s response table, with planted responders.

Patients of a cohort share the biology of GDSC's cell lines of that cancer type (the same gene
levels, tumor program and proliferation module, ``response_writer.basal_expression``'s model)
and are then measured on another platform: log2(FPKM + 1) is an affine map of it per gene,
plus a shift per cohort, which is the batch effect ComBat has to remove. Each cohort treats
its patients with a few GDSC drugs: for the *planted* drugs (drugs acting through the shared
modules, not one program) a patient responds when the planted GDSC sensitivity
(``PlantedResponse``, on z-scores against GDSC's lines) says the patient is sensitive, for
the *null* drugs the response is a coin flip. The response table also carries what real
records have: responses outside RECIST ("[Not Available]"), a drug GDSC never screened,
padded names. Normal-tissue samples sit in the expression matrix and the phenotype table
marks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.fileio import atomic_write_text
from l1k_assets.response.tcga import NON_RESPONDERS, PHENOTYPE_SAMPLE, PHENOTYPE_TYPE, PRIMARY_TUMOR, RESPONDERS
from l1k_assets.sources.layout import TCGA_RESPONSE_FILE, XENA_PROBE_MAP, xena_file_url, xena_url
from l1k_assets.synthetic.gzipped import BULK_LEVEL, write_gz_text
from l1k_assets.synthetic.universe import Universe

TCGA_PATIENTS = {"tiny": 50, "default": 80, "large": 160}  # primary tumors per cohort
N_COHORTS = {"tiny": 3, "default": 4, "large": 6}
NORMALS_PER_COHORT = 3
PLANTED_DRUGS, NULL_DRUGS = 3, 3  # drugs whose responders follow the planted sensitivity, and coin-flip drugs
DRUGS_PER_COHORT = 2  # of each kind
TREATED_FRACTION = 0.8
SENSITIVITY_NOISE_SD = 0.3  # on the planted ln IC50 scale, before the median split
NOT_IN_GDSC = "Tamoxifenol"  # a drug the response table names and GDSC never screened
PLATFORM_SLOPE = (0.8, 1.25)  # log2(FPKM + 1) per RMA log2 unit, per gene
PLATFORM_OFFSET = (-1.5, 0.7)  # mean and sd of the per-gene offset
COHORT_SHIFT_SD = 0.3


def ensembl_ids(entrez: pd.Series) -> list[str]:
    """Stable, versioned Ensembl-like ids derived from the Entrez ids (ENSG + 11 digits + .version)."""
    return [f"ENSG{int(e):011d}.{int(e) % 9 + 1}" for e in entrez]


def probe_map_text(universe: Universe) -> str:
    """Xena's probe map: id, gene, chrom, chromStart, chromEnd, strand (tab-separated, one gene per line)."""
    genes = universe.genes
    rows = pd.DataFrame(
        {
            "id": ensembl_ids(genes.pr_gene_id),
            "gene": genes.pr_gene_symbol.to_numpy(),
            "chrom": [f"chr{int(e) % 22 + 1}" for e in genes.pr_gene_id],
            "chromStart": [int(e) * 10 for e in genes.pr_gene_id],
            "chromEnd": [int(e) * 10 + 5000 for e in genes.pr_gene_id],
            "strand": ["+" if int(e) % 2 else "-" for e in genes.pr_gene_id],
        }
    )
    return rows.to_csv(sep="\t", index=False)


def _cohorts(cells: pd.DataFrame, n: int) -> dict[str, str]:
    """The planted cancer types with the most GDSC lines, as Xena cohort → cancer type (single-cohort labels only)."""
    planted = cells[(cells.cancer_type != "") & ~cells.TCGA_DESC.str.contains("/")]
    counts = planted.groupby("TCGA_DESC").cancer_type.agg(["first", "size"]).sort_values(["size"], ascending=False, kind="stable")
    return {str(label): str(row["first"]) for label, row in counts.head(n).iterrows()}


def _barcodes(cohort: str, n: int, rng: np.random.Generator) -> list[str]:
    """TCGA patient barcodes TCGA-<site>-<id>: two-character site codes, distinct four-digit ids."""
    site = f"{cohort[0]}{rng.integers(0, 10)}"
    ids = rng.choice(np.arange(1000, 10000), n, replace=False)
    return [f"TCGA-{site}-{i:04d}" for i in sorted(ids)]


@dataclass(frozen=True)
class BasalModel:
    """How GDSC's basal expression was drawn (``response_writer``): the patients' biology follows it."""

    gdsc: pd.DataFrame  # genes (symbols) × GDSC cell lines, the basal file's values
    fitness_genes: list[str]
    cell_sd: float
    program_scale: float
    fitness_loading: float

    def patients(self, universe: Universe, ctype: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Genes × patients on GDSC's RMA scale: GDSC's gene levels, gene noise, the type's program, proliferation."""
        symbols = universe.genes.pr_gene_symbol.to_numpy()
        levels = self.gdsc.mean(axis=1).reindex(symbols).to_numpy()[:, None]
        values = levels + rng.normal(0.0, self.cell_sd, (len(symbols), n))
        position = pd.Index(symbols)
        program = universe.programs[ctype]
        values[position.get_indexer(program.index)] += self.program_scale * program.to_numpy()[:, None]
        values[position.get_indexer(self.fitness_genes)] += self.fitness_loading * rng.normal(0.0, 1.0, n)
        return pd.DataFrame(values, index=symbols)

    def z_scores(self, biology: pd.DataFrame) -> pd.DataFrame:
        """Patients × genes z-scores against GDSC's lines (population sd): the scale the planted weights act on."""
        mean, sd = self.gdsc.mean(axis=1), self.gdsc.std(axis=1, ddof=0).replace(0.0, 1.0)
        return (biology.T - mean) / sd


def _planted_and_null(drugs: pd.DataFrame, types: set[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the planted and the null drugs (among those with a usable structure: the model needs one).

    Planted drugs act on the treated cohorts through the shared modules (fitness, structure
    class), which GDSC's lines of every type teach a model: drugs reversing no program first,
    then reversers of a type no cohort has. A reverser of a cohort's own program would tie its
    responders to that program, which the few GDSC lines of one type cannot teach.
    """
    reverses = drugs.reverses.to_numpy()
    rank = np.where(reverses == "", 0, np.where(np.isin(reverses, sorted(types)), 2, 1))
    order = np.lexsort((rng.random(len(drugs)), rank))
    order = order[drugs.usable.to_numpy()[order]]
    planted = order[:PLANTED_DRUGS]
    rest = rng.permutation(order[PLANTED_DRUGS:])
    return planted, rest[:NULL_DRUGS]


def _responses(
    cohort: str,
    patients: list[str],
    z: pd.DataFrame,
    drugs: pd.DataFrame,
    weights: np.ndarray,
    kinds: tuple[np.ndarray, np.ndarray],
    turn: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Ding-style rows for ``DRUGS_PER_COHORT`` of the planted and of the null drugs (``kinds``: their positions).

    The ``turn``-th cohort starts at the ``turn``-th drug of each kind, so every drug is given in some cohort.
    """
    planted = np.roll(kinds[0], -turn)[:DRUGS_PER_COHORT]
    null = np.roll(kinds[1], -turn)[:DRUGS_PER_COHORT]
    rows = []
    for k in [*planted, *null]:
        treated = np.flatnonzero(rng.random(len(patients)) < TREATED_FRACTION)
        if k in planted:
            score = z.iloc[treated].to_numpy() @ weights[k] + rng.normal(0.0, SENSITIVITY_NOISE_SD, len(treated))
            responds = score < np.median(score)  # a lower ln IC50 is a more sensitive tumor
        else:
            responds = rng.random(len(treated)) < 0.5
        for patient, yes in zip(np.asarray(patients)[treated], responds, strict=True):
            response = rng.choice(RESPONDERS if yes else NON_RESPONDERS)
            name = str(drugs.DRUG_NAME.iloc[k])
            rows.append({"cancer": cohort, "bcr_patient_barcode": patient, "drug_name": name, "measure_of_response": response})
    rows.append(
        {"cancer": cohort, "bcr_patient_barcode": patients[0], "drug_name": NOT_IN_GDSC, "measure_of_response": RESPONDERS[1]}
    )
    rows.append(
        {
            "cancer": cohort,
            "bcr_patient_barcode": patients[-1],
            "drug_name": f" {drugs.DRUG_NAME.iloc[planted[0]]} ",
            "measure_of_response": "[Not Available]",
        }
    )
    return pd.DataFrame(rows)


def write_tcga_hub(
    universe: Universe,
    root: Path,
    cells: pd.DataFrame,
    drugs: pd.DataFrame,
    basal: BasalModel,
    weights: np.ndarray,
    landmarks: list[str],
) -> dict[str, Any]:
    """Write the hub below ``root/tcga`` and return its planted truth.

    ``weights`` is the planted drugs × ``landmarks`` sensitivity (``PlantedResponse.all_weights``)
    acting on z-scores against GDSC's lines, as GDSC's own ln IC50 does; ``drugs.usable`` marks
    the drugs with a parsable structure, the only ones planted or null.
    """
    rng = universe.rng("tcga")
    base = str(Path(root) / "tcga")
    n = TCGA_PATIENTS[universe.scale.name]
    ids = ensembl_ids(universe.genes.pr_gene_id)
    slope = rng.uniform(*PLATFORM_SLOPE, len(ids))[:, None]
    offset = rng.normal(*PLATFORM_OFFSET, len(ids))[:, None]
    atomic_write_text(Path(xena_file_url(base, XENA_PROBE_MAP)), probe_map_text(universe))
    cohorts = _cohorts(cells, N_COHORTS[universe.scale.name])
    kinds = _planted_and_null(drugs, set(cohorts.values()), rng)
    responses, truth = [], {}
    for turn, (cohort, ctype) in enumerate(cohorts.items()):
        patients = _barcodes(cohort, n + NORMALS_PER_COHORT, rng)
        biology = basal.patients(universe, ctype, len(patients), rng)
        normals = np.arange(n, len(patients))
        program = universe.programs[ctype]
        position = biology.index.get_indexer(program.index)
        biology.iloc[position, normals] -= 0.5 * program.to_numpy()[:, None]  # normal tissue: half the program gone
        measured = slope * biology.to_numpy() + offset + rng.normal(0.0, COHORT_SHIFT_SD)
        samples = [f"{p}-01A" for p in patients[:n]] + [f"{p}-11A" for p in patients[n:]]
        matrix = pd.DataFrame(np.round(np.maximum(measured, 0.0), 4), index=ids, columns=samples).rename_axis("Ensembl_ID")
        write_gz_text(Path(xena_url(base, cohort, "expression")), matrix.to_csv(sep="\t"), BULK_LEVEL)
        phenotype = pd.DataFrame(
            {
                PHENOTYPE_SAMPLE: samples,
                PHENOTYPE_TYPE: [PRIMARY_TUMOR] * n + ["Solid Tissue Normal"] * NORMALS_PER_COHORT,
                "disease_type.project": ctype,
                "primary_site.project": cohort,
            }
        )
        write_gz_text(Path(xena_url(base, cohort, "phenotype")), phenotype.to_csv(sep="\t", index=False))
        z = basal.z_scores(biology.iloc[:, :n])[landmarks]
        responses.append(_responses(cohort, patients[:n], z, drugs, weights, kinds, turn, rng))
        truth[cohort] = {"cancer_type": ctype, "patients": n}
    table = pd.concat(responses, ignore_index=True)
    atomic_write_text(Path(xena_file_url(base, TCGA_RESPONSE_FILE)), table.to_csv(sep="\t", index=False))
    planted, null = ([str(drugs.DRUG_NAME.iloc[k]) for k in positions] for positions in kinds)
    return {
        "cohorts": truth,
        "planted_drugs": sorted(planted),
        "null_drugs": sorted(null),
        "not_in_gdsc": NOT_IN_GDSC,
        "n_responses": len(table),
    }
