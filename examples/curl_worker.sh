#!/bin/sh
# A worker in plain shell + curl + jq, showing the raw HTTP protocol, one task at a time:
#   claim -> progress -> complete, polling when there is nothing to do.
# Reads TASKMANAGER_URL (default http://127.0.0.1:8000), TASKMANAGER_API_KEY (a worker key
# when auth is on), TYPE_PATTERN (default Example.Shell.%) and MAX_RUNS (0: run until Ctrl-C).
set -eu

URL=${TASKMANAGER_URL:-http://127.0.0.1:8000}
PATTERN=${TYPE_PATTERN:-Example.Shell.%}
WORKER_ID=${WORKER_ID:-shell-$(hostname)-$$}
MAX_RUNS=${MAX_RUNS:-0}
runs=0

post() {  # POST the JSON $2 to the path $1; sets $body and $status (000: no answer)
    out=$(curl -sS -X POST "$URL$1" -H 'Content-Type: application/json' \
          -H "X-API-Key: ${TASKMANAGER_API_KEY:-}" -d "$2" -w '\n%{http_code}') || out='
000'
    status=$(printf '%s\n' "$out" | tail -n 1)
    body=$(printf '%s\n' "$out" | sed '$d')
}

while [ "$MAX_RUNS" -eq 0 ] || [ "$runs" -lt "$MAX_RUNS" ]; do
    # 1. claim: 200 with the task and a lease, or 204 when nothing is claimable
    post /api/tasks/claim "{\"worker_id\": \"$WORKER_ID\", \"type_pattern\": \"$PATTERN\"}"
    if [ "$status" = 204 ]; then sleep 1; continue; fi
    if [ "$status" != 200 ]; then echo "claim: HTTP $status $body" >&2; sleep 2; continue; fi
    id=$(printf '%s' "$body" | jq -r '.data.id')
    params=$(printf '%s' "$body" | jq -c '.data.params')
    echo "claimed task $id: $params"

    # 2. progress 0..100 (extends the lease; the answer says whether to cancel)
    cancelled=false
    for percent in 25 50 75; do
        post "/api/tasks/$id/progress" "{\"worker_id\": \"$WORKER_ID\", \"progress\": $percent,
              \"step\": \"echo\", \"message\": \"$percent% echoed\"}"
        if [ "$(printf '%s' "$body" | jq -r '.data.cancel_requested')" = true ]; then
            cancelled=true; break
        fi
        sleep 0.2
    done

    # 3. the outcome: success with a result, or success false with error and error_code
    if [ "$cancelled" = true ]; then
        outcome='"success": false, "error": "cancelled", "error_code": "CANCELLED"'
    else
        outcome="\"success\": true, \"result\": {\"echo\": $params}"
    fi
    post "/api/tasks/$id/complete" "{\"worker_id\": \"$WORKER_ID\", $outcome}"
    echo "task $id: HTTP $status $(printf '%s' "$body" | jq -c '.data')"
    runs=$((runs + 1))
done
