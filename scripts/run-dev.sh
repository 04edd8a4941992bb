#!/usr/bin/env bash
# `make run`: the demo key, a Celery worker in the background, and the development server.
set -euo pipefail
: "${BIN:=.venv/bin}" "${HOST:=127.0.0.1}" "${PORT:=8000}"
export DEBUG="${DEBUG:-1}"

key=$("$BIN/python" manage.py seed_demo 2>/dev/null)
cat <<MSG

  Orca is starting on http://$HOST:$PORT  (admin: /admin/, API: /v1)

  Demo API key:  $key

  Try it:
    curl http://$HOST:$PORT/v1/chat/completions \\
      -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
      -d '{"model": "orca/demo", "messages": [{"role": "user", "content": "Hello"}]}'

MSG

"$BIN/celery" -A orca worker --loglevel INFO --concurrency 1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT INT TERM
"$BIN/python" manage.py runserver "$HOST:$PORT" --noreload
