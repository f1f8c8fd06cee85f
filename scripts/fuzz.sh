#!/usr/bin/env bash
# Fuzz every parser of outside input (fuzz/: cargo-fuzz + libFuzzer, nightly toolchain).
#
#   scripts/fuzz.sh                      short run: every target for FUZZ_SECONDS (default 8) s
#   scripts/fuzz.sh long [seconds]       the long run: every target in turn for [seconds] s (default 600)
#   scripts/fuzz.sh [long [seconds]] T…  only the targets named
#
# Both runs use libFuzzer's fork mode and go on past crashes. Every crashing input is
# replayed afterwards and filed by its signature (the panic's file:line, or the kind of
# failure and the first frame in Kavach's or the targets' code). The run fails (exit 1)
# when it found a crash whose signature is not one of the known crashes; it prints one
# line per target with executions, executions per second (averaged over the run),
# coverage (cov: edges, ft: features), corpus size (files, and libFuzzer's count in use)
# and crashes.
#
# Known crashes: bugs found in Kavach, kept as fuzz/seeds/<target>/crash-* (see
# fuzz/README.md). They are replayed on every run and reported while they still
# reproduce; they are not used as seeds, and inputs that crash the same way are counted
# as known, not new. They fail the run only with FUZZ_STRICT=1. One that no longer
# reproduces is reported: remove or rename it.
#
# Each run starts from fuzz/seeds/<target>/ (committed) plus what earlier runs found in
# fuzz/corpus/<target>/ (git-ignored), with the dictionary fuzz/dicts/<target>.dict.
# Crashing inputs land in fuzz/artifacts/<target>/, logs in fuzz/logs/.
#
# Build: cargo-fuzz's release build with debug assertions and overflow checks, without
# AddressSanitizer (Kavach has no unsafe code, and the C libraries underneath are not
# instrumented anyway; without it the build and the runs are faster), 16 codegen units.
# FUZZ_SANITIZER=address builds with it (a full rebuild, slower).
#
# Environment: FUZZ_SECONDS (short run length), FUZZ_TIMEOUT (seconds one input may take,
# default 30), FUZZ_RSS_MB (default 2048), FUZZ_JOBS (fork-mode jobs, default 1),
# FUZZ_SANITIZER (default none), FUZZ_STRICT (1: known crashes that still reproduce fail).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=short
seconds="${FUZZ_SECONDS:-8}"
if [[ "${1:-}" == long ]]; then
    mode=long
    shift
    seconds=600
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
        seconds="$1"
        shift
    fi
fi
timeout_s="${FUZZ_TIMEOUT:-30}"
rss_mb="${FUZZ_RSS_MB:-2048}"
jobs="${FUZZ_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-none}"
strict="${FUZZ_STRICT:-0}"
# The same flags for the build and every run (a run with other flags would rebuild).
flags=(--sanitizer "$sanitizer" --debug-assertions --codegen-units 16)
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 2
fi
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bindir="$root/fuzz/target/$triple/release"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

