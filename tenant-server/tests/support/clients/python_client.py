"""PyPI `mcp` 2.x client against the tenant server: initialize, tools/list, tools/call whoami,
authenticated with a bearer token. Usage: python_client.py URL TOKEN. Exits non-zero on failure."""
import asyncio
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                names = [t.name for t in tools.tools]
                assert "whoami" in names, names
                result = await session.call_tool("whoami", {})
                assert not result.is_error, result
                subject = result.structured_content["subject"]
                print(f"python mcp client: protocol {init.protocol_version}, tools {names}, whoami subject {subject}")


asyncio.run(main(sys.argv[1], sys.argv[2]))
