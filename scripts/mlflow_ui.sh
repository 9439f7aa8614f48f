#!/usr/bin/env bash
# Start the MLflow UI on the store pilotscope tracks into (the project's SQLite store, or
# MLFLOW_TRACKING_URI when that names a database).
#
#   ./scripts/mlflow_ui.sh [PORT]      port 5000 by default; then open http://localhost:PORT
#
# MLFLOW_UI_HOST chooses the interface (default 127.0.0.1; 0.0.0.0 inside a container whose port
# is published). PYTHON chooses the interpreter (default python3). Ctrl-C stops the UI.
set -euo pipefail

PORT="${1:-5000}"
HOST="${MLFLOW_UI_HOST:-127.0.0.1}"
PYTHON="${PYTHON:-python3}"
cd "$(dirname "$0")/.."

case "$PORT" in
    '' | *[!0-9]*) echo "usage: $0 [PORT]   (PORT is a number, default 5000)" >&2; exit 2 ;;
esac

STORE="$("$PYTHON" -m pilotscope.Common.tracking_store)"
ARTIFACT_ROOT="$("$PYTHON" -m pilotscope.Common.tracking_store --artifact-root)"
case "$STORE" in
    http://* | https://*)
        echo "MLFLOW_TRACKING_URI is the tracking server $STORE: its UI is already there." >&2
        exit 1 ;;
esac

if ! "$PYTHON" - "$HOST" "$PORT" <<'PY'
import socket, sys
with socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
    try:
        probe.bind((sys.argv[1], int(sys.argv[2])))
    except OSError:
        sys.exit(1)
PY
then
    echo "error: port $PORT on $HOST is already in use (another MLflow UI?). Choose another port: $0 $((PORT + 1))" >&2
    exit 1
fi

# The server's job runner serves GenAI features only; without it the UI starts in half the time.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
echo "MLflow UI for $STORE on http://$HOST:$PORT (Ctrl-C stops it)"
ARGS=(ui --backend-store-uri "$STORE" --host "$HOST" --port "$PORT" --workers 1)
if [ -n "$ARTIFACT_ROOT" ]; then
    ARGS+=(--default-artifact-root "$ARTIFACT_ROOT")
fi
exec "$PYTHON" -m mlflow "${ARGS[@]}"
