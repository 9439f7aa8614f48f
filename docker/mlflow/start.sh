#!/bin/sh
# The MLflow tracking server of docker-compose.yml (the image's entrypoint); arguments go to `mlflow server`.
#
# Published on loopback only (PILOTSCOPE_BIND_ADDRESS, default 127.0.0.1) it needs no login, like a
# local `mlflow ui`. Published beyond, anyone who reaches the port could read and change every run,
# so it runs MLflow's basic-auth app: every request but /health needs a user's login
# (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD for clients; the browser asks for it).
# - The admin MLFLOW_ADMIN_USERNAME is created with MLFLOW_ADMIN_PASSWORD at the first start; later
#   the password is ignored (an admin changes it through MLflow's API) and the admin creates users.
# - Users and permissions are kept in the database MLFLOW_AUTH_DATABASE_URI.
# - default_permission EDIT: a logged-in user reads every experiment and adds runs to it (the team
#   shares experiments such as mscn_stats_tiny); deleting is for an experiment's creator and admins.
# - A checked login is cached for 60 s: a tracked run makes a request per epoch, and checking the
#   password hash on each costs 0.2-1 s. A changed or deleted password stops working within a minute.
# The auth configuration is written to a private temporary folder (the URI may hold a password);
# nothing here prints a secret.
set -eu

if ! check_secrets.sh --needs-login; then
    exec mlflow server "$@"
fi
check_secrets.sh MLFLOW_ADMIN_USERNAME MLFLOW_ADMIN_PASSWORD
: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI to the database of MLflow users and permissions}"
case "$MLFLOW_AUTH_DATABASE_URI" in
    *"
"*) echo "MLFLOW_AUTH_DATABASE_URI holds a line break: set it to one database URI" >&2; exit 1 ;;
esac

config="$(mktemp -d)/basic_auth.ini"
# configparser reads % as the start of an interpolation: a percent-encoded URI needs it doubled
database_uri=$(printf '%s' "$MLFLOW_AUTH_DATABASE_URI" | sed 's/%/%%/g')
cat > "$config" <<EOF
[mlflow]
default_permission = EDIT
database_uri = $database_uri
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
EOF
export MLFLOW_AUTH_CONFIG_PATH="$config"
export MLFLOW_AUTH_ADMIN_USERNAME="$MLFLOW_ADMIN_USERNAME" MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD"
# The sign-up form's CSRF protection needs a key all workers share: one per container start.
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:=$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
export MLFLOW_FLASK_SERVER_SECRET_KEY
exec mlflow server --app-name basic-auth "$@"
