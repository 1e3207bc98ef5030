"""PyPI `mcp` 2.x client signing in through the tenant server's own OAuth flow: discovery from
the 401, dynamic client registration, authorization code with PKCE (the sign-in and consent
pages driven by browser.py), then tools/call whoami with the token it obtained, and a refresh.
Usage: python_oauth_client.py URL. Exits non-zero on failure."""
import asyncio
import os
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Never listened on: browser.py stops at the redirect and hands over the code.
REDIRECT = "http://127.0.0.1:33418/callback"
BROWSER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.py")


class Memory(TokenStorage):
    def __init__(self):
        self.tokens, self.client = None, None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client: OAuthClientInformationFull):
        self.client = client


answer: dict = {}


async def redirect_handler(url: str) -> None:
    done = subprocess.run([sys.executable, BROWSER, url, "--stop-at", REDIRECT], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sign-in failed: {done.stderr}")
    answer.update({k: v[0] for k, v in parse_qs(urlparse(done.stdout.strip()).query).items()})


async def callback_handler() -> AuthorizationCodeResult:
    if "error" in answer:
        raise RuntimeError(answer)
    return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))


async def main(url: str) -> None:
    storage = Memory()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="python-mcp-oauth-test",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool("whoami", {})
                assert not result.is_error, result
                who = result.structured_content
    assert storage.client.client_id.startswith("mcp_"), storage.client
    assert who["clientId"] == storage.client.client_id, who
    assert storage.tokens.refresh_token, "no refresh token"
    print(f"python mcp OAuth client: registered {storage.client.client_id}, signed in as {who['subject']}")


asyncio.run(main(sys.argv[1]))
