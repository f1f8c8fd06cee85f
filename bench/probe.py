#!/usr/bin/env python3
"""A light probe: GET URL every 10 ms for SECONDS on one keep-alive connection (about 100
requests/s, so it measures responsiveness without taking the CPU it measures), then print
"requests p50_ms p99_ms failures"; with PROBE_STATUSES=1 also "statuses window_ms":
statuses counts the answers by status (JSON, "error" for no answer) and window_ms is the
time from the first failure to the last (0 when none failed).

    python3 bench/probe.py http://127.0.0.1:PORT/api/kavach/get-session 30 'cookie: name=value'
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

url, seconds = urllib.parse.urlsplit(sys.argv[1]), float(sys.argv[2])
headers = dict([h.split(": ", 1)]) if len(sys.argv) > 3 and (h := sys.argv[3]) else {}
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
path = url.path + (f"?{url.query}" if url.query else "")
times, failures, statuses, first_fail, last_fail = [], 0, {}, None, None
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic()
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        status = str(r.status)
    except OSError:
        status = "error"
        conn.close()
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    statuses[status] = statuses.get(status, 0) + 1
    if status != "200":
        failures += 1
        first_fail = first_fail if first_fail is not None else t
        last_fail = t
    times.append((time.monotonic() - t) * 1000)
    time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))
times.sort()
q = lambda p: times[min(len(times) - 1, int(len(times) * p))] if times else 0.0
window = (last_fail - first_fail) * 1000 if first_fail is not None else 0
extra = f" {json.dumps(statuses, separators=(',', ':'))} {window:.0f}" if os.environ.get("PROBE_STATUSES") else ""
print(f"{len(times)} {q(0.5):.2f} {q(0.99):.2f} {failures}{extra}")
