#!/bin/sh
# First start only: the role of the MLflow tracking server, the database of its backend store, and
# mlflow_auth, where its basic-auth app keeps users and permissions (docker/mlflow/start.sh).
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v password="$MLFLOW_DB_PASSWORD" <<'SQL'
-- should a statement fail, the server would log it, password and all: not in this session
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
CREATE ROLE mlflow LOGIN PASSWORD :'password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
SQL
