"""Kubernetes: every step in its own pod, configured from environment variables like the other executors.

``k8s_executor(env)`` is what ``L1K_EXECUTOR=k8s`` selects: dagster-k8s's ``k8s_job_executor`` with the
image, namespace, shared l1k home and environment read from ``L1K_K8S_*`` variables when the definitions
load, so the same image runs on a laptop and on a cluster without a code change. The Helm values in
``docker/k8s-values.yaml`` create the PostgreSQL-backed instance, the ``K8sRunLauncher`` and the code
server that sets these variables; ``tests/test_k8s.py`` keeps the two in step.

``step_pod_spec`` renders, without a cluster, the Kubernetes Job that the executor would create for the
step of one asset, with dagster-k8s's own builders and the asset's real op tags. It is how one checks
that a GPU asset's pod asks for ``nvidia.com/gpu``, runs the right image and mounts the shared home,
before any cluster exists.

dagster-k8s is an optional extra (``pip install -e '.[k8s]'``) and loads only when Kubernetes is chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import dagster as dg

from resources.home import HOME_ENV

IMAGE_ENV = "L1K_K8S_IMAGE"
NAMESPACE_ENV = "L1K_K8S_NAMESPACE"
HOME_CLAIM_ENV = "L1K_K8S_HOME_CLAIM"
ENV_CONFIG_MAP_ENV = "L1K_K8S_ENV_CONFIG_MAP"
ENV_SECRET_ENV = "L1K_K8S_ENV_SECRET"
DEFAULT_NAMESPACE = "default"
DEFAULT_HOME_CLAIM = "l1k-home"
DEFAULT_HOME = "/data/l1k"
DEFAULT_ENV_CONFIG_MAP = "l1k-env"
DEFAULT_ENV_SECRET = "l1k-secrets"
# The pod-level name of the shared-home volume; only the claim behind it is a deployment choice.
HOME_VOLUME = "l1k-home"
# What the Helm chart's K8sRunLauncher hands every run and step pod, as docker/k8s-values.yaml sets it:
# DAGSTER_HOME (``global.dagsterHome``, the image's own DAGSTER_HOME, see docker/Dockerfile) and the
# Secret whose ``postgresql-password`` key becomes DAGSTER_PG_PASSWORD (``global.postgresqlSecretName``).
K8S_DAGSTER_HOME = "/opt/dagster/home"
K8S_POSTGRES_SECRET = "dagster-postgresql-secret"
# A run id for rendering only: step Job names are derived from the run id and the step key.
RENDER_RUN_ID = "00000000-0000-0000-0000-000000000000"
INSTALL_HINT = "pip install -e '.[k8s]'"


def _setting(env: Mapping[str, str], name: str, default: str = "") -> str:
    """A variable's value; empty counts as unset, as an empty ``export`` usually means "default"."""
    return env.get(name, "").strip() or default


def _dagster_k8s() -> ModuleType:
    """dagster-k8s, or a ValueError that says how to install it (it is an optional extra)."""
    try:
        import dagster_k8s
    except ImportError as error:
        raise ValueError(f"the k8s executor needs dagster-k8s, which is not installed: {INSTALL_HINT}") from error
    return dagster_k8s


def _forwarded_env(env: Mapping[str, str], home: str) -> list[str]:
    """Every non-empty ``L1K_*`` setting as ``NAME=value``, with ``L1K_HOME`` at the mount path.

    A step pod loads the same definitions as the code server, so it needs the same settings (mode,
    scale, seed, MLflow URI, base URLs, and ``L1K_EXECUTOR``/``L1K_K8S_*`` themselves, or loading the
    definitions in the pod would fail). These values are written into the Job manifest in clear text:
    secrets belong in the Secret named by ``L1K_K8S_ENV_SECRET``, not in ``L1K_*`` variables.
    """
    settings = {name: value.strip() for name, value in env.items() if name.startswith("L1K_") and value.strip()}
    settings[HOME_ENV] = home
    return [f"{name}={value}" for name, value in sorted(settings.items())]


