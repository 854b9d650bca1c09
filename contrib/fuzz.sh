#!/bin/sh
# Run every cargo-fuzz target in fuzz/ for N executions each, one after the other, and print
# executions and wall time per target. See RELIABILITY.md ("Fuzzing").
#
#   contrib/fuzz.sh [RUNS] [TARGET...]      RUNS defaults to 10000000, TARGET to all eight
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked) and a nightly toolchain, or stable with
# RUSTC_BOOTSTRAP=1 (set here automatically when cargo is not nightly). Environment:
#   FUZZ_SANITIZER=none|address   (default none: the crate forbids unsafe code, and ASan costs
#                                  2-10x the executions; use address to check dependencies)
#   FUZZ_MAX_TIME=SECONDS         stop a target after this long even before RUNS (default: none)
# Builds with debug assertions, so integer overflow is a crash too. One process per target
# (no -jobs: the log stays in fuzz/logs/TARGET.log); run
# under nice. Exits non-zero if any target found a crash (reproducer in fuzz/artifacts/).
set -eu

RUNS=${1:-10000000}
[ $# -gt 0 ] && shift
TARGETS=${*:-socks_request i2cp_message streaming_packet keys_file config_ini i2cp_payload data_destination http_connect datagram}
SANITIZER=${FUZZ_SANITIZER:-none}

cd "$(dirname "$0")/../fuzz"
if ! cargo --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
    echo "cargo is not nightly: building with RUSTC_BOOTSTRAP=1" >&2
fi

mkdir -p logs
status=0
summary=""
for t in $TARGETS; do
    mkdir -p "corpus/$t"
    log="logs/$t.log"
    echo "== $t: $RUNS runs (sanitizer $SANITIZER), log fuzz/$log" >&2
    start=$(date +%s)
    set +e
    nice -n 10 cargo fuzz run --sanitizer "$SANITIZER" --debug-assertions "$t" \
        "corpus/$t" "seeds/$t" -- \
        -runs="$RUNS" -print_final_stats=1 -max_len=4096 \
        ${FUZZ_MAX_TIME:+-max_total_time=$FUZZ_MAX_TIME} >"$log" 2>&1
    rc=$?
    set -e
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) ft: [0-9]* corp: \([^ ]*\).*/\1 edges, corpus \2/p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then result=ok; else result="CRASH (rc $rc)"; status=1; fi
    line=$(printf '%-18s %12s execs %6ss (%s/s) %s  [%s]' "$t" "${execs:-?}" "$secs" "${rate:-?}" "$result" "${cov:-?}")
    echo "$line" >&2
    summary="$summary$line
"
done
echo
echo "target               executions   wall time (rate) result  [coverage]"
printf '%s' "$summary"
exit $status
