#!/usr/bin/env python3
"""Sign up new users one after another for SECONDS through BASE (the API base URL) and
write the email of every sign-up that was acknowledged (200) to OUT, one per line; print
"acknowledged failed". Used by bench/cluster.sh to check that nothing acknowledged is lost
when a part fails mid-run.

    python3 bench/writer.py http://127.0.0.1:PORT/api/kavach 20 acked.txt
"""
import http.client
import json
import sys
import time
import urllib.parse

base, seconds, out = urllib.parse.urlsplit(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
acked, failed, n = [], 0, 0
stamp = int(time.time() * 1000)
conn = None
end = time.monotonic() + seconds
while time.monotonic() < end:
    n += 1
    email = f"writer-{stamp}-{n}@example.com"
    body = json.dumps({"email": email, "password": "benchmark passphrase", "name": "Writer"})
    try:
        conn = conn or http.client.HTTPConnection(base.hostname, base.port, timeout=10)
        conn.request("POST", base.path + "/sign-up/email", body=body, headers={"content-type": "application/json", "connection": "close"})
        r = conn.getresponse()
        r.read()
        ok = r.status == 200
    except OSError:
        ok = False
    if conn:
        conn.close()
        conn = None
    if ok:
        acked.append(email)
    else:
        failed += 1
        time.sleep(0.05)
with open(out, "w") as f:
    f.write("".join(e + "\n" for e in acked))
print(f"{len(acked)} {failed}")
