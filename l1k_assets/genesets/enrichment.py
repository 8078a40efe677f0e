"""Over-representation of a gene list in gene-set libraries (hypergeometric, Benjamini–Hochberg FDR).

Shared by the cancer-type genes (seed 000's pathway enrichment) and the discovered landmark
sets (seed 001), so it lives with the gene sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from l1k_assets.errors import DataError


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """BH adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


BACKGROUNDS = ("measured", "library")


def enrichment_background(measured: Sequence[str], libraries: Mapping[str, Mapping[str, Sequence[str]]], kind: str) -> list[str]:
    """The gene universe of an over-representation test: the ``measured`` genes, or every gene of the libraries too.

    ``library`` approximates Enrichr's genome-wide background (its universe is the genes of
    its libraries); ``measured`` keeps the test within the genes that could have been chosen.
    """
    if kind not in BACKGROUNDS:
        raise DataError(f"enrichment background {kind!r}: expected one of {BACKGROUNDS}")
    genes = dict.fromkeys(measured)
    if kind == "library":
        genes |= dict.fromkeys(g for sets in libraries.values() for members in sets.values() for g in members)
    return list(genes)


def enrich(genes: Sequence[str], libraries: Mapping[str, Mapping[str, Sequence[str]]], background: Sequence[str]) -> pd.DataFrame:
    """Over-representation of ``genes`` in every set of every library, within ``background``.

    gseapy's Enrichr method computes the hypergeometric p-values offline (gene sets passed as
    a dict); FDR is Benjamini–Hochberg within each library, recomputed here so the correction
    is explicit. A library sharing no gene with the background is an error, not an empty table.
    """
    import gseapy

    universe = set(background)
    query = [g for g in dict.fromkeys(genes) if g in universe]
    if not query:
        raise DataError("none of the query genes is in the background gene universe")
    frames = []
    for library, sets in libraries.items():
        restricted = {name: sorted(universe.intersection(members)) for name, members in sets.items()}
        restricted = {name: members for name, members in restricted.items() if members}
        if not restricted:
            raise DataError(f"gene-set library {library!r} shares no gene with the {len(universe)}-gene background")
        result = gseapy.enrich(
            gene_list=query, gene_sets=restricted, background=sorted(universe), outdir=None, cutoff=1.0, no_plot=True
        )
        table = result.results
        if table is None or table.empty:
            continue
        # Sets with no overlap are absent from gseapy's table but were tested: they count in BH with p = 1.
        p_values = table["P-value"].to_numpy(dtype=float)
        fdr = benjamini_hochberg(np.concatenate([p_values, np.ones(len(restricted) - len(p_values))]))[: len(p_values)]
        overlap = table["Overlap"].str.split("/", expand=True).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "library": library,
                    "term": table["Term"].to_numpy(),
                    "overlap": overlap[0].to_numpy(),
                    "set_size": overlap[1].to_numpy(),
                    "query_size": len(query),
                    "odds_ratio": table["Odds Ratio"].to_numpy(),
                    "p_value": p_values,
                    "fdr": fdr,
                    "genes": table["Genes"].to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["library", "term", "overlap", "set_size", "query_size", "odds_ratio", "p_value", "fdr", "genes"]
        )
    return pd.concat(frames, ignore_index=True).sort_values(["fdr", "p_value"]).reset_index(drop=True)
