"""The embedded default's genetic perturbagens and controls: what real releases mix with compounds.

GSE92742, GSE70138 and LINCS 2020 are not compound collections: beside ``trt_cp`` they hold
shRNA knock-downs (``trt_sh``), ORF over-expression (``trt_oe``), CRISPR knock-outs
(``trt_xpr``, LINCS 2020) and controls (``ctl_vehicle`` DMSO, ``ctl_vector`` empty vector,
``ctl_untrt`` untreated), each with level-5 signatures of their own. A pipeline that forgets
the perturbagen type ranks a hairpin or a DMSO well as a drug, so the generator plants the
trap: knocking down one hub gene of a cancer type's program reverses that whole program more
strongly than any compound does (the tests check such shRNAs never become compound scores).

Genetic plates are their own plate families (``KDA001_A375_96H`` for shRNAs, ``OEA001_...``
for ORFs, ``XPR001_...`` for CRISPR), 96 h after infection as in CMap, each holding every
perturbagen of its type once plus empty-vector and untreated wells, on replicate plates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from l1k_assets.synthetic.universe import Universe

GENETIC_TIME_H = 96
# type -> (plate family prefix, pert_id prefix, perturbagens per target gene, on-target log2 shift)
GENETIC = {
    "trt_sh": ("KDA", "TRCN00000", 2, -2.0),
    "trt_oe": ("OEA", "ccsbBroad304_", 1, 2.5),
    "trt_xpr": ("XPR", "BRDN00000", 2, -1.5),
}
OFF_TARGET = {"trt_sh": (0.08, 0.35), "trt_oe": (0.03, 0.2), "trt_xpr": (0.03, 0.2)}  # share of landmarks hit, sd (seed effects)
HUB_REVERSAL = 1.4  # a knocked-down hub moves its program this far toward normal (compounds: at most 1 × program)
N_HUBS = 2  # cancer types whose program has such a hub
# control type -> (pert_id, pert_iname, wells per genetic plate)
GENETIC_CONTROLS = {"ctl_vector": ("CMAP-000", "EMPTY_VECTOR", 4), "ctl_untrt": ("CMAP-UNTRT", "UnTrt", 2)}


@dataclass(frozen=True)
class GeneticPanel:
    """Genetic perturbagens (pert_id, pert_iname = target symbol, pert_type, reverses) and their landmark effects."""

    perts: pd.DataFrame
    effects: np.ndarray  # perturbagens × landmarks, the full shift (log2)


def targets_per_type(universe: Universe) -> int:
    """Target genes per genetic type: enough at every scale for each type to have a τ reference of its own."""
    return max(8, universe.scale.n_landmarks // 50)


def program_hubs(universe: Universe, rng: np.random.Generator) -> dict[str, str]:
    """Cancer type -> its hub: the program gene most raised in the tumor, whose knock-down reverses the program."""
    chosen = rng.choice(sorted(universe.programs), N_HUBS, replace=False)
    return {str(c): str(universe.programs[c].idxmax()) for c in sorted(chosen)}


def genetic_panel(universe: Universe, types: tuple[str, ...], rng: np.random.Generator) -> GeneticPanel:
    """Hairpins, ORFs and guides against landmark genes (the program hubs among them), with planted effects."""
    landmarks = pd.Index(universe.landmarks)
    hubs = program_hubs(universe, rng)
    others = [g for g in landmarks if g not in set(hubs.values())]
    rows, effects = [], []
    for pert_type in types:
        _, prefix, per_gene, shift = GENETIC[pert_type]
        genes = list(hubs.values()) + list(rng.choice(others, targets_per_type(universe) - len(hubs), replace=False))
        share, sd = OFF_TARGET[pert_type]
        for gene in genes:
            reverses = next((c for c, hub in hubs.items() if hub == gene), "")
            for _ in range(per_gene):
                effect = np.where(rng.random(len(landmarks)) < share, rng.normal(0.0, sd, len(landmarks)), 0.0)
                effect[landmarks.get_loc(gene)] += shift * rng.uniform(0.6, 1.0)
                if reverses:
                    program = universe.programs[reverses]
                    sign = 1.0 if shift > 0 else -HUB_REVERSAL  # over-expressing the hub mimics the tumor instead
                    effect[landmarks.get_indexer(program.index)] += sign * program.to_numpy()
                number = int(rng.integers(10_000, 99_999))
                rows.append({"pert_id": f"{prefix}{number}", "pert_iname": gene, "pert_type": pert_type, "reverses": reverses})
                effects.append(effect)
    perts = pd.DataFrame(rows)
    perts["pert_id"] = perts.pert_id + perts.groupby("pert_id").cumcount().map(lambda k: f"_{k}" if k else "")
    return GeneticPanel(perts, np.asarray(effects))


def genetic_design(
    universe: Universe, panel: GeneticPanel, cells: list[str], wells: list[str], rng: np.random.Generator
) -> pd.DataFrame:
    """Every well of the genetic plates, in ``instance_design``'s columns (``cp`` indexes the panel; −1 a control)."""
    frames = []
    controls = [(t, pid, name) for t, (pid, name, n) in GENETIC_CONTROLS.items() for _ in range(n)]
    for pert_type in panel.perts.pert_type.unique():
        members = panel.perts[panel.perts.pert_type == pert_type]
        plate_wells = pd.DataFrame(
            {
                "cp": [*members.index, *[-1] * len(controls)],
                "pert_type": [pert_type] * len(members) + [c[0] for c in controls],
                "pert_id": [*members.pert_id, *[c[1] for c in controls]],
                "pert_iname": [*members.pert_iname, *[c[2] for c in controls]],
            }
        )
        for cell in cells:
            family = f"{GENETIC[pert_type][0]}001_{cell}_{GENETIC_TIME_H}H"
            layout = np.asarray(wells)[rng.permutation(len(wells))[: len(plate_wells)]]
            for rep in range(1, universe.scale.replicates + 1):
                plate = f"{family}_X{rep}_B{rng.integers(1, 40)}_DUO52HI53LO"
                frames.append(plate_wells.assign(rna_plate=plate, rna_well=layout, cell_id=cell, family=family))
    design = pd.concat(frames, ignore_index=True)
    return design.assign(dose=np.nan, time=GENETIC_TIME_H)


def genetic_response(universe: Universe, panel: GeneticPanel, design: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Per well, the landmark shift its perturbagen causes (wells × landmarks): effect × cell-line efficiency."""
    cells = pd.Index(design.cell_id.unique())
    efficiency = rng.uniform(0.8, 1.1, (len(cells), len(panel.perts)))
    index = design.cp.to_numpy()
    treated = index >= 0
    scale = efficiency[cells.get_indexer(design.cell_id), index.clip(min=0)] * treated
    return panel.effects[index.clip(min=0)] * scale[:, None]
