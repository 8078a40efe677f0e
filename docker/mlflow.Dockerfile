# MLflow tracking server of the Docker stack: runs and metrics in PostgreSQL (database `mlflow`,
# beside Dagster's), artifacts (figures, tables, checkpoint manifests) proxied by the server into a
# volume, so clients need only HTTP access. Same MLflow version as the l1k environment.
# The store URI, artifact folder and allowed Host headers come from MLFLOW_BACKEND_STORE_URI,
# MLFLOW_ARTIFACTS_DESTINATION and MLFLOW_SERVER_ALLOWED_HOSTS (set in docker-compose.yml).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 MLFLOW_ARTIFACTS_DESTINATION=/var/lib/mlflow/artifacts
RUN pip install "mlflow==3.17.2" "psycopg2-binary>=2.9" \
    && useradd --system --uid 1000 --home-dir /var/lib/mlflow mlflow \
    && mkdir -p "$MLFLOW_ARTIFACTS_DESTINATION" \
    && chown -R mlflow /var/lib/mlflow
USER mlflow
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