def k8s_executor_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``k8s_job_executor`` config from ``L1K_K8S_*`` variables: image, namespace, home volume, environment.

    ``L1K_K8S_IMAGE`` is required: without it dagster-k8s falls back to the code location's image,
    which is unset outside the Helm chart's user deployments, and the run fails only when the first
    step launches. The shared l1k home is the PersistentVolumeClaim ``L1K_K8S_HOME_CLAIM`` (default
    ``l1k-home``) mounted at ``L1K_HOME`` (default ``/data/l1k``), because steps read the Parquet files
    earlier steps wrote. The ConfigMap ``L1K_K8S_ENV_CONFIG_MAP`` and Secret ``L1K_K8S_ENV_SECRET``
    (defaults ``l1k-env``, ``l1k-secrets``) provide the rest of the environment.
    """
    image = _setting(env, IMAGE_ENV)
    if not image:
        raise ValueError(f"{IMAGE_ENV} must name the l1k image the step pods run (e.g. registry.example/l1k:1.2.3); it is unset")
    home = _setting(env, HOME_ENV, DEFAULT_HOME)
    claim = _setting(env, HOME_CLAIM_ENV, DEFAULT_HOME_CLAIM)
    return {
        "job_image": image,
        "job_namespace": _setting(env, NAMESPACE_ENV, DEFAULT_NAMESPACE),
        "env_config_maps": [_setting(env, ENV_CONFIG_MAP_ENV, DEFAULT_ENV_CONFIG_MAP)],
        "env_secrets": [_setting(env, ENV_SECRET_ENV, DEFAULT_ENV_SECRET)],
        "env_vars": _forwarded_env(env, home),
        "volumes": [{"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": claim}}],
        "volume_mounts": [{"name": HOME_VOLUME, "mountPath": home}],
    }


def k8s_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    """dagster-k8s's ``k8s_job_executor``, configured from ``env`` (see ``k8s_executor_config``).

    Each step becomes a Kubernetes Job; a step's pod takes its resources from the ``dagster-k8s/config``
    op tag, so GPU assets (``l1k_assets.partitions.GPU_TAGS``) land on a node with ``nvidia.com/gpu``.
    The executor needs the instance's run launcher to be dagster-k8s's ``K8sRunLauncher``: step pods
    take DAGSTER_HOME and the PostgreSQL password Secret from it.
    """
    config = k8s_executor_config(env)
    return _dagster_k8s().k8s_job_executor.configured(config)


def _op_tags(asset_key: str, assets: Iterable[object]) -> tuple[str, Mapping[str, str]]:
    """The step key (the op's name) and op tags of the asset, as Dagster stores them (JSON-encoded dicts)."""
    key = dg.AssetKey.from_user_string(asset_key)
    for assets_def in assets:
        if isinstance(assets_def, dg.AssetsDefinition) and key in assets_def.keys:
            return assets_def.op.name, assets_def.op.tags
    raise KeyError(f"no asset {asset_key!r} among the given asset definitions")


def step_pod_spec(asset_key: str, env: Mapping[str, str], assets: Iterable[object]) -> dict[str, Any]:
    """The Kubernetes Job (a plain dict, as ``kubectl`` shows it) the k8s executor would create for the asset's step.

    Built without a cluster by the same dagster-k8s pieces the executor's step handler uses: the
    executor config (resolved by Dagster, defaults included) as a ``K8sContainerContext``, merged with
    the ``dagster-k8s/config`` op tag of the real asset definition in ``assets`` (pass
    ``l1k_jobs.definitions.ALL_ASSETS``; this module does not import the definitions, which import the
    executors), then ``construct_dagster_k8s_job``. What the run launcher adds is taken as
    docker/k8s-values.yaml sets it (``K8S_DAGSTER_HOME``, or DAGSTER_HOME from ``env``; ``K8S_POSTGRES_SECRET``).
    Left out, because they exist only inside a run: the container's ``args`` (``dagster api
    execute_step`` with the serialized step) and the environment variables carrying them.
    """
    _dagster_k8s()
    import kubernetes.client
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
        get_k8s_job_name,
        get_user_defined_k8s_config,
    )

    resolved = k8s_executor(env).config_schema.resolve_config({})
    if not resolved.success:
        raise ValueError(f"k8s executor config does not validate: {resolved.errors}")
    config = resolved.value["config"]
    step_key, tags = _op_tags(asset_key, assets)
    # The executor config keys that name container-context fields; the executor maps the other two itself.
    shared = ("image_pull_policy", "image_pull_secrets", "service_account_name", "env_config_maps", "env_secrets", "env_vars")
    shared += ("volume_mounts", "volumes", "labels", "resources", "scheduler_name", "security_context")
    context = K8sContainerContext(
        **{name: config[name] for name in shared if name in config},
        namespace=config.get("job_namespace"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("step_k8s_config", {})),
    ).merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags)))
    job_config = DagsterK8sJobConfig(
        job_image=config["job_image"],
        dagster_home=_setting(env, "DAGSTER_HOME", K8S_DAGSTER_HOME),
        postgres_password_secret=K8S_POSTGRES_SECRET,
    )
    job_name = f"dagster-step-{get_k8s_job_name(RENDER_RUN_ID, step_key)}"
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=None,
        job_name=job_name,
        pod_name=job_name,
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": step_key, "dagster/run-id": RENDER_RUN_ID},
        env_vars=[{"name": "DAGSTER_RUN_STEP_KEY", "value": step_key}],
    )
    with kubernetes.client.ApiClient() as api:
        manifest: dict[str, Any] = api.sanitize_for_serialization(job)
    # The executor passes the namespace to the create call; in the manifest it makes the Job apply-able as is.
    manifest["metadata"]["namespace"] = context.namespace
    return manifest
