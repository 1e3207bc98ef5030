#!/usr/bin/env bash
# mcp-remote (npm, on PATH) against the tenant server with the OAuth device grant: it registers,
# prints the verification URL, browser.py enters the code, signs in and approves, mcp-remote
# polls for the token, then initialize, tools/call whoami, prompts/list and prompts/get,
# resources/templates/list and resources/read (a mail message of the Graph double) go through it.
# Usage: mcp_remote_device.sh MCP_URL. Exits non-zero on failure.
set -euo pipefail
url=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/in"
MCP_REMOTE_CONFIG_DIR="$work/config" timeout 120 mcp-remote "$url" --device-code <"$work/in" >"$work/out" 2>"$work/err" &
pid=$!
exec 3>"$work/in"
send() { printf '%s\n' "$@" >&3; }
wait_for() { for _ in $(seq 300); do grep -q "$1" "$2" && return 0; sleep 0.2; done; echo "mcp-remote: no $1 in $2" >&2; cat "$work/err" >&2; exit 1; }
send '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"device-test","version":"1"}}}'
wait_for '/device?user_code=' "$work/err"
verify=$(grep -o 'http[^ ]*/device?user_code=[A-Z0-9-]*' "$work/err" | head -1)
python3 "$here/browser.py" "$verify" 2>"$work/browser.err" >/dev/null || { cat "$work/browser.err" >&2; exit 1; }
wait_for '"id":1' "$work/out"
send '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wait_for '"id":2' "$work/out"
grep '"id":2' "$work/out" | grep -q '"subject":"demo-user"' || { cat "$work/out" >&2; exit 1; }
send '{"jsonrpc":"2.0","id":3,"method":"prompts/list","params":{}}' \
  '{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"triage_inbox","arguments":{"focus":"budget"}}}' \
  '{"jsonrpc":"2.0","id":5,"method":"resources/templates/list","params":{}}' \
  '{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"m365://mail/messages/msg-0000"}}'
for id in 3 4 5 6; do wait_for "\"id\":$id[,}]" "$work/out"; done
expect() { grep "\"id\":$1[,}]" "$work/out" | grep -qF "$2" || { echo "mcp-remote: no $2 in answer $1" >&2; cat "$work/out" >&2; exit 1; }; }
expect 3 '"name":"triage_inbox"'
expect 4 'inbox_triage'
expect 5 '"uriTemplate":"m365://mail/messages/{id}"'
expect 6 'notes on Q3 budget review'
echo "mcp-remote: device flow approved for ${verify##*=}, whoami answered for demo-user, prompts and resources listed and read"
