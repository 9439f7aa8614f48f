#!/bin/sh
# Refuses to start the shared server (docker-compose.yml) with placeholder or weak secrets.
#
#   check_secrets.sh [VARIABLE ...]   exit 0 when every variable is usable, else 1 after naming each problem
#   check_secrets.sh --needs-login    exit 0 when the ports are published beyond loopback
#
# Run by the one-shot compose service `check-secrets`, which every other service waits for, so a
# placeholder stops `docker compose up` before a database is initialised with it; and by
# docker/mlflow/start.sh, which asks --needs-login and then checks the MLflow admin's login.
# Without arguments it checks the compose file's secrets and, when PILOTSCOPE_BIND_ADDRESS is beyond
# loopback (where MLflow asks everyone to log in), the admin's. A *_PASSWORD must have at least 12
# characters; every value must be set, letters and digits only (they go into connection URIs), and
# not docker/env.example's `change-me-...` placeholder. A value is never printed.
set -u
LC_ALL=C  # [A-Za-z0-9] are the ASCII letters and digits
export LC_ALL
MIN_PASSWORD_LENGTH=12

needs_login() {
    case "${PILOTSCOPE_BIND_ADDRESS:-127.0.0.1}" in
        127.*|::1|"[::1]"|localhost) return 1 ;;
    esac
    return 0
}

problems=0

refuse() {  # $1 variable, $2 what is wrong with it (never its value)
    case "$1" in
        *_PASSWORD) fix="a new password of at least $MIN_PASSWORD_LENGTH letters and digits, e.g. from \`openssl rand -hex 16\`" ;;
        *) fix="a name of letters and digits" ;;
    esac
    echo "refused: $1 $2. Fix: set it in .env to $fix (see docker/env.example)." >&2
    problems=$((problems + 1))
}

check() {  # $1 the name of a variable
    case "$1" in
        ""|[0-9]*|*[!A-Za-z0-9_]*) echo "check_secrets.sh: not a variable name: $1" >&2; exit 2 ;;
    esac
    eval "value=\${$1-}"
    case "$1" in
        *_PASSWORD) min=$MIN_PASSWORD_LENGTH ;;
        *) min=1 ;;
    esac
    case "$value" in
        "") refuse "$1" "is not set" ;;
        *[Cc][Hh][Aa][Nn][Gg][Ee]-[Mm][Ee]*|*[Cc][Hh][Aa][Nn][Gg][Ee][Mm][Ee]*)
            refuse "$1" "is still the placeholder of docker/env.example" ;;
        *[!A-Za-z0-9]*) refuse "$1" "has characters other than letters and digits (it goes into URIs)" ;;
        *) [ "${#value}" -ge "$min" ] || refuse "$1" "is shorter than $min characters" ;;
    esac
}

if [ "${1-}" = --needs-login ]; then
    needs_login
    exit
fi
if [ "$#" -eq 0 ]; then
    set -- POSTGRES_PASSWORD MLFLOW_DB_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD
    if needs_login; then
        set -- "$@" MLFLOW_ADMIN_USERNAME MLFLOW_ADMIN_PASSWORD
    fi
fi
for variable in "$@"; do
    check "$variable"
done
if [ "$problems" -gt 0 ]; then
    echo "refused: fix the $problems setting(s) above, then run docker compose up -d again." >&2
    exit 1
fi
