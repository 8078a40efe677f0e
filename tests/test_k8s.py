"""Kubernetes without a cluster: the step Job dagster-k8s would create, and the Helm values that feed it.

``step_pod_spec`` renders a step's Job with dagster-k8s's own builders from the real asset definitions,
so these tests see what a GPU training's pod asks the scheduler for (``nvidia.com/gpu``), which image
it runs, its environment and the shared home volume. The values test reads ``docker/k8s-values.yaml``
as Helm would hand it to the chart and fails if the chart settings and ``l1k_jobs/k8s.py`` drift apart.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from l1k_jobs.definitions import ALL_ASSETS
from l1k_jobs.k8s import IMAGE_ENV, K8S_DAGSTER_HOME, K8S_POSTGRES_SECRET, k8s_executor, step_pod_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VALUES = PROJECT_ROOT / "docker" / "k8s-values.yaml"
DOCKER_INSTANCE = PROJECT_ROOT / "docker" / "dagster.yaml"
GPU_ASSET = "model_expression_inference"
CPU_ASSET = "core_geo_expression"
ENV = {
    "L1K_EXECUTOR": "k8s",
    "L1K_K8S_IMAGE": "registry.example/l1k:1.2.3",
    "L1K_HOME": "/data/l1k",
    "L1K_MLFLOW_URI": "http://mlflow:5000",
    "L1K_SEED": "7",
    "L1K_SCALE": "",  # empty means unset: not forwarded
    "PATH": "/usr/bin",  # not an l1k setting: not forwarded
}


def _container(job: dict[str, Any]) -> dict[str, Any]:
    """The Dagster container of a step Job (dagster-k8s puts exactly one in the pod)."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    """The container's explicit environment: name to value (or to its valueFrom)."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def _env_from(container: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Names of the ConfigMaps and Secrets the container takes its whole environment from."""
    sources = container["envFrom"]
    return (
        [source["configMapRef"]["name"] for source in sources if "configMapRef" in source],
        [source["secretRef"]["name"] for source in sources if "secretRef" in source],
    )


def _mounted_claims(job: dict[str, Any]) -> dict[str, str]:
    """Mount path to PersistentVolumeClaim name, joining the container's mounts with the pod's volumes."""
    pod = job["spec"]["template"]["spec"]
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in pod["volumes"]}
    return {mount["mountPath"]: claims[mount["name"]] for mount in _container(job)["volumeMounts"]}


def test_gpu_step_pod_requests_the_gpu_runs_the_image_and_mounts_the_home():
    job = step_pod_spec(GPU_ASSET, ENV, ALL_ASSETS)
    container = _container(job)

    assert job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "default"
    assert job["spec"]["template"]["metadata"]["labels"]["dagster/op"] == GPU_ASSET
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["image"] == "registry.example/l1k:1.2.3"

    env = _env(container)
    assert env["L1K_HOME"] == "/data/l1k"
    assert env["L1K_MLFLOW_URI"] == "http://mlflow:5000"
    assert env["L1K_SEED"] == "7"
    # The step pod loads the same definitions, so it needs the executor settings too.
    assert env["L1K_EXECUTOR"] == "k8s"
    assert env[IMAGE_ENV] == "registry.example/l1k:1.2.3"
    assert "L1K_SCALE" not in env and "PATH" not in env
    assert env["DAGSTER_HOME"] == K8S_DAGSTER_HOME
    assert env["DAGSTER_PG_PASSWORD"] == {"secretKeyRef": {"key": "postgresql-password", "name": K8S_POSTGRES_SECRET}}
    assert _env_from(container) == (["l1k-env"], ["l1k-secrets"])

    assert _mounted_claims(job) == {"/data/l1k": "l1k-home"}


def test_settings_change_the_pod_and_cpu_steps_ask_for_no_gpu():
    env = ENV | {
        "L1K_HOME": "/mnt/home",
        "L1K_K8S_NAMESPACE": "science",
        "L1K_K8S_HOME_CLAIM": "shared",
        "L1K_K8S_ENV_CONFIG_MAP": "cm",
        "L1K_K8S_ENV_SECRET": "sec",
    }
    job = step_pod_spec(CPU_ASSET, env, ALL_ASSETS)
    container = _container(job)

    assert "nvidia.com/gpu" not in str(container.get("resources"))
    assert job["metadata"]["namespace"] == "science"
    assert _mounted_claims(job) == {"/mnt/home": "shared"}
    assert _env(container)["L1K_HOME"] == "/mnt/home"
    assert _env_from(container) == (["cm"], ["sec"])
    with pytest.raises(KeyError, match="no_such_asset"):
        step_pod_spec("no_such_asset", env, ALL_ASSETS)


def test_helm_values_and_the_executor_agree():
    values = yaml.safe_load(VALUES.read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    code_server_env = {item["name"]: item["value"] for item in deployment["env"]}
    assert code_server_env["L1K_EXECUTOR"] == "k8s"

    # What the code server's environment makes the executor do, rendered for a GPU step...
    job = step_pod_spec(GPU_ASSET, code_server_env, ALL_ASSETS)
    container = _container(job)
    env = _env(container)
    # ...is what the chart gives run pods: the same image, namespace, home volume and environment sources.
    assert container["image"] == image
    assert job["metadata"]["namespace"] == launcher["jobNamespace"]
    launcher_claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in launcher["volumes"]}
    assert _mounted_claims(job) == {m["mountPath"]: launcher_claims[m["name"]] for m in launcher["volumeMounts"]}
    assert _mounted_claims(job) == {env["L1K_HOME"]: "l1k-home"}
    assert _env_from(container) == ([m["name"] for m in launcher["envConfigMaps"]], [s["name"] for s in launcher["envSecrets"]])
    assert (deployment["volumes"], deployment["volumeMounts"]) == (launcher["volumes"], launcher["volumeMounts"])
    assert (deployment["envConfigMaps"], deployment["envSecrets"]) == (launcher["envConfigMaps"], launcher["envSecrets"])
    assert env["DAGSTER_HOME"] == values["global"]["dagsterHome"]
    assert env["DAGSTER_PG_PASSWORD"]["secretKeyRef"]["name"] == values["global"]["postgresqlSecretName"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"

    # The run queue limits are docker/dagster.yaml's, in the chart's camelCase.
    runs = yaml.safe_load(DOCKER_INSTANCE.read_text())["concurrency"]["runs"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["concurrency"]["enabled"] is True
    assert values["concurrency"]["runs"] == {
        "maxConcurrentRuns": runs["max_concurrent_runs"],
        "tagConcurrencyLimits": runs["tag_concurrency_limits"],
    }
    assert {"key": "l1k/gpu", "limit": 1} in values["concurrency"]["runs"]["tagConcurrencyLimits"]


@pytest.mark.parametrize("image", [None, "", "  "])
def test_executor_needs_an_image(image):
    env = {"L1K_HOME": "/data/l1k"} if image is None else {IMAGE_ENV: image}
    with pytest.raises(ValueError, match=IMAGE_ENV):
        k8s_executor(env)
