"""Chemical conditions for CSG2A: parsed structures, pluggable structure features, dose and time scaling.

The paper encodes a compound by pretrained MAT weights; any fixed-length structure vector
serves the condition encoder, so featurisers are registered by name (``morgan`` bit vectors,
a small standardised ``descriptors`` vector) and a new one is one decorated function. Real
compound tables carry structures that do not parse (GDSC lists several), so parsing never
fails on one row: unparsable or missing SMILES leave the table with their compound id in an
exclusion table, and only a table where nothing parses is an error. Dose and time enter the
model scaled as the paper does (dose / 100 µM, time / 72 h).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from rdkit.rdBase import BlockLogs

from l1k_assets.errors import DataError

log = logging.getLogger("l1k.response")

DOSE_SCALE_UM = 100.0
TIME_SCALE_H = 72.0
# GDSC gives no treatment condition; the paper fine-tunes at LINCS' common 10 µM and the 72 h viability read-out.
GDSC_DOSE_UM = 10.0
GDSC_TIME_H = 72.0
EXCLUSION_COLUMNS = ["compound_id", "smiles", "reason"]

Featuriser = Callable[..., np.ndarray]
FEATURISERS: dict[str, Featuriser] = {}


@dataclass
class ParsedStructures:
    """Canonical SMILES of the compounds that parsed, and the ones left out with the reason."""

    canonical: pd.Series  # compound id -> canonical SMILES
    molecules: dict[str, Chem.Mol]
    excluded: pd.DataFrame  # compound_id, smiles, reason


def parse_smiles(smiles: pd.Series) -> ParsedStructures:
    """Parse ``smiles`` (indexed by compound id) with RDKit; bad rows are excluded, never raised.

    A compound without a SMILES or whose SMILES RDKit rejects (syntax, valence) goes to
    ``excluded`` with its id; the count is logged. A repeated compound id is an error because
    it would give one compound two structures. Nothing parsing at all is an error too: every
    downstream model needs structures.
    """
    ids = smiles.index.astype(str)
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise DataError(f"compound ids {repeated[:5].tolist()} have more than one SMILES")
    canonical: dict[str, str] = {}
    molecules: dict[str, Chem.Mol] = {}
    excluded = []
    with BlockLogs():  # RDKit would print one error per bad SMILES to stderr; the exclusion table says it instead
        for compound, text in zip(ids, smiles.to_numpy(), strict=True):
            if not isinstance(text, str) or not text.strip():
                excluded.append((compound, text, "no SMILES"))
                continue
            mol = Chem.MolFromSmiles(text.strip())
            if mol is None:
                excluded.append((compound, text, "unparsable SMILES"))
                continue
            canonical[compound] = Chem.MolToSmiles(mol)
            molecules[compound] = mol
    if not canonical:
        raise DataError(f"none of the {len(ids)} SMILES parse (e.g. {smiles.head(3).tolist()}): no compound is usable")
    if excluded:
        log.info("excluded %d of %d compounds without a usable structure", len(excluded), len(ids))
    return ParsedStructures(
        canonical=pd.Series(canonical, name="canonical_smiles", dtype="str"),
        molecules=molecules,
        excluded=pd.DataFrame(excluded, columns=EXCLUSION_COLUMNS),
    )


def register_featuriser(name: str) -> Callable[[Featuriser], Featuriser]:
    """Make ``fn(molecules, **options) -> compounds × features array`` available to ``featurise`` as ``name``."""

    def decorate(fn: Featuriser) -> Featuriser:
        FEATURISERS[name] = fn
        return fn

    return decorate


@register_featuriser("morgan")
def morgan_fingerprints(molecules: list[Chem.Mol], radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Morgan (ECFP-like) bit vectors: the fingerprints the paper's RF and SVM baselines use."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return np.array([generator.GetFingerprintAsNumPy(mol) for mol in molecules], dtype=np.float32).reshape(-1, n_bits)


DESCRIPTORS: dict[str, Callable[[Chem.Mol], float]] = {
    "mol_wt": Descriptors.MolWt,
    "log_p": Descriptors.MolLogP,
    "tpsa": Descriptors.TPSA,
    "h_donors": Descriptors.NumHDonors,
    "h_acceptors": Descriptors.NumHAcceptors,
    "rotatable_bonds": Descriptors.NumRotatableBonds,
    "rings": Descriptors.RingCount,
    "aromatic_rings": Descriptors.NumAromaticRings,
    "heavy_atoms": Descriptors.HeavyAtomCount,
    "fraction_csp3": Descriptors.FractionCSP3,
}


@register_featuriser("descriptors")
def descriptor_vectors(molecules: list[Chem.Mol]) -> np.ndarray:
    """A few physicochemical descriptors, standardised across the given compounds (constant ones become 0).

    Raw descriptors span units from 0–1 to hundreds of daltons; standardising keeps one from
    dominating the condition encoder's first layer.
    """
    values = np.array([[fn(mol) for fn in DESCRIPTORS.values()] for mol in molecules], dtype=np.float64)
    values = values.reshape(-1, len(DESCRIPTORS))
    sd = values.std(axis=0)
    return ((values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def featurise(parsed: ParsedStructures, kind: str = "morgan", **options: object) -> pd.DataFrame:
    """Compounds × features from a registered featuriser, indexed like ``parsed.canonical``."""
    if kind not in FEATURISERS:
        raise DataError(f"unknown featuriser {kind!r}; registered: {sorted(FEATURISERS)}")
    ids = parsed.canonical.index
    values = FEATURISERS[kind]([parsed.molecules[c] for c in ids], **options)
    return pd.DataFrame(values, index=ids, columns=[f"{kind}_{k}" for k in range(values.shape[1])])


def scale_conditions(dose_um: np.ndarray | pd.Series | float, time_h: np.ndarray | pd.Series | float) -> np.ndarray:
    """(n, 2) condition columns: dose / 100 µM and time / 72 h, the paper's scaling.

    Missing or negative doses and times are an error: the encoder would read them as real conditions.
    """
    dose = np.atleast_1d(np.asarray(dose_um, dtype=np.float64))
    time = np.atleast_1d(np.asarray(time_h, dtype=np.float64))
    dose, time = np.broadcast_arrays(dose, time)
    bad = ~np.isfinite(dose) | ~np.isfinite(time) | (dose < 0) | (time < 0)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise DataError(f"{int(bad.sum())} conditions have a missing or negative dose/time (first: {dose[at]} µM, {time[at]} h)")
    return np.column_stack([dose / DOSE_SCALE_UM, time / TIME_SCALE_H])
