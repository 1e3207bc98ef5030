#!/usr/bin/env bash
# The adapter (`mcp-tenant`, this workspace's binary) against the tenant server: login by the
# device flow (browser.py enters the code, signs in and approves), the MCP Inspector CLI (npm, on
# PATH) using the tenant through `mcp-tenant bridge` over stdio (tools/list, tools/call whoami,
# prompts/list), then `login --browser` (code + PKCE to a loopback redirect, browser.py as the
# browser), `call`, and `logout`.
# The sign-in is kept where MCP_TENANT_STORE says: `file` (the default) or `keyring` (see
# mcp_tenant_keyring.sh); the script checks that it is there and nowhere else.
# Usage: mcp_tenant_adapter.sh MCP_TENANT_BIN MCP_URL. Exits non-zero on failure.
set -euo pipefail
adapter=$1 url=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill "$login" 2>/dev/null || true; rm -rf "$work"' EXIT
export MCP_TENANT_HOME=$work/home MCP_TENANT_STORE=${MCP_TENANT_STORE:-file}
case $MCP_TENANT_STORE in
  file) kept="$MCP_TENANT_HOME/sign-ins/" ;;
  keyring) kept="the OS keyring" ;;
  *) echo "mcp-tenant: MCP_TENANT_STORE must be file or keyring" >&2; exit 2 ;;
esac
# Where the sign-in is: the one file in sign-ins/, or (keyring) no file at all.
check_kept() {
  local files
  files=$(find "$MCP_TENANT_HOME" -path '*/sign-ins/*' -type f | wc -l)
  case $MCP_TENANT_STORE in
    file) [[ $files == 1 ]] || fail "$files sign-in files, not 1" "$1" ;;
    keyring) [[ $files == 0 ]] || fail "a sign-in file beside the keyring" "$1" ;;
  esac
}
fail() { echo "mcp-tenant: $1" >&2; shift; cat "$@" >&2; exit 1; }
wait_for() { for _ in $(seq 300); do grep -q "$1" "$2" && return 0; sleep 0.1; done; fail "no $1 in $2" "$2"; }

"$adapter" login "$url" --no-open 2>"$work/login.err" &
login=$!
wait_for '^(or open ' "$work/login.err"
verify=$(sed -n 's/^(or open \(.*\))$/\1/p' "$work/login.err")
python3 "$here/browser.py" "$verify" >/dev/null 2>"$work/browser.err" || fail "browser.py failed" "$work/browser.err"
wait "$login" || fail "device login failed" "$work/login.err"
grep -q "^Signed in to $url; the sign-in is kept in $kept" "$work/login.err" ||
  fail "login did not keep the sign-in in $kept" "$work/login.err"
check_kept "$work/login.err"

# The Inspector starts the bridge with a bare environment: -e passes where the sign-in is (and
# the session bus, where the keyring answers).
bridge_env=(-e "MCP_TENANT_HOME=$MCP_TENANT_HOME" -e "MCP_TENANT_STORE=$MCP_TENANT_STORE")
[[ -z ${DBUS_SESSION_BUS_ADDRESS:-} ]] || bridge_env+=(-e "DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS")
inspect() {
  timeout 120 mcp-inspector --cli "${bridge_env[@]}" \
    "$adapter" bridge "$url" "$@" >"$work/inspector.json" 2>"$work/inspector.err" ||
    fail "the Inspector through the bridge failed ($*)" "$work/inspector.err" "$work/inspector.json"
}
inspect --method tools/list
grep -q '"name": "catch_me_up"' "$work/inspector.json" || fail "no catch_me_up in tools/list" "$work/inspector.json"
inspect --method tools/call --tool-name whoami
grep -q '"subject": "demo-user"' "$work/inspector.json" || fail "whoami is not demo-user" "$work/inspector.json"
inspect --method prompts/list
grep -q '"name": "triage_inbox"' "$work/inspector.json" || fail "no triage_inbox prompt" "$work/inspector.json"

"$adapter" login --browser --no-open "$url" 2>"$work/browser-login.err" &
login=$!
wait_for '^To sign in, open ' "$work/browser-login.err"
authorize=$(sed -n 's/^To sign in, open //p' "$work/browser-login.err")
python3 "$here/browser.py" "$authorize" >/dev/null 2>"$work/browser.err" || fail "browser.py failed" "$work/browser.err"
wait "$login" || fail "browser login failed" "$work/browser-login.err"
check_kept "$work/browser-login.err"
"$adapter" call whoami --output json >"$work/whoami.json" 2>"$work/call.err" || fail "call whoami failed" "$work/call.err"
grep -q '"subject": "demo-user"' "$work/whoami.json" || fail "whoami is not demo-user" "$work/whoami.json"
"$adapter" logout 2>"$work/logout.err" || fail "logout failed" "$work/logout.err"
if "$adapter" call whoami --url "$url" 2>"$work/after.err"; then fail "a call worked after logout" "$work/after.err"; fi
echo "mcp-tenant ($MCP_TENANT_STORE store): device login, the Inspector through the bridge (tools, whoami, prompts), browser login, call and logout"
