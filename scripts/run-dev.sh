#!/usr/bin/env bash
# `make run`: the demo key and login, a Celery worker with beat in the background (so usage
# rollups and the other periodic tasks run), and the development server.
set -euo pipefail
: "${BIN:=.venv/bin}" "${HOST:=127.0.0.1}" "${PORT:=8000}"
export DEBUG="${DEBUG:-1}"
export ORCA_ROLLUP_SECONDS="${ORCA_ROLLUP_SECONDS:-60}"  # charts fill within a minute

# seed_demo prints three lines: the demo key, the owner's user name and password.
{ read -r key; read -r user; read -r password; } < <("$BIN/python" manage.py seed_demo 2>/dev/null)
cat <<MSG

  Orca is starting on http://$HOST:$PORT  (admin: /admin/, API: /v1)

  Demo API key:  $key
  Demo login:    $user / $password   (http://$HOST:$PORT/accounts/login/, owner of the demo workspace)

  Try it:
    curl http://$HOST:$PORT/v1/chat/completions \\
      -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
      -d '{"model": "orca/demo", "messages": [{"role": "user", "content": "Hello"}]}'

MSG

var="${ORCA_VAR_DIR:-var}"
mkdir -p "$var"
# Beat inside the worker (one process for development): its schedule file lives in var/.
"$BIN/celery" -A orca worker --beat --schedule "$var/celerybeat-schedule" \
  --loglevel INFO --concurrency 1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT INT TERM
"$BIN/python" manage.py runserver "$HOST:$PORT" --noreload
