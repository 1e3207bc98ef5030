"""The PyPI `mcp` SDK's stdio client running `mcp-tenant bridge URL`, in both eras of the protocol:
the 2025-11-25 handshake (`mode="legacy"`: a session, elicitation as requests from the server) and
2026-07-28 as the SDK negotiates it (`mode="auto"`: `server/discover`, stateless requests,
elicitation as multi round-trip requests). Each lists the tools, calls one with progress
notifications, one that asks the user twice, and one that outlives its timeout (and is cancelled). Usage: python_bridge.py MCP_TENANT_BIN URL (the
sign-in is found through MCP_TENANT_HOME and MCP_TENANT_STORE). Prints "python sdk: ok"."""
import asyncio
import os
import sys

from mcp import Client, MCPError, StdioServerParameters, types
from mcp.types import REQUEST_TIMEOUT


async def answer(_context, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The user: a name, then a colour."""
    field = "name" if "name" in params.message else "colour"
    return types.ElicitResult(action="accept", content={field: "Grace" if field == "name" else "amber"})


async def use(program: str, url: str, mode: str, version: str) -> None:
    params = StdioServerParameters(command=program, args=["bridge", url], env=dict(os.environ))
    async with Client(params, mode=mode, elicitation_callback=answer, read_timeout_seconds=30) as client:
        assert client.protocol_version == version, (mode, client.protocol_version)
        names = [t.name for t in (await client.list_tools()).tools]
        assert "whoami" in names and "meeting_brief" in names and "pick_colours" in names, names
        seen = []

        async def progress(value, total, message):
            seen.append((value, total, message))

        result = await client.call_tool("meeting_brief", {"seconds": 0.1}, progress_callback=progress)
        assert not result.is_error and result.structured_content == {"done": True}, result
        assert [s[0] for s in seen] == [1.0, 2.0], (mode, seen)
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"] == "alice", who
        picked = await client.call_tool("pick_colours", {})
        assert not picked.is_error and picked.content[0].text == "Grace likes amber", (mode, picked)
        # A call that outlives its timeout: the SDK abandons it and cancels it (the test asserts
        # at the tenant that the tool saw the cancellation).
        try:
            await client.call_tool("meeting_brief", {"seconds": 60}, read_timeout_seconds=1)
        except MCPError as timed_out:
            assert timed_out.code == REQUEST_TIMEOUT, (mode, timed_out.code, timed_out.message)
        else:
            raise AssertionError(f"{mode}: a 60 s call finished within its 1 s timeout")


async def main(program: str, url: str) -> None:
    await use(program, url, "legacy", "2025-11-25")
    await use(program, url, "auto", "2026-07-28")
    print("python sdk: ok")


asyncio.run(main(sys.argv[1], sys.argv[2]))
