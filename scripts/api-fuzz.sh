#!/usr/bin/env bash
# Fuzzes the HTTP API from outside with schemathesis, driven by the server's own
# `GET /openapi.json`: `scripts/api-fuzz.sh [extra schemathesis run options...]`.
#
# Starts `ledger serve` on a free loopback port against a fresh private PostgreSQL cluster,
# gives schemathesis a credential for every security scheme the document declares (a bearer
# token with every scope, a 1C store key, a Mini App session, the bot webhook's secret; Payme's
# Basic auth travels as an ordinary header, because Payme answers its own auth errors inside
# JSON-RPC), runs every check for a bounded time, and stops the server by its PID.
#
# Settings: LEDGER_API_FUZZ_SECONDS (time budget of the run, default 150),
# LEDGER_API_FUZZ_SEED (schemathesis seed; printed either way so a failure can be replayed).
# schemathesis is installed from PyPI into target/api-fuzz/venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-system-packages.sh --api-fuzz

work="$PWD/target/api-fuzz"
mkdir -p "$work"
: >"$work/server.log"
venv="$work/venv"
schemathesis_version="4.32.5"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    echo "api-fuzz: installing schemathesis $schemathesis_version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi

# As root, PostgreSQL runs as `postgres`, which must be able to enter the data folder (same
# rule as scripts/test.sh).
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
    data_dir="/var/tmp/ledger-api-fuzz-$(printf '%s' "$PWD" | sha256sum | cut -c1-12)"
else
    data_dir="$PWD/.ledger-api-fuzz"
fi
# schemathesis keeps the failing cases it found in ./.schemathesis (ignored by git).

cargo build --quiet --bin ledger
ledger="$PWD/target/debug/ledger"

