"""The PyPI `mcp` SDK's stdio client running `mcp-tenant bridge URL`: initialize, tools/list, and
a tool call with progress notifications. Usage: python_bridge.py MCP_TENANT_BIN URL (the sign-in
is found through MCP_TENANT_HOME and MCP_TENANT_STORE). Prints "python sdk: ok"."""
import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(program: str, url: str) -> None:
    params = StdioServerParameters(command=program, args=["bridge", url], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = [t.name for t in (await session.list_tools()).tools]
            assert "whoami" in names and "meeting_brief" in names, names
            seen = []

            async def progress(value, total, message):
                seen.append((value, total, message))

            result = await session.call_tool("meeting_brief", {"seconds": 0.1}, progress_callback=progress)
            assert not result.is_error and result.structured_content == {"done": True}, result
            assert [s[0] for s in seen] == [1.0, 2.0], seen
            who = await session.call_tool("whoami", {})
            assert who.structured_content["subject"] == "alice", who
    print("python sdk: ok")


asyncio.run(main(sys.argv[1], sys.argv[2]))
