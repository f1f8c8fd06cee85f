#!/usr/bin/env python3
"""Prepare refresh tokens for the refresh_token benchmark: sign up, register a public
client, authorize once through the consent page (remembered), then run N code flows and
print `client_id` and the N refresh tokens, one per line. Standard library only.

    python3 bench/refresh_tokens.py http://127.0.0.1:PORT/api/kavach https://mcp.example.com/mcp 8
"""
import base64, hashlib, json, re, secrets, sys, urllib.error, urllib.parse, urllib.request

api, resource, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
origin = "/".join(api.split("/")[:3])
redirect = "http://127.0.0.1:9400/callback"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        r = opener.open(req)
    except urllib.error.HTTPError as e:
        r = e
    return r.status, r.headers, r.read().decode()


def form(d):
    return urllib.parse.urlencode(d).encode()


status, headers, _ = call("POST", f"{api}/sign-up/email", json.dumps({"email": "refresh-bench@example.com", "password": "benchmark passphrase", "name": "Bench"}).encode(),
                          {"content-type": "application/json", "origin": origin})
cookie = next(m.group(1) for c in headers.get_all("Set-Cookie") or [] if (m := re.search(r"(kavach\.session_token=[^;]+)", c)))
status, _, body = call("POST", f"{api}/oauth2/register", json.dumps({"client_name": "bench", "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
                       "grant_types": ["authorization_code", "refresh_token"]}).encode(), {"content-type": "application/json"})
client_id = json.loads(body)["client_id"]
print(client_id)
for i in range(n):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "code_challenge": challenge,
                                "code_challenge_method": "S256", "scope": "mcp:tools", "resource": resource, "state": "s"})
    status, headers, html = call("GET", f"{api}/oauth2/authorize?{q}", headers={"cookie": cookie, "accept": "text/html"})
    if status == 200:  # the consent page, the first time: allow and remember
        field = lambda k: re.search(rf'name="{k}" value="([^"]*)"', html).group(1)
        status, headers, _ = call("POST", f"{api}/oauth2/consent", form({"flow": field("flow"), "csrf": field("csrf"), "decision": "approve", "remember": "on"}),
                                  {"cookie": cookie, "origin": origin, "content-type": "application/x-www-form-urlencoded"})
    code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["Location"]).query)["code"][0]
    status, _, body = call("POST", f"{api}/oauth2/token", form({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                           "redirect_uri": redirect, "client_id": client_id, "resource": resource}), {"content-type": "application/x-www-form-urlencoded"})
    print(json.loads(body)["refresh_token"])
