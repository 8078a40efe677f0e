"""Partitions and op tags shared by several asset modules, in one place that imports nothing else of l1k.

Keys of static partitions are the names assets look up (model kinds, selectors, split schemes),
so they are spelled once here; a test checks them against the domain code that implements them.
Cohort and single-cell dataset partitions come from their catalogs and stay with those assets.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

release_partitions = dg.DynamicPartitionsDefinition(name="lincs_release")  # GSE92742, GSE70138, LINCS2020, ...
model_partitions = dg.StaticPartitionsDefinition(["lr", "knn", "mlp", "gnn", "dnn"])
selection_partitions = dg.StaticPartitionsDefinition(["lasso", "greedy", "group_lasso", "random"])
scheme_partitions = dg.StaticPartitionsDefinition(["mixed", "cell_blind", "drug_blind", "disjoint"])

# GPU-bound training assets carry these op tags and pool so that one GPU is never shared by two
# trainings (Dagster's concurrency pool, limit 1) and dagster-k8s schedules their pods on a GPU node.
GPU_POOL = "gpu"
GPU_TAGS: dict[str, Any] = {
    "l1k/gpu": "1",
    # The pre-pool spelling of the same limit; Dagster requires it to equal the pool name.
    "dagster/concurrency_key": GPU_POOL,
    # dagster-k8s reads this tag (JSON-encoded by Dagster) into the step pod's container spec.
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                "limits": {"nvidia.com/gpu": "1"},
            }
        }
    },
}
