#!/usr/bin/env bash
# Runs the whole test suite: `scripts/test.sh [cargo test arguments...]`,
# for example `scripts/test.sh -p events` or `scripts/test.sh -- --nocapture`.
#
# Database: if DATABASE_URL is set, the tests use it as is. Otherwise a private PostgreSQL
# cluster is started (or reused) under $LEDGER_TEST_DATA_DIR (default: .ledger-test in the
# repository), tuned for speed with fsync off: test data only.
#
# The test cluster is LEFT RUNNING after the tests, so the next run reuses it in a fraction of
# a second. To stop it:
#     cargo run --bin ledger -- embedded-pg stop --data-dir .ledger-test
# (and `rm -rf .ledger-test` removes it entirely).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-system-packages.sh --browser

# Where the test cluster lives when LEDGER_TEST_DATA_DIR is not set. As root, PostgreSQL runs
# as the `postgres` OS user, which must be able to enter the directory; a checkout under
# /root is not reachable for it, so the cluster goes to /var/tmp instead (one per checkout).
default_test_data_dir() {
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
        printf '/var/tmp/ledger-test-%s\n' "$(printf '%s' "$PWD" | sha256sum | cut -c1-12)"
    else
        printf '%s\n' "$PWD/.ledger-test"
    fi
}

if [ -z "${DATABASE_URL:-}" ]; then
    data_dir="${LEDGER_TEST_DATA_DIR:-$(default_test_data_dir)}"
    # The command logs to stderr; its last stdout line is the database URL.
    start_output="$(cargo run --quiet --bin ledger -- embedded-pg start --data-dir "$data_dir" --fast)"
    DATABASE_URL="$(printf '%s\n' "$start_output" | tail -n 1)"
    case "$DATABASE_URL" in
        postgres://*) ;;
        *)
            echo "test.sh: expected a postgres:// URL from \`ledger embedded-pg start\`, got: $DATABASE_URL" >&2
            exit 1
            ;;
    esac
    export DATABASE_URL
    # The URL carries the cluster's password: shown with `***` in its place.
    redacted_url="$(printf '%s\n' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://[^:@/]*):[^@/]*@#\1:***@#')"
    echo "test.sh: using the private test cluster at $redacted_url (data in $data_dir; left running" \
        "after the tests, stop it with: cargo run --bin ledger -- embedded-pg stop --data-dir $data_dir)" >&2
fi

cargo test --workspace "$@"
