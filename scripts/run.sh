#!/usr/bin/env bash
# Builds and runs the Ledger server: `scripts/run.sh [serve options...]`.
# Installs the PostgreSQL server programs first if needed; the server starts its own private
# PostgreSQL cluster (the embedded-pg/ crate).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-system-packages.sh
exec cargo run --release --bin ledger -- serve "$@"
