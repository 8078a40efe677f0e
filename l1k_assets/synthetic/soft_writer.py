"""Synthetic GEO SOFT files for cohorts GEO publishes as a DataSet (GDS) or only as a family SOFT file.

A curated GDS has no series matrix: its samples' classes and patients are its subsets
(``disease state``, ``individual``), and its values one table with a column per GSM. A GSE
family SOFT file carries one ``^SAMPLE`` block per GSM with its own ``ID_REF``/``VALUE`` table.
These writers turn the generator's samples (title, source name, characteristics) and values
into both layouts, as GEO writes them, so the main job reads a GDS cohort through the same
parser and pairing rules a user's real GDS goes through. Real series also publish unpaired
samples (GDS507 has a normal kidney without its tumor), so ``add_unpaired_normal`` plants one
and returns its GSM, for the pairing report to be checked against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PUBLIC_DATE = "Jan 15 2013"  # every synthetic GEO record's release date (series matrices too)


def characteristics_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples × characteristic keys (the generator keeps each sample's characteristics as a dict)."""
    return pd.DataFrame(list(samples.characteristics), index=samples.gsm.to_numpy()).fillna("")


def _value_rows(leading: Sequence[str], values: np.ndarray, fmt: str) -> list[str]:
    """Tab-separated rows: each row's leading cells (probe id, identifier), then its values; NaN is GEO's ``null``."""
    return [
        "\t".join([lead, *("null" if v != v else fmt % v for v in row)])
        for lead, row in zip(leading, values.tolist(), strict=True)
    ]


def gds_soft_text(
    gds: str,
    platform_id: str,
    title: str,
    samples: pd.DataFrame,
    probes: Sequence[str],
    identifiers: Sequence[str],
    values: np.ndarray,
    fmt: str,
) -> str:
    """A GDS SOFT file: ``^DATASET`` attributes, one ``^SUBSET`` per (characteristic, value), the value table.

    ``samples`` has columns gsm, title, source_name_ch1 and characteristics (dicts); ``values`` is
    probes × samples in the same order; ``identifiers`` are the probes' gene symbols (GEO's IDENTIFIER).
    """
    table = characteristics_table(samples)
    lines = [
        "^DATABASE = Geo",
        "!Database_name = Gene Expression Omnibus (GEO)",
        "!Database_institute = NCBI NLM NIH",
        f"^DATASET = {gds}",
        f"!dataset_title = {title}",
        f"!dataset_platform = {platform_id}",
        f"!dataset_sample_count = {len(samples)}",
        f"!dataset_value_count = {len(probes)}",
        "!dataset_value_type = count" if fmt == "%.2f" else "!dataset_value_type = transformed count",
        f"!dataset_update_date = {PUBLIC_DATE}",
    ]
    number = 0
    for kind in table.columns:
        for description, members in table.groupby(kind, sort=True).groups.items():
            if not description:
                continue
            number += 1
            lines += [
                f"^SUBSET = {gds}_{number}",
                f"!subset_dataset_id = {gds}",
                f"!subset_description = {description}",
                f"!subset_sample_id = {','.join(members)}",
                f"!subset_type = {kind}",
            ]
    lines.append(f"^DATASET = {gds}")
    lines += ["#ID_REF = Platform reference identifier", "#IDENTIFIER = identifier"]
    lines += [f"#{r.gsm} = Value for {r.gsm}: {r.title}; src: {r.source_name_ch1}" for r in samples.itertuples()]
    lines.append("!dataset_table_begin")
    lines.append("\t".join(["ID_REF", "IDENTIFIER", *samples.gsm]))
    lines += _value_rows([f"{p}\t{i}" for p, i in zip(probes, identifiers, strict=True)], values, fmt)
    lines.append("!dataset_table_end")
    return "\n".join(lines) + "\n"


def family_soft_text(
    gse: str, platform_id: str, title: str, samples: pd.DataFrame, probes: Sequence[str], values: np.ndarray, fmt: str
) -> str:
    """A GSE family SOFT file: ``^SERIES``, a ``^PLATFORM`` record and one ``^SAMPLE`` with its table per GSM.

    The platform's own table is left out (the cohort reads its platform from the platform file).
    """
    lines = [
        "^DATABASE = GeoMiame",
        "!Database_name = Gene Expression Omnibus (GEO)",
        f"^SERIES = {gse}",
        f"!Series_title = {title}",
        f"!Series_geo_accession = {gse}",
        f"!Series_status = Public on {PUBLIC_DATE}",
        f"!Series_platform_id = {platform_id}",
        *(f"!Series_sample_id = {gsm}" for gsm in samples.gsm),
        f"^PLATFORM = {platform_id}",
        f"!Platform_geo_accession = {platform_id}",
        "!Platform_organism = Homo sapiens",
    ]
    for k, row in enumerate(samples.itertuples()):
        lines += [
            f"^SAMPLE = {row.gsm}",
            f"!Sample_title = {row.title}",
            f"!Sample_geo_accession = {row.gsm}",
            f"!Sample_status = Public on {PUBLIC_DATE}",
            f"!Sample_source_name_ch1 = {row.source_name_ch1}",
            "!Sample_organism_ch1 = Homo sapiens",
            *(f"!Sample_characteristics_ch1 = {key}: {value}" for key, value in row.characteristics.items()),
            f"!Sample_platform_id = {platform_id}",
            f"!Sample_data_row_count = {len(probes)}",
            "#ID_REF = ",
            "#VALUE = normalized signal",
            "!sample_table_begin",
            "ID_REF\tVALUE",
            *_value_rows(probes, values[:, [k]], fmt),
            "!sample_table_end",
        ]
    return "\n".join(lines) + "\n"


def add_unpaired_normal(
    samples: pd.DataFrame, values: np.ndarray, patient_key: str, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """One more normal sample, of a patient with no tumor: a normal profile of another patient plus noise.

    Returns the samples, the values with its column appended and its GSM.
    """
    donor = int(np.flatnonzero(~samples.tumor.to_numpy())[0])
    last = max(int(g[3:]) for g in samples.gsm)
    gsm = f"GSM{last + 1}"
    row = samples.iloc[donor].copy()
    row["gsm"] = gsm
    row["pair"] = -1
    row["patient_id"] = f"{row.patient_id}X"
    row["characteristics"] = {**row.characteristics, patient_key: row["patient_id"]}
    column = values[:, [donor]] + rng.normal(0.0, 0.2, (values.shape[0], 1))
    return pd.concat([samples, row.to_frame().T], ignore_index=True), np.hstack([values, column]), gsm
