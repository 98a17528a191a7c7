#!/usr/bin/env bash
# Checks the deployment files: the Prometheus alert rules (syntax and their unit tests), every
# query of the Grafana dashboard (as recording rules, so promtool parses each one), and the
# container image when this machine can build one. Installs promtool (Debian's `prometheus`
# package) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
    echo "check-deploy: installing promtool (Debian package prometheus)" >&2
    sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
fi

echo "check-deploy: alert rules" >&2
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)

echo "check-deploy: dashboard queries" >&2
rules="$(mktemp --suffix=.yml)"
trap 'rm -f "$rules"' EXIT
python3 - "$rules" <<'PY'
import json, sys
dashboard = json.load(open("deploy/grafana/ledger.json"))
lines = ["groups:", "  - name: dashboard", "    rules:"]
for panel in dashboard["panels"]:
    for index, target in enumerate(panel["targets"]):
        expr = (target["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*"))
        lines.append(f"      - record: dashboard:panel_{panel['id']}_{index}")
        lines.append("        expr: " + json.dumps(expr))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
promtool check rules "$rules"

if docker info >/dev/null 2>&1; then
    echo "check-deploy: building the container image" >&2
    docker build -t ledger:check .
else
    echo "check-deploy: no Docker engine on this machine; the image is not built here" >&2
fi
