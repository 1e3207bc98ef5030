-- wrk script for scripts/bench-server: an authenticated tools/call of server_info, with a unique
-- JSON-RPC id per request; with BENCH_SESSIONS set, requests go round-robin over those sessions;
-- with BENCH_STATELESS set, each is a stateless MCP 2026-07-28 request (headers and _meta).
local token = os.getenv("BENCH_TOKEN")
local sessions_file = os.getenv("BENCH_SESSIONS")
local stateless = (os.getenv("BENCH_STATELESS") or "") ~= ""
local sessions = {}
local counter = 0
thread_id = 0 -- set per thread by setup() (a global: wrk sets globals)
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
end

function init(args)
  if sessions_file and sessions_file ~= "" then
    for line in io.lines(sessions_file) do sessions[#sessions + 1] = line end
  end
end

function request()
  counter = counter + 1
  local id = thread_id * 1000000000 + counter
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
  }
  if #sessions > 0 then
    headers["Mcp-Session-Id"] = sessions[(counter + thread_id * 7) % #sessions + 1]
    headers["MCP-Protocol-Version"] = "2025-11-25"
  end
  local meta = ""
  if stateless then
    headers["MCP-Protocol-Version"] = "2026-07-28"
    headers["Mcp-Method"] = "tools/call"
    headers["Mcp-Name"] = "server_info"
    meta = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
      .. '"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},'
      .. '"io.modelcontextprotocol/clientCapabilities":{}}'
  end
  local body = '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"server_info","arguments":{}' .. meta .. '}}'
  return wrk.format("POST", nil, headers, body)
end
