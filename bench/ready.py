#!/usr/bin/env python3
"""Start a server, time process start to the first 200 from /readyz, then stop it.

    bench/ready.py PORT COMMAND [ARGS...]    # prints the milliseconds
    READY_PATH=/get-session bench/ready.py ...  # another path (the baseline has no /readyz)

Polls every millisecond from this process (no process spawned per poll), so the figure is
the server's own start-up, not the poller's.
"""
import http.client, os, subprocess, sys, time

port, cmd = int(sys.argv[1]), sys.argv[2:]
start = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", os.environ.get("READY_PATH", "/readyz"))
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() - start > 30:
            sys.exit("not ready after 30 s")
        time.sleep(0.001)
    print(round((time.monotonic() - start) * 1000, 1))
finally:
    proc.terminate()
    proc.wait()
