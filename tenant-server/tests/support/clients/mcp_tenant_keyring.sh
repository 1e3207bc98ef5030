#!/usr/bin/env bash
# The adapter with its sign-ins in the OS keyring on Linux: mcp_tenant_adapter.sh with
# MCP_TENANT_STORE=keyring, against GNOME Keyring's Secret Service (the keyring crate talks to it
# over D-Bus) with a fresh keyring in a temporary directory. Run it in a D-Bus session of its own;
# the keyring daemon ends with it.
# Usage: dbus-run-session -- mcp_tenant_keyring.sh MCP_TENANT_BIN MCP_URL. Exits non-zero on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -n ${DBUS_SESSION_BUS_ADDRESS:-} ]] || { echo "mcp-tenant keyring: run under dbus-run-session" >&2; exit 2; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# The daemon keeps its keyrings under XDG_DATA_HOME: a new one, unlocked with a throwaway password.
export XDG_DATA_HOME=$data
eval "$(printf 'mcp-tenant-e2e' | gnome-keyring-daemon --unlock --components=secrets)"
MCP_TENANT_STORE=keyring "$here/mcp_tenant_adapter.sh" "$@"
