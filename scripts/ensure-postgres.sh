#!/usr/bin/env bash
# Makes sure the PostgreSQL server programs (initdb, pg_ctl, postgres, psql, ...) are installed.
#
# Ledger does not use the distribution's database cluster: it creates and runs a private one
# (src/embedded_pg.rs), so it only needs the programs. When they are missing this installs
# Debian's `postgresql` package (with sudo when not root). Quiet when everything is there.
#
# The package's post-install step may create and start Debian's own cluster (port 5432, or the
# next free port if 5432 is taken); Ledger neither uses nor disturbs it.
set -euo pipefail

has_server_binaries() {
    local bin_dir candidate
    if command -v pg_config >/dev/null 2>&1; then
        bin_dir="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$bin_dir" ] && [ -x "$bin_dir/initdb" ]; then
            return 0
        fi
    fi
    for candidate in /usr/lib/postgresql/*/bin/initdb; do
        if [ -x "$candidate" ]; then
            return 0
        fi
    done
    return 1
}

# As root, PostgreSQL must run as the `postgres` OS user, which Debian's package creates.
has_server_user_if_needed() {
    [ "$(id -u)" -ne 0 ] || id -u postgres >/dev/null 2>&1
}

if has_server_binaries && has_server_user_if_needed; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "ensure-postgres: PostgreSQL server binaries are missing and installing them needs root or sudo;" \
        "install Debian's \`postgresql\` package" >&2
    exit 1
fi

echo "ensure-postgres: installing Debian's postgresql package..." >&2
"${as_root[@]}" apt-get update >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 postgresql >&2

if ! has_server_binaries; then
    echo "ensure-postgres: installed postgresql but still found no initdb" \
        "(looked at \`pg_config --bindir\` and /usr/lib/postgresql/*/bin)" >&2
    exit 1
fi
echo "ensure-postgres: PostgreSQL server binaries installed" >&2
