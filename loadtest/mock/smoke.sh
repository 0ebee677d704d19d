#!/usr/bin/env bash
# smoke.sh: hand check of augur-mock-upstream with curl (no test framework): endpoints, streaming,
# echo, control headers, the nvext check, every fault, TLS and clean shutdown. Prints one line per
# check and exits non-zero when any fails. Usage: smoke.sh [path/to/augur-mock-upstream]
# shellcheck disable=SC2317  # functions below are called indirectly (check, trap)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${1:-${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}}
[[ -x $BIN ]] || { echo "smoke: no binary at $BIN" >&2; exit 2; }
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

FAILED=0
check() {  # check NAME COMMAND...: passes when COMMAND succeeds
  local name=$1
  shift
  if "$@" >"$TMP/check.log" 2>&1; then
    echo "ok   $name"
  else
    echo "FAIL $name: $(head -c 300 "$TMP/check.log")"
    FAILED=1
  fi
}

start() {  # start OUTFILE ARGS...: starts the mock, sets PORT and PID
  local out=$1
  shift
  "$BIN" --listen 127.0.0.1:0 "$@" >"$out" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do grep -q '^listening on' "$out" && break; sleep 0.05; done
  PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
  [[ -n $PORT ]] || { echo "smoke: mock did not start: $(cat "$out")" >&2; exit 1; }
}

json() {  # json FILE PYTHON-EXPR: evaluates EXPR with d = the parsed body; fails when false
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

start "$TMP/mock.out"
U=http://127.0.0.1:$PORT
CHAT=$U/v1/chat/completions

curl -s "$CHAT" -H 'x-nat-run-id: r1' -H 'X-Dup: a' -H 'x-dup: b' \
  -d '{"model":"m \"q\"","messages":[{"role":"user","content":"hi"}],"max_tokens":3}' \
  -D "$TMP/h1" -o "$TMP/b1"
check "chat JSON shape" json "$TMP/b1" \
  'd["object"] == "chat.completion" and d["model"] == "m \"q\"" and d["choices"][0]["finish_reason"] == "length" and d["usage"]["completion_tokens"] == 3 and d["usage"]["total_tokens"] == d["usage"]["prompt_tokens"] + 3'
check "body echo" json "$TMP/b1" \
  'd["mock"]["request_headers"]["x-nat-run-id"] == "r1" and d["mock"]["request_headers"]["x-dup"] == "a, b" and json.loads(d["mock"]["request_body"])["max_tokens"] == 3 and d["mock"]["target"] == "/v1/chat/completions"'
check "header echo" bash -c "grep -i '^x-mock-request-headers: ' '$TMP/h1' | cut -d' ' -f2- | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"x-nat-run-id\"] == \"r1\"'"

curl -s "$U/v1/completions" -H 'x-mock-tokens: 4' -d '{"prompt":"x"}' -o "$TMP/b2"
check "legacy completions" json "$TMP/b2" \
  'd["object"] == "text_completion" and len(d["choices"][0]["text"].split()) == 4 and d["model"] == "mock-model"'

curl -sN "$CHAT" -H 'x-mock-tokens: 5' -d '{"stream":true,"stream_options":{"include_usage":true}}' \
  -D "$TMP/h3" -o "$TMP/b3"
check "stream events" bash -c "[[ \$(grep -c '^data: {' '$TMP/b3') == 7 && \$(tail -2 '$TMP/b3' | head -1) == 'data: [DONE]' ]]"
check "stream usage chunk" bash -c "grep '\"choices\":\[\]' '$TMP/b3' | grep -q '\"completion_tokens\":5'"
check "stream headers" bash -c "grep -qi '^content-type: text/event-stream' '$TMP/h3' && grep -qi '^transfer-encoding: chunked' '$TMP/h3'"
curl -sN "$CHAT" -H 'x-mock-tokens: 2' -d '{"stream":true}' -o "$TMP/b4"
check "no usage unless requested" bash -c "! grep -q '\"usage\"' '$TMP/b4'"

START=$(date +%s%N)
curl -sN "$CHAT" -H 'x-mock-tokens: 4' -H 'x-mock-chunk-delay-ms: 100' -H 'x-mock-latency-ms: 100' \
  -d '{"stream":true}' -o /dev/null
check "pacing (~400 ms)" test $((($(date +%s%N) - START) / 1000000)) -ge 390

check "models" bash -c "curl -s '$U/v1/models' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"data\"][0][\"id\"] == \"mock-model\"'"
check "healthz" bash -c "[[ \$(curl -s '$U/healthz') == '{\"status\":\"ok\"}' ]]"
check "404 envelope" bash -c "[[ \$(curl -s -o '$TMP/b5' -w '%{http_code}' '$U/v1/nope') == 404 ]] && python3 -c 'import json; e = json.load(open(\"$TMP/b5\"))[\"error\"]; assert set(e) == {\"message\", \"type\", \"param\", \"code\"}'"
check "x-mock-status" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'x-mock-status: 503' -d '{}' '$CHAT') == 503 ]]"
check "bad JSON is 400" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -d '{\"a\":' '$CHAT') == 400 ]]"
check "unknown fault is 400" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'x-mock-fault: nope' -d '{}' '$CHAT') == 400 ]]"
check "body size" bash -c "[[ \$(curl -s -H 'x-mock-body-size: 200000' -d '{}' '$CHAT' | wc -c) -ge 200000 ]]"
NAT='{"nvext":{"agent_hints":{"osl":512,"prefix_id":"r1"},"cache_control":{"type":"ephemeral"}}}'
curl -s "$CHAT" -d "$NAT" -w '%{http_code}' -o "$TMP/b6" >"$TMP/s6"
check "nvext Dynamo refuses is its 400" bash -c "[[ \$(cat '$TMP/s6') == 400 ]] && python3 -c 'import json; d = json.load(open(\"$TMP/b6\")); assert d[\"type\"] == \"Bad Request\" and d[\"code\"] == 400 and \"unknown field \`prefix_id\`\" in d[\"message\"]'"
check "nvext Dynamo takes" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -d '{\"nvext\":{\"agent_hints\":{\"osl\":512}}}' '$CHAT') == 200 ]]"
check "mock stats" bash -c "curl -s '$U/mock/stats' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"nvext_rejected\"] == 1'"
check "keep-alive reuse" bash -c "curl -s -D - -o /dev/null -o /dev/null -d '{}' '$CHAT' -d '{}' '$CHAT' | grep -qi '^x-mock-connection-requests: 2'"

