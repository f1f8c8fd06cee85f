#!/usr/bin/env python3
"""Turn one run of bench/run.sh into a report: a Markdown table of medians and spread,
ratios to the baseline and between systems, the targets of the benchmarks issue with a
pass/fail mark, and a chart (SVG, next to the TSV) of throughput and p99 per scenario.

    python3 bench/report.py bench/results/STAMP.tsv [bench/results/STAMP.txt] > STAMP.md

The TSV has one row per wrk run (system, database, scenario, run, rps, p50, p99,
peak_rss_mb, errors); the .txt summary, when given, supplies the header lines (build,
machine) and is linked. Only the standard library is used.
"""
import csv
import html
import os
import statistics
import sys
from collections import defaultdict


def ms(v):
    """wrk's latency ("113.00us", "1.78ms", "1.20s") in milliseconds, or None."""
    if not v or v == "-":
        return None
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit):
            try:
                return float(v[: -len(unit)]) * f
            except ValueError:
                return None
    return None


def fmt_ms(v):
    if v is None:
        return ""
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"


def load(path):
    groups = defaultdict(list)
    order = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            key = (row["system"], row["database"], row["scenario"])
            if key not in groups:
                order.append(key)
            groups[key].append(row)
    out = {}
    for key in order:
        rows = groups[key]
        rates = sorted(float(r["rps"]) for r in rows if r["rps"])
        if not rates:
            continue
        med = statistics.median(rates)
        # The run whose rate is the median (the lower middle for an even count) gives the latencies.
        mid = sorted(rows, key=lambda r: float(r["rps"] or 0))[(len(rows) - 1) // 2]
        peaks = [float(r["peak_rss_mb"]) for r in rows if r.get("peak_rss_mb")]
        out[key] = {
            "rps": med,
            "min": rates[0],
            "max": rates[-1],
            "runs": len(rates),
            "p50": ms(mid["p50"]),
            "p99": ms(mid["p99"]),
            "peak": max(peaks) if peaks else None,
            "errors": "; ".join(sorted({r["errors"].strip() for r in rows if r.get("errors", "").strip()})),
        }
    return out


SCENARIOS = {
    "get-session": "get-session (cookie)",
    "get-session-with-org": "get-session, active organization",
    "get-session-during-sign-ins": "get-session while sign-ins saturate hashing (probe, ~100/s)",
    "has-permission": "organization has-permission",
    "client-credentials": "token: client_credentials (EdDSA JWT)",
    "refresh-token": "token: refresh_token with rotation",
    "token-exchange": "token: RFC 8693 exchange",
    "agent-decision": "agent decision + durable audit record",
    "sign-in": "sign-in (16 conns)",
    "durable-write-each": "floor: one row committed per request (sqlx)",
    "durable-write-grouped": "floor: rows committed in groups (sqlx)",
    "durable-write-direct": "floor: rows committed in groups (direct writer)",
    "magic-link-verify": "magic link followed (a sign-in)",
    "email-otp-verify": "email code (a sign-in)",
    "passkey-verify": "passkey answer (a sign-in)",
}

# Sign-ins without a password (issue 14) and the durable-write floor they are bounded by.
METHODS = ("magic-link-verify", "email-otp-verify", "passkey-verify")


# Rows whose rate is not comparable with the baseline's (bounded by hashing, or a probe).
NO_RATIO = {"sign-in", "get-session-during-sign-ins"}


def label(sys_, db):
    return sys_ if db in ("-", "") else f"{sys_} ({db})"


def main():
    tsv = sys.argv[1]
    txt = sys.argv[2] if len(sys.argv) > 2 else None
    data = load(tsv)
    base = data.get(("baseline", "-", "get-session"))
    cores = os.cpu_count() or 1
    lines = []
    w = lines.append
    header = []
    if txt and os.path.exists(txt):
        with open(txt) as f:
            header = [line.rstrip("\n") for line in f.readlines()[:3]]
    w(header[0].replace("# Kavach benchmark", "# Benchmarks, side by side,") if header else "# Benchmarks, side by side")
    w("")
    for line in header[1:]:
        if line:
            w(f"- {line}")
    runs = max((d["runs"] for d in data.values()), default=0)
    w(f"- each figure: the median of {runs} runs (spread: the lowest and highest run); p50 and p99 of the median run; "
      "peak RSS: the server's VmHWM over its runs (reset before each)")
    if txt:
        w(f"- raw summary: `{os.path.basename(txt)}`, every run: `{os.path.basename(tsv)}`")
    w("")
    w(f"![throughput and p99 per scenario and system]({os.path.splitext(os.path.basename(tsv))[0]}.svg)")
    w("")
    w("| scenario | system | req/s (median) | spread | p50 | p99 | peak RSS | ratio to baseline |")
    w("|---|---|---|---|---|---|---|---|")
    if base:
        w(f"| baseline: minimal axum handler, same JSON | baseline | {base['rps']:,.0f} | {base['min']:,.0f}–{base['max']:,.0f} | "
          f"{fmt_ms(base['p50'])} | {fmt_ms(base['p99'])} | {base['peak'] or 0:.0f} MB | 1.00 |")
    for sc, title in SCENARIOS.items():
        for (s, db, scenario), d in data.items():
            if scenario != sc or s == "baseline":
                continue
            ratio = f"{d['rps'] / base['rps']:.2f}" if base and sc not in NO_RATIO else ""
            peak = f"{d['peak']:.0f} MB" if d["peak"] else ""
            spread = f"{d['min']:,.0f}–{d['max']:,.0f}" if d["runs"] > 1 else "one run"
            err = f" ({html.escape(d['errors'][:80])})" if d["errors"] else ""
            w(f"| {title} | {label(s, db)} | {d['rps']:,.0f}{err} | {spread} | {fmt_ms(d['p50'])} | {fmt_ms(d['p99'])} | {peak} | {ratio} |")
    inproc = [(k, d) for k, d in data.items() if k[0] == "kavach-in-process"]
    if inproc:
        w("")
        w("In process, one core:")
        w("")
        for (s, db, sc), d in inproc:
            if sc == "password-hash":
                w(f"- one Argon2id password check (m=19456 KiB, t=2): {1000 / d['rps']:.1f} ms, so at most "
                  f"{cores * d['rps']:.0f} sign-ins/s on {cores} cores (the Argon2id bound)")
            else:
                w(f"- {sc.replace('jwt-verify-', 'JWT access token verified in the resource-server layer, ')}: "
                  f"{d['rps']:,.0f}/s, p50 {fmt_ms(d['p50'])}, p99 {fmt_ms(d['p99'])}")

    # Kavach against each peer, same scenario and database.
    pairs = []
    for (s, db, sc), d in data.items():
        if s in ("baseline", "kavach", "kavach-in-process", "kavach-2-instances"):
            continue
        for kdb in ([db] if db != "-" else ["sqlite", "postgres"]):
            k = data.get(("kavach", kdb, sc))
            if k:
                pairs.append((sc, kdb, s, db, k["rps"] / d["rps"], k["p99"], d["p99"]))
    if pairs:
        w("")
        w("Kavach against the others (same scenario and database, same run):")
        w("")
        w("| scenario | Kavach on | against | Kavach req/s ÷ theirs | p99 Kavach / theirs |")
        w("|---|---|---|---|---|")
        for sc, kdb, s, db, f, kp, pp in pairs:
            w(f"| {SCENARIOS.get(sc, sc)} | {kdb} | {label(s, db)} | **{f:.1f}×** | {fmt_ms(kp)} / {fmt_ms(pp)} |")

    # The targets that this run measures.
    checks = []

    def check(name, value, target, ok):
        checks.append(f"| {name} | {value} | {target} | {'met' if ok else '**not met**'} |")

    if base:
        for db, t in (("sqlite", 0.7), ("postgres", 0.5)):
            k = data.get(("kavach", db, "get-session"))
            if k:
                r = k["rps"] / base["rps"]
                check(f"get-session on {db}, ratio to baseline", f"{r:.2f}", f"≥ {t}", r >= t)
        k = data.get(("kavach", "sqlite", "client-credentials"))
        if k:
            r = k["rps"] / base["rps"]
            check("client_credentials on sqlite, ratio to baseline", f"{r:.2f}", "≥ 0.3", r >= 0.3)
    floor = data.get(("floor", "sqlite", "durable-write-grouped"))
    for sc in METHODS:
        k = data.get(("kavach", "sqlite", sc))
        if k and base:
            r = k["rps"] / base["rps"]
            of_floor = f"; {k['rps'] / floor['rps']:.2f} of the sqlx floor" if floor else ""
            check(f"{SCENARIOS[sc]} on sqlite, ratio to baseline", f"{r:.2f}{of_floor}", "≥ 0.5", r >= 0.5)
    for db in ("sqlite", "postgres"):
        k, b = data.get(("kavach", db, "get-session")), data.get(("better-auth", db, "get-session"))
        if k and b:
            f = k["rps"] / b["rps"]
            check(f"get-session on {db}, Kavach ÷ better-auth", f"{f:.1f}×", "≥ 20×", f >= 20)
    h = data.get(("kavach-in-process", "-", "password-hash"))
    for db in ("sqlite", "postgres"):
        k = data.get(("kavach", db, "sign-in"))
        if k and h:
            r = k["rps"] / (cores * h["rps"])
            check(f"sign-ins on {db}, share of the Argon2id bound", f"{r:.2f}", "≥ 0.9", r >= 0.9)
    for (s, db, sc), d in data.items():
        e = data.get((s, db.removesuffix("-loaded"), sc)) if db.endswith("-loaded") else None
        if e and d["p99"] and e["p99"]:
            r = d["p99"] / e["p99"]
            check(f"{SCENARIOS.get(sc, sc)} on {db.removesuffix('-loaded')}: p99 loaded ÷ empty",
                  f"{r:.2f} ({fmt_ms(d['p99'])} / {fmt_ms(e['p99'])})", "≤ 1.25", r <= 1.25)
    if checks:
        w("")
        w("Targets (issues 13 and 14) measured by this run:")
        w("")
        w("| target | measured | wanted | |")
        w("|---|---|---|---|")
        lines.extend(checks)
    print("\n".join(lines))
    with open(os.path.splitext(tsv)[0] + ".svg", "w") as f:
        f.write(chart(data, base))


COLOURS = {"baseline": "#888888", "floor": "#bbbbbb", "kavach": "#1f6feb", "kavach-2-instances": "#0b3d91", "better-auth": "#d9822b",
           "better-auth-rs": "#b5651d", "oidc-provider": "#3a9d5d"}


def chart(data, base):
    """Two panels: req/s (log scale) and p99 (log scale), one bar per system and database."""
    import math

    bars = []
    if base:
        bars.append(("baseline", "baseline", base))
    for sc, title in SCENARIOS.items():
        for (s, db, scenario), d in data.items():
            if scenario == sc and s != "baseline":
                bars.append((title, label(s, db), d))
    row_h, top, left, panel_w, gap = 18, 50, 560, 330, 60
    height = top + row_h * len(bars) + 60
    width = left + 2 * panel_w + gap + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">requests/s (median, log scale)</text>',
           f'<text x="{left + panel_w + gap}" y="20" font-size="14" font-weight="bold">p99 latency (log scale)</text>']

    def axis(x0, lo, hi, fmt):
        ticks = [10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
        for t in ticks:
            x = x0 + panel_w * (math.log10(t) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
            if x0 - 1 <= x <= x0 + panel_w + 1:
                out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + row_h * len(bars)}" stroke="#ddd"/>')
                out.append(f'<text x="{x:.1f}" y="{top - 12}" text-anchor="middle" fill="#555">{fmt(t)}</text>')

    rates = [d["rps"] for _, _, d in bars if d["rps"] > 0]
    lats = [d["p99"] for _, _, d in bars if d["p99"]]
    if not rates:
        return "\n".join(out + ["</svg>"])
    r_lo, r_hi = 10 ** math.floor(math.log10(min(rates))), 10 ** math.ceil(math.log10(max(rates)))
    l_lo, l_hi = (10 ** math.floor(math.log10(min(lats))), 10 ** math.ceil(math.log10(max(lats)))) if lats else (0.01, 1000)
    axis(left, r_lo, r_hi, lambda t: f"{t:,.0f}")
    axis(left + panel_w + gap, l_lo, l_hi, lambda t: f"{t:g} ms")
    prev = None
    for i, (title, who, d) in enumerate(bars):
        y = top + i * row_h
        if title != prev:
            out.append(f'<line x1="10" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#bbb"/>')
            out.append(f'<text x="10" y="{y + 13}" font-weight="bold">{html.escape(title)}</text>')
            prev = title
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{html.escape(who)}</text>')
        colour = COLOURS.get(who.split(" ")[0], "#666")
        wr = panel_w * (math.log10(max(d["rps"], r_lo)) - math.log10(r_lo)) / (math.log10(r_hi) - math.log10(r_lo))
        out.append(f'<rect x="{left}" y="{y + 3}" width="{wr:.1f}" height="{row_h - 6}" fill="{colour}"/>')
        out.append(f'<text x="{left + wr + 4:.1f}" y="{y + 13}" fill="#222">{d["rps"]:,.0f}</text>')
        if d["p99"]:
            x0 = left + panel_w + gap
            wl = panel_w * (math.log10(max(d["p99"], l_lo)) - math.log10(l_lo)) / (math.log10(l_hi) - math.log10(l_lo))
            out.append(f'<rect x="{x0}" y="{y + 3}" width="{wl:.1f}" height="{row_h - 6}" fill="{colour}" opacity="0.6"/>')
            out.append(f'<text x="{x0 + wl + 4:.1f}" y="{y + 13}" fill="#222">{fmt_ms(d["p99"])}</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    main()