server_pid=""
rates_pid=""
cleanup() {
    for pid in "$server_pid" "$rates_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            wait "$pid" 2>/dev/null || true
        fi
    done
    "$ledger" embedded-pg stop --data-dir "$data_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# A fresh cluster every run: the fuzzer's writes from an earlier run never shape this one.
"$ledger" embedded-pg stop --data-dir "$data_dir" >/dev/null 2>&1 || true
rm -rf "$data_dir"
DATABASE_URL="$("$ledger" embedded-pg start --data-dir "$data_dir" --fast 2>"$work/embedded-pg.log" | tail -n 1)"
export DATABASE_URL
"$ledger" migrate 2>>"$work/server.log"

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
admin_token="$(random_hex 24)"
payme_key="$(random_hex 16)"
bot_token="123456:$(random_hex 16)"
webhook_secret="$(random_hex 16)"
api_token="$("$ledger" keys create-token --name api-fuzz \
    --scope orders:write --scope orders:read --scope cashback:read --scope reports:read \
    --scope admin 2>>"$work/server.log" | tail -n 1)"
store_key="$("$ledger" keys create-store --store api-fuzz --currency UZS \
    --timezone Asia/Tashkent 2>>"$work/server.log" | tail -n 1)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
# The exchange-rate source is played by a static file on loopback (USD and EUR orders need a
# rate); the Telegram Bot API points at a closed local port. The fuzzer never reaches the
# internet, and a Bot API failure is an answer the document describes (502).
mkdir -p "$work/rates"
printf '%s\n' '[{"Ccy":"USD","Nominal":"1","Rate":"12650.45","Date":"01.12.2026"},{"Ccy":"EUR","Nominal":"1","Rate":"13420.10","Date":"01.12.2026"}]' \
    >"$work/rates/rates.json"
rates_port="$(free_port)"
python3 -m http.server "$rates_port" --bind 127.0.0.1 --directory "$work/rates" \
    >"$work/rates.log" 2>&1 &
rates_pid=$!
closed="http://127.0.0.1:9"
LEDGER_LISTEN="127.0.0.1:$port" \
    LEDGER_ADMIN_TOKEN="$admin_token" \
    LEDGER_PAYME_KEY="$payme_key" \
    LEDGER_TELEGRAM_BOT_TOKEN="$bot_token" \
    LEDGER_TELEGRAM_WEBHOOK_SECRET="$webhook_secret" \
    LEDGER_TELEGRAM_API_URL="$closed" \
    LEDGER_CRYSTALPAY_LOGIN="api-fuzz" \
    LEDGER_CRYSTALPAY_SECRET="$(random_hex 16)" \
    LEDGER_CRYSTALPAY_SALT="$(random_hex 16)" \
    LEDGER_CRYSTALPAY_API_URL="$closed" \
    LEDGER_FX_RATES_URL="http://127.0.0.1:$rates_port/rates.json" \
    RUST_LOG="${RUST_LOG:-warn,ledger=info}" \
    "$ledger" serve >>"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "api-fuzz: the server exited; see $work/server.log" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null

# A Mini App session: initData signed with the bot token, as Telegram would.
init_data="$(BOT_TOKEN="$bot_token" python3 - <<'PY'
import hashlib, hmac, json, os, time, urllib.parse
fields = {"auth_date": str(int(time.time())),
          "user": json.dumps({"id": 424242, "first_name": "Fuzz"}, separators=(",", ":"))}
check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
secret = hmac.new(b"WebAppData", os.environ["BOT_TOKEN"].encode(), hashlib.sha256).digest()
fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
print(urllib.parse.urlencode(fields, quote_via=urllib.parse.quote))
PY
)"
login() {
    curl -fsS -X POST "$base/api/telegram/auth" -H 'content-type: application/json' \
        --data "$(python3 -c 'import json, sys; print(json.dumps({"init_data": sys.argv[1]}))' "$init_data")" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
session_token="$(login)"
# Logout revokes the session it is called with: it gets one of its own.
logout_session_token="$(login)"

seed="${LEDGER_API_FUZZ_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom) ))}"
echo "api-fuzz: ledger serve (pid $server_pid) at $base; schemathesis seed $seed" >&2
# Secrets reach schemathesis through the environment, never on its command line.
cat >"$work/schemathesis.toml" <<'TOML'
# No text may hold U+0000 (PostgreSQL stores it nowhere): the server refuses it with 400
# wherever it appears, as docs/api.md says, so the fuzzer does not offer it as valid data.
generation.allow-x00 = false

[auth.openapi.bearer]
bearer = "${FUZZ_API_TOKEN}"

[auth.openapi.miniAppSession]
bearer = "${FUZZ_SESSION_TOKEN}"

[auth.openapi.storeKey]
api_key = "${FUZZ_STORE_KEY}"

[auth.openapi.telegramSecret]
api_key = "${FUZZ_WEBHOOK_SECRET}"

[[operations]]
include-path = "/api/telegram/logout"
headers = { Authorization = "Bearer ${FUZZ_LOGOUT_SESSION_TOKEN}" }

# Payme's protocol answers every refusal (credentials, malformed calls) with HTTP 200 and a
# JSON-RPC error, so a request the schema forbids is still answered 200 there.
[[operations]]
include-path = "/api/payme"
headers = { Authorization = "${FUZZ_PAYME_AUTH}" }
checks.negative_data_rejection.expected-statuses = ["200"]
# Payme's protocol answers a method other than POST with -32300, in HTTP 200, not with a 405.
# (Only POST, which it declares, is left to try: an empty list would mean the default list.)
phases.coverage.unexpected-methods = ["post"]

# Rules a JSON schema cannot state, answered 400/422 by design (docs/api.md): an amount's
# digits depend on the currency (XTR: whole units) and must fit 10^13 units; a 1C created_at
# must be a real time (in the store's zone); a guest order cannot redeem cashback; nobody can
# redeem or debit more than is available; a statement's or a reconciliation's `to` must not be
# before `from`; an uploaded statement must be a CSV file with a header row naming its columns.
[[operations]]
include-path-regex = "^/api/(orders|cashback/v1/transactions|reports/payme/statement|reports/reconciliation|reports/reconciliation/upload|telegram/payment/invoice)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
TOML
export FUZZ_API_TOKEN="$api_token" FUZZ_SESSION_TOKEN="$session_token" \
    FUZZ_LOGOUT_SESSION_TOKEN="$logout_session_token" \
    FUZZ_STORE_KEY="$store_key" FUZZ_WEBHOOK_SECRET="$webhook_secret" \
    FUZZ_PAYME_AUTH="Basic $(printf 'Paycom:%s' "$payme_key" | base64 -w0)"

status=0
# One worker: Python 3.11's ast module is not thread-safe, and hypothesis parses sources while
# describing a failure, which made a run with two workers end in a tool error now and then.
"$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    --checks all \
    --max-time "${LEDGER_API_FUZZ_SECONDS:-150}" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 10 \
    --report junit --report-dir "$work/report" \
    "$@" || status=$?
# A panic answers a JSON 500 (which schemathesis reports); the log says where it came from.
if grep -q 'panicked' "$work/server.log"; then
    echo "api-fuzz: the server panicked during the run:" >&2
    grep 'panicked' "$work/server.log" | tail -n 20 >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "api-fuzz: passed (seed $seed)" >&2 || echo "api-fuzz: FAILED (seed $seed; server log: $work/server.log)" >&2
exit "$status"