# Faults, by curl's exit code: 56 = connection reset (recv failure), 52 = empty reply,
# 28 = timed out, 1 / 8 = not HTTP.
fault() {  # fault NAME EXPECTED_RC [extra curl args]
  local name=$1 want=$2
  shift 2
  curl -sN -m 2 "$CHAT" -H "x-mock-fault: $name" -H 'x-mock-tokens: 5' "$@" -o "$TMP/f.out"
  local rc=$?
  [[ " $want " == *" $rc "* ]] || { echo "curl rc $rc, want $want"; return 1; }
}
check "reset-before-headers" fault reset-before-headers 56 -d '{"stream":true}'
check "close-before-headers" fault close-before-headers 52 -d '{"stream":true}'
check "hang-before-headers" fault hang-before-headers 28 -d '{"stream":true}'
check "malformed" fault malformed "1 8" -d '{"stream":true}'
check "reset-mid-stream" bash -c "$(declare -f fault); CHAT=$CHAT TMP=$TMP; fault reset-mid-stream 56 -d '{\"stream\":true}' && [[ \$(grep -c '^data: ' $TMP/f.out) == 2 ]]"
check "hang-mid-stream" bash -c "$(declare -f fault); CHAT=$CHAT TMP=$TMP; fault hang-mid-stream 28 -d '{\"stream\":true}' -H 'x-mock-fault-after: 3' && [[ \$(grep -c '^data: ' $TMP/f.out) == 3 ]]"
check "reset mid-body (non-stream)" fault reset-mid-stream 56 -d '{}' -H 'x-mock-body-size: 100000'
check "close-after-response" bash -c "curl -sv -o /dev/null -o /dev/null -H 'x-mock-fault: close-after-response' -d '{}' '$CHAT' -d '{}' '$CHAT' 2>&1 | grep -i '^< x-mock-connection-requests' | sort | uniq -c | grep -q '2 < x-mock-connection-requests: 1'"

# A request hung inside the mock must not hold up shutdown.
curl -sN "$CHAT" -H 'x-mock-fault: hang-mid-stream' -d '{"stream":true}' -o /dev/null &
curl -s "$CHAT" -H 'x-mock-latency-ms: 60000' -d '{}' -o /dev/null &
sleep 0.3
kill -TERM "$PID"
START=$(date +%s%N)
wait "$PID"
RC=$?
check "SIGTERM exits 0 promptly with hung requests" test "$RC" = 0 -a $((($(date +%s%N) - START) / 1000000)) -lt 1000
wait

if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/k.pem" -out "$TMP/c.pem" -days 1 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
  start "$TMP/tls.out" --tls-cert "$TMP/c.pem" --tls-key "$TMP/k.pem"
  check "TLS stream" bash -c "[[ \$(curl -sN --cacert '$TMP/c.pem' -H 'x-mock-tokens: 3' -d '{\"stream\":true}' https://127.0.0.1:$PORT/v1/chat/completions | grep -c '^data: ') == 5 ]]"
fi

exit $FAILED
