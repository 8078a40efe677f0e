"""The domain assets of l1k, loaded from each domain package's ``assets.py``.

The operations assets (``ops_assets``) audit these, so they import this module and are added
to the full list in ``definitions``; keeping them out of here keeps the import graph acyclic.
"""

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

DOMAIN_MODULES = [
    geo_assets,
    lincs_assets,
    inference_assets,
    singlecell_assets,
    response_assets,
    geneset_assets,
    indication_assets,
    search_assets,
]
DOMAIN_ASSETS = dg.load_assets_from_modules(DOMAIN_MODULES)
