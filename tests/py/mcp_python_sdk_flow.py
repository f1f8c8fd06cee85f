"""The official MCP Python SDK (`mcp` on PyPI) as an OAuth client of Kavach and the
example MCP server: protected resource metadata discovery, dynamic registration,
authorization through Kavach's pages (signed in with a real session cookie, the consent
form answered as a person would), tools/call, and a refresh after the access token expires.

    MCP_URL=http://127.0.0.1:PORT/mcp SESSION_COOKIE='kavach.session_token=...' TOKEN_TTL=4 \
        python mcp_python_sdk_flow.py

Kavach's test suite installs the SDK in a virtualenv and runs this (tests/e2e/mcp.rs).
"""
import asyncio
import html
import os
import re
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

MCP_URL = os.environ["MCP_URL"]
COOKIE = os.environ["SESSION_COOKIE"]
TTL = int(os.environ.get("TOKEN_TTL", "4"))
REDIRECT = "http://127.0.0.1:9400/callback"
seen = {"token_requests": [], "authorizations": 0}


class Memory(TokenStorage):
    def __init__(self):
        self.tokens, self.client = None, None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


pending: dict[str, AuthorizationCodeResult] = {}


async def play_browser(url: str) -> None:
    """Follow the authorization URL as the signed-in user and approve the consent page."""
    seen["authorizations"] += 1
    async with httpx2.AsyncClient(follow_redirects=False) as http:
        r = await http.get(url, headers={"cookie": COOKIE, "accept": "text/html"})
        if r.status_code == 200:
            page = r.text
            field = lambda name: html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))
            action = urljoin(url, html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1)))
            origin = "{0.scheme}://{0.netloc}".format(urlparse(action))
            r = await http.post(action, data={"flow": field("flow"), "csrf": field("csrf"), "decision": "approve", "remember": "on"},
                                headers={"cookie": COOKIE, "origin": origin, "accept": "text/html"})
        assert r.status_code in (302, 303), f"authorize answered {r.status_code}: {r.text[:300]}"
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert "code" in q, f"no code in the callback: {q}"
        pending["result"] = AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0])


async def callback() -> AuthorizationCodeResult:
    return pending.pop("result")


async def log_request(request: httpx2.Request) -> None:
    if request.url.path.endswith("/oauth2/token"):
        body = parse_qs(request.content.decode())
        seen["token_requests"].append(body.get("grant_type", ["?"])[0])


async def main() -> None:
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(client_name="mcp-python-sdk harness", redirect_uris=[REDIRECT],
                                            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                            token_endpoint_auth_method="none"),
        storage=storage,
        redirect_handler=play_browser,
        callback_handler=callback,
    )
    async with httpx2.AsyncClient(auth=provider, event_hooks={"request": [log_request]}, timeout=30) as http:
        async with streamable_http_client(MCP_URL, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                tools = await session.list_tools()
                print("tools:", ", ".join(t.name for t in tools.tools))
                who = await session.call_tool("whoami", {})
                print("whoami ->", who.content[0].text)
                print(f"waiting {TTL + 1}s for the access token to expire...")
                await asyncio.sleep(TTL + 1)
                who2 = await session.call_tool("whoami", {})
                print("whoami after refresh ->", who2.content[0].text)
    print("token requests:", seen["token_requests"], "authorizations:", seen["authorizations"])
    assert seen["authorizations"] == 1, "one trip through the pages"
    assert seen["token_requests"][:1] == ["authorization_code"] and "refresh_token" in seen["token_requests"], "code, then a refresh"
    assert storage.client and storage.client.client_id, "registered dynamically"
    print("python sdk flow OK")


asyncio.run(main())
