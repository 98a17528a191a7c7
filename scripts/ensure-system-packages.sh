#!/usr/bin/env bash
# Makes sure the Debian packages the two README commands need are installed, and installs the
# missing ones (with sudo when not root). Quiet when everything is there.
#
# - gcc and libc6-dev: Rust links through the system C compiler (`cc`); a machine with only
#   Rust installed may not have one.
# - ca-certificates: cargo downloads crates over HTTPS.
# - postgresql: the server programs (initdb, pg_ctl, postgres, psql, ...). Ledger does not use
#   the distribution's database cluster: it creates and runs a private one (the embedded-pg/ crate).
#   The package's post-install step may create and start Debian's own cluster (port 5432, or
#   the next free port if 5432 is taken); Ledger neither uses nor disturbs it.
# - with `--api-fuzz` (scripts/api-fuzz.sh): curl, and python3 with venv, into which
#   schemathesis is installed from PyPI.
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

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if ! has_server_binaries || ! has_server_user_if_needed; then
    missing+=(postgresql)
fi
if [ "${1:-}" = "--api-fuzz" ]; then
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3 python3-venv)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "ensure-system-packages: missing Debian packages (${missing[*]}); installing them needs" \
        "root or sudo: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "ensure-system-packages: installing ${missing[*]}..." >&2
"${as_root[@]}" apt-get update >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2

if ! has_server_binaries; then
    echo "ensure-system-packages: installed postgresql but still found no initdb" \
        "(looked at \`pg_config --bindir\` and /usr/lib/postgresql/*/bin)" >&2
    exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
    echo "ensure-system-packages: installed gcc but still found no \`cc\`" >&2
    exit 1
fi
echo "ensure-system-packages: installed ${missing[*]}" >&2