mapfile -t all < <(cd fuzz && cargo +nightly fuzz list)
if [[ $# -gt 0 ]]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        if ! printf '%s\n' "${all[@]}" | grep -qx -- "$t"; then
            echo "fuzz.sh: no target $t (targets: ${all[*]})" >&2
            exit 2
        fi
    done
else
    targets=("${all[@]}")
fi

mkdir -p fuzz/logs
echo "fuzz.sh: building ${#targets[@]} targets (sanitizer $sanitizer; a clean build takes several minutes)" >&2
start=$SECONDS
build() {
    (cd fuzz && cargo +nightly fuzz build "${flags[@]}" "$@") >fuzz/logs/build.log 2>&1 || {
        tail -n 30 fuzz/logs/build.log >&2
        echo "fuzz.sh: build failed" >&2
        exit 1
    }
}
if [[ ${#targets[@]} -eq ${#all[@]} ]]; then
    build
else
    for t in "${targets[@]}"; do build "$t"; done
fi
echo "fuzz.sh: built in $((SECONDS - start))s" >&2

# Run one input through a target's binary; its output goes to $2. Fails if it crashed.
replay() {
    local t=$1 input=$2 out=$3
    timeout $((2 * timeout_s + 60)) "$bindir/$t" -runs=1 -rss_limit_mb="$rss_mb" -timeout="$timeout_s" "$input" >"$out" 2>&1
}

# The signature of a crash from its replay's output: where it panicked, or the kind of
# failure and the first frame in Kavach's or the targets' own code.
signature() {
    local out=$1 at kind frame
    at=$(grep -m 1 -oE 'panicked at [^ ]+:[0-9]+:[0-9]+' "$out" | sed 's/^panicked at //' || true)
    if [[ -n "$at" ]]; then
        echo "panic at ${at#"$root"/}"
        return
    fi
    kind=$(grep -m 1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+' "$out" | sed 's/^ERROR: //' || true)
    frame=$(grep -m 1 -oE " in [^ ]+ $root/(crates|fuzz)/[^ ]+" "$out" | sed "s| in \([^ ]*\) $root/| \1 |" || true)
    echo "${kind:-crash without a report}${frame:+ in$frame}"
}

failed=0
summary=()
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    artifacts="fuzz/artifacts/$t"
    log="fuzz/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "fuzz/logs/$t.replays"
    # Seeds (not the known crashes) into the working corpus.
    known=()
    if [[ -d "fuzz/seeds/$t" ]]; then
        for s in "fuzz/seeds/$t"/*; do
            [[ -f "$s" ]] || continue
            case "$(basename "$s")" in
                crash-* | oom-* | timeout-* | leak-*) known+=("$s") ;;
                *) cp -n "$s" "$corpus/seed-$(basename "$s")" ;;
            esac
        done
    fi

    # Known crashes: replayed, their signatures noted.
    still=0
    known_sigs=()
    for k in "${known[@]}"; do
        out="fuzz/logs/$t.replays/known-$(basename "$k").log"
        if replay "$t" "$k" "$out"; then
            echo "$t: known crash $k no longer reproduces (fixed? remove or rename it)" >&2
        else
            still=$((still + 1))
            sig=$(signature "$out")
            known_sigs+=("$sig")
            echo "$t: known crash $k still reproduces: $sig" >&2
        fi
    done

    marker="fuzz/logs/$t.start"
    touch "$marker"
    args=(-max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" -print_final_stats=1
        -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    [[ -f "fuzz/dicts/$t.dict" ]] && args+=(-dict="$root/fuzz/dicts/$t.dict")
    status=0
    began=$SECONDS
    (cd fuzz && cargo +nightly fuzz run "${flags[@]}" "$t" "$root/$corpus" -- "${args[@]}") >"$log" 2>&1 || status=$?
    took=$((SECONDS - began))

    # Every input that crashed in this run, filed by signature.
    new=0
    again=0
    new_sigs=()
    while IFS= read -r a; do
        [[ -n "$a" ]] || continue
        out="fuzz/logs/$t.replays/$(basename "$a").log"
        replay "$t" "$a" "$out" && sig="no longer crashes on replay (flaky: timing, memory)" || sig=$(signature "$out")
        if printf '%s\n' "${known_sigs[@]}" | grep -qxF -- "$sig"; then
            again=$((again + 1))
        else
            new=$((new + 1))
            if ! printf '%s\n' "${new_sigs[@]}" | grep -qF -- "$sig"; then
                new_sigs+=("$sig  e.g. $a")
            fi
        fi
    done < <(find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) -newer "$marker" | sort)

    # Figures from libFuzzer's last status line in fork mode:
    # "#N: cov: C ft: F corp: P exec/s: E oom/timeout/crash: a/b/c time: Ts job: J ...".
    last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -n 1 || true)
    field() { grep -oE "(^| )$1 [0-9]+" <<<"$last" | grep -oE '[0-9]+$' || true; }
    execs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#' || true)
    cov=$(field 'cov:')
    ft=$(field 'ft:')
    corp=$(field 'corp:')
    elapsed=$(field 'time:')
    eps='?'
    [[ -n "$execs" && "${elapsed:-0}" -gt 0 ]] && eps=$((execs / elapsed))
    size=$(find "$corpus" -type f | wc -l)

    verdict=ok
    if [[ $status -ne 0 || -z "$last" || $new -gt 0 || ($strict == 1 && $still -gt 0) ]]; then
        verdict=FAIL
        failed=1
    fi
    line=$(printf '%-16s %-4s execs %-10s exec/s %-6s cov %-5s ft %-6s corpus %-5s (in use %-5s) crashes: new %s, known %s | known crash seeds still crashing %s/%s | %ss' \
        "$t" "$verdict" "${execs:-?}" "$eps" "${cov:-?}" "${ft:-?}" "$size" "${corp:-?}" "$new" "$again" "$still" "${#known[@]}" "$took")
    echo "$line"
    summary+=("$line")
    for s in "${new_sigs[@]}"; do
        echo "  new crash: $s" >&2
        summary+=("  new crash: $s")
    done
    if [[ $status -ne 0 || -z "$last" ]]; then
        echo "  $t: libFuzzer exited with status $status$([[ -z "$last" ]] && echo ', no status line'): see $log" >&2
        tail -n 15 "$log" >&2
    fi
done

echo
echo "fuzz.sh $mode run, ${seconds}s per target (sanitizer $sanitizer, fork jobs $jobs):"
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
    echo "fuzz.sh: FAILED (crash inputs in fuzz/artifacts/<target>/, replay logs in fuzz/logs/<target>.replays/)"
    exit 1
fi
echo "fuzz.sh: no new crashes"
