#!/bin/sh
# First start only: the database and role of the MLflow tracking server's backend store.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v password="$MLFLOW_DB_PASSWORD" <<'SQL'
-- should a statement fail, the server would log it, password and all: not in this session
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
CREATE ROLE mlflow LOGIN PASSWORD :'password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
