#!/usr/bin/env python3
"""How long a change made on one Kavach instance takes to be enforced on the others.

    KAVACH_DATABASE_URL=postgres://... KAVACH_CONFIG=kavach.toml KAVACH_SECRET=... \\
      python3 bench/propagation.py BIN ROUNDS http://127.0.0.1:P1/api/kavach http://127.0.0.1:P2/api/kavach ...

BIN is the kavach binary (its CLI adds a member, and bans and unbans: an operator's
ban). ORIGIN: the Origin header to send (the instances' base URL; default: each
instance's own address). Each round makes each change on one instance, in turn, and
polls every other instance (every instance, for the ban, which the CLI makes), as fast as
one connection goes, until it is refused there; the time runs from the start of the
request (or the CLI) that made the change. Changes: a session revoked, a user banned, an
organization role lowered, an agent suspended. Prints one line per change: the
distribution in ms and the target (under one second). Exits 1 if any round missed the target.
"""
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse

BIN, ROUNDS, BASES = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
PW = "benchmark passphrase"
conns = {}


def call(base, method, path, cookie=None, body=None, headers=None):
    u = urllib.parse.urlsplit(base)
    c = conns.get(base)
    if c is None:
        c = conns[base] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = dict(headers or {})
    if cookie:  # a browser's request: its cookie and the page's origin
        h["cookie"] = cookie
        h["origin"] = os.environ.get("ORIGIN") or f"http://{u.hostname}:{u.port}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h["content-type"] = "application/json"
    try:
        c.request(method, u.path + path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
    except OSError:
        conns.pop(base, None).close()
        raise
    cookies = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie" and "session_token=" in v]
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return r.status, parsed, cookies[0] if cookies else None, f"{method} {path}"


def ok(res):
    status, body, _, what = res
    if status != 200:
        raise SystemExit(f"{what}: unexpected answer {status}: {body}")
    return body


def sign_in(base, email):
    status, _, cookie, _ = call(base, "POST", "/sign-in/email", body={"email": email, "password": PW})
    if status != 200 or not cookie:
        raise SystemExit(f"sign-in of {email} failed: {status}")
    return cookie


def sign_up(base, email):
    status, _, cookie, _ = call(base, "POST", "/sign-up/email", body={"email": email, "password": PW, "name": email.split("@")[0]})
    return cookie if status == 200 and cookie else sign_in(base, email)


def cli(*args):
    subprocess.run([BIN, *args], check=True, capture_output=True, env={**os.environ, "KAVACH_LOG": "warn"})


def until_refused(base, refused, started):
    """Poll `refused()` on `base` until it is true; the ms since `started`."""
    while not refused(base):
        if time.monotonic() - started > 5:
            return float("inf")
    return (time.monotonic() - started) * 1000


def main():
    a = BASES[0]
    stamp = int(time.time())
    owner, worker = (f"{n}-{stamp}@example.com" for n in ("owner", "worker"))
    owner_c, worker_c = sign_up(a, owner), sign_up(a, worker)
    org = ok(call(a, "POST", "/organization/create", owner_c, {"name": f"Propagation {stamp}", "slug": f"propagation-{stamp}"}))
    oid = org["id"]
    cli("org", "add-member", oid, "--user", worker, "--role", "admin")
    wid = ok(call(a, "GET", "/get-session", worker_c))["user"]["id"]
    agent = ok(call(a, "POST", "/agents", owner_c, {"name": "propagation", "permissions": [{"resource": "tool:**", "actions": ["tools/call"]}]}))
    aid, akey = agent["agent"]["id"], agent["key"]
    decision = {"subject": {"type": "agent", "id": aid}, "action": {"name": "tools/call"}, "resource": {"type": "tool", "id": "search"}}

    def may_invite(base):
        return ok(call(base, "POST", "/organization/has-permission", worker_c, {"permissions": {"invitation": ["create"]}, "organizationId": oid}))["success"]

    def agent_allowed(base):
        # A suspended agent's key no longer authenticates (401): refused as well.
        status, body, _, _ = call(base, "POST", "/access/v1/evaluation", None, decision, {"authorization": f"Bearer {akey}"})
        return status == 200 and body["decision"]

    def signed_in(cookie):
        return lambda base: ok(call(base, "GET", "/get-session", cookie)) is not None

    times = {"session revoked": [], "user banned": [], "role lowered": [], "agent suspended": []}
    for r in range(ROUNDS):
        src = BASES[r % len(BASES)]
        others = [b for b in BASES if b != src]
        for b in others:  # every instance sees the starting state
            assert may_invite(b) and agent_allowed(b)
        # A session revoked (the owner's second session, by the owner's first).
        victim = sign_in(src, owner)
        token = ok(call(src, "GET", "/get-session", victim))["session"]["token"]
        t = time.monotonic()
        ok(call(src, "POST", "/revoke-session", owner_c, {"token": token}))
        times["session revoked"].append(max(until_refused(b, lambda b: not signed_in(victim)(b), t) for b in others))
        # A role lowered, then restored.
        t = time.monotonic()
        ok(call(src, "POST", "/organization/update-member-role", owner_c, {"memberId": wid, "role": "member", "organizationId": oid}))
        times["role lowered"].append(max(until_refused(b, lambda b: not may_invite(b), t) for b in others))
        ok(call(src, "POST", "/organization/update-member-role", owner_c, {"memberId": wid, "role": "admin", "organizationId": oid}))
        # An agent suspended, then activated.
        t = time.monotonic()
        ok(call(src, "POST", f"/agents/{aid}/suspend", owner_c, None))
        times["agent suspended"].append(max(until_refused(b, lambda b: not agent_allowed(b), t) for b in others))
        ok(call(src, "POST", f"/agents/{aid}/activate", owner_c, None))
        # A user banned by an operator (the CLI, its own process: the time includes its
        # start), then unbanned and signed in again.
        t = time.monotonic()
        cli("user", "ban", wid)
        times["user banned"].append(max(until_refused(b, lambda b: not signed_in(worker_c)(b), t) for b in BASES))
        cli("user", "unban", wid)
        worker_c = sign_in(src, worker)
        # The restorations are seen everywhere before the next round.
        for b in others:
            while not (may_invite(b) and agent_allowed(b)):
                time.sleep(0.01)
    missed = False
    for change, ts in times.items():
        ts.sort()
        within = ts[-1] < 1000
        missed |= not within
        print(f"{change}: enforced on every instance polled after median {ts[len(ts) // 2]:.1f} ms, "
              f"min {ts[0]:.1f}, max {ts[-1]:.1f} ({len(ts)} rounds over {len(BASES)} instances; target under 1000 ms: {'met' if within else 'NOT MET'})")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
