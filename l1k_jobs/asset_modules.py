"""Every asset of l1k, loaded from the domain packages' ``assets.py`` modules (and the operations assets)."""

from __future__ import annotations

import dagster as dg

from l1k_assets.genesets import assets as geneset_assets
from l1k_assets.geo import assets as geo_assets
from l1k_assets.indication import assets as indication_assets
from l1k_assets.inference import assets as inference_assets
from l1k_assets.lincs import assets as lincs_assets
from l1k_assets.response import assets as response_assets
from l1k_assets.search import assets as search_assets
from l1k_assets.singlecell import assets as singlecell_assets
from l1k_jobs import ops_assets

DOMAIN_MODULES = [
    geo_assets,
    lincs_assets,
    inference_assets,
    singlecell_assets,
    response_assets,
    geneset_assets,
    indication_assets,
    search_assets,
    ops_assets,
]
ALL_ASSETS = dg.load_assets_from_modules(DOMAIN_MODULES)
