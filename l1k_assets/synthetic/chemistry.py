"""Synthetic drug-like molecules for the embedded default's compound tables.

CSG2A encodes each compound's structure (Morgan fingerprints or descriptors), so every
synthetic compound needs a SMILES that RDKit parses, and compounds must differ in structure
for a structure encoder to learn anything. Molecules are assembled from a scaffold (the
*structure class*, which the drug-response truth uses to plant a class-specific effect),
linkers and terminal groups, then canonicalised by RDKit so that distinct strings are
distinct molecules.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from l1k_assets.errors import DataError

# Each scaffold has two attachment points, carbons written with branches {0} and {1}.
SCAFFOLDS: dict[str, str] = {
    "quinazoline": "c1cc({0})c2ncnc({1})c2c1",
    "indole": "c1cc({0})c2[nH]cc({1})c2c1",
    "benzimidazole": "c1cc({0})c2nc({1})[nH]c2c1",
    "aminopyrimidine": "Nc1nc({0})cc({1})n1",
    "pyridine_carboxamide": "O=C(NC({0}))c1ccc({1})nc1",
    "piperidine_benzamide": "O=C(c1ccc({0})cc1)N1CCC({1})CC1",
    "thiazole": "c1sc({0})nc1({1})",
    "biphenyl": "c1cc({0})ccc1-c1ccc({1})cc1",
}
# Terminal groups; {r} is a ring-closure label made unique per attachment point, so a ring
# inside a substituent never closes a ring the scaffold left open.
TERMINALS: tuple[str, ...] = (
    "C",
    "CC",
    "C(C)C",
    "F",
    "Cl",
    "Br",
    "OC",
    "O",
    "N",
    "C#N",
    "C(F)(F)F",
    "C(=O)N",
    "C(=O)O",
    "S(C)(=O)=O",
    "N{r}CCOCC{r}",
    "N{r}CCN(C)CC{r}",
    "N{r}CCCC{r}",
    "C{r}CC{r}",
    "c{r}ccccc{r}",
    "c{r}ccncc{r}",
    "c{r}ccc(F)cc{r}",
)
LINKERS: tuple[str, ...] = ("", "C", "CC", "O", "N", "C(=O)N", "NC(=O)", "OC")
# After a linker only carbon-started terminals, so no N–Cl, O–O or acyl-halide bonds appear.
AFTER_LINKER: tuple[str, ...] = tuple(t for t in TERMINALS if t[0] in "Cc" and not t.startswith("Cl"))


class Molecule(NamedTuple):
    """A canonical SMILES and the scaffold it was built on."""

    smiles: str
    structure_class: str


def _substituent(rng: np.random.Generator, position: int) -> str:
    """A linker plus terminal group for attachment point ``position`` (which fixes its ring-closure label)."""
    linker = LINKERS[rng.integers(len(LINKERS))]
    pool = AFTER_LINKER if linker else TERMINALS
    terminal = pool[rng.integers(len(pool))].replace("{r}", f"%{10 + position}")
    return linker + terminal


def make_molecules(n: int, rng: np.random.Generator, max_tries_per_molecule: int = 50) -> list[Molecule]:
    """``n`` distinct valid molecules; structure classes are balanced (round-robin, shuffled).

    RDKit is imported here, not at module level, so importing the generator stays cheap.
    """
    from rdkit import Chem

    classes = list(SCAFFOLDS)
    wanted = [classes[k] for k in rng.permutation(np.arange(n) % len(classes))]
    seen: set[str] = set()
    out: list[Molecule] = []
    for structure_class in wanted:
        for _ in range(max_tries_per_molecule):
            raw = SCAFFOLDS[structure_class].format(_substituent(rng, 0), _substituent(rng, 1))
            mol = Chem.MolFromSmiles(raw)
            if mol is None:
                raise DataError(f"synthetic fragment assembly produced an invalid SMILES {raw!r} ({structure_class})")
            smiles = Chem.MolToSmiles(mol)
            if smiles not in seen:
                seen.add(smiles)
                out.append(Molecule(smiles, structure_class))
                break
        else:
            raise DataError(f"could not draw {n} distinct {structure_class} molecules from the fragment library")
    return out


def make_smiles(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct, valid, RDKit-canonical drug-like SMILES."""
    return [m.smiles for m in make_molecules(n, rng)]


def inchi_key(smiles: str) -> str:
    """The standard InChIKey of a SMILES, as pert_info's ``inchi_key`` column carries it."""
    from rdkit import Chem

    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))
