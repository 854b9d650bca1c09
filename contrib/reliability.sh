#!/usr/bin/env bash
# Reliability run on the real testbed, as root, in about 10-13 minutes:
#   router faults    tests/faults_router.rs: client router SIGKILLed during a 50 MiB download
#                    and kept away (I2CP port closed) for $I2PSOCKS_FAULT_DOWN_SECS (300) with
#                    i2psocks' CPU and RSS measured; server router restarted
#   load and abuse   tests/abuse.rs (10,000 random-byte clients, silent clients, 1,000 clients
#                    against a 256-fd limit), tests/soak_router.rs (1,000 concurrent SOCKS
#                    connections, then mixed traffic for $I2PSOCKS_SOAK_SECS (360), UDP and
#                    logins with isolation included, with the RSS of both proxies (main and
#                    login) sampled every second; a router that dies stops it at once,
#                    named with its version, minute and log tail; a short check kills srv
#                    to prove it)
#   latency          tests/latency_router.rs: downloads and uploads through i2psocks and
#                    through i2pd's built-in SOCKS, alternately, under router-to-router delay
#                    ($I2PSOCKS_LATENCY_PROFILES, DELAY:JITTER:MIB:ROUNDS, default
#                    0:0:50:1,50:10:8:2,150:30:4:1; ours must finish within
#                    $I2PSOCKS_LATENCY_MAX_SECS (300) s, i2pd's transfers are cut after
#                    $I2PSOCKS_LATENCY_REF_MAX_SECS (60) s and rated by what they moved),
#                    byte-exact, throughput ratio
# All four run at the same time, each on its own testbed (or, for abuse, without a router),
# to fit in 15 minutes on 2 cores: the latency figures are noisier here than in a run of
# tests/latency_router.rs alone (see RELIABILITY.md), but ours and i2pd's transfers
# alternate, so the load hits both alike.
# Prints a table of what was tried and what survived; the full output of every test is kept
# in $RELIABILITY_DIR (default /tmp/i2psocks-reliability-<time>). Exit status 0 only if every
# test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
# Everything is in functions and main runs from the last line: bash reads a script as it
# runs, so editing this file during a run cannot change what the run does.

export I2PSOCKS_REQUIRE_TESTBED=1
export I2PSOCKS_FAULT_DOWN_SECS=${I2PSOCKS_FAULT_DOWN_SECS:-300}
export I2PSOCKS_SOAK_SECS=${I2PSOCKS_SOAK_SECS:-360}
export I2PSOCKS_LATENCY_PROFILES=${I2PSOCKS_LATENCY_PROFILES:-0:0:50:1,50:10:8:2,150:30:4:1}
export I2PSOCKS_LATENCY_REF_MAX_SECS=${I2PSOCKS_LATENCY_REF_MAX_SECS:-60}
export I2PSOCKS_LATENCY_MAX_SECS=${I2PSOCKS_LATENCY_MAX_SECS:-300}
# The bounds of tests/latency_router.rs (its defaults unless set here).
MIN_DOWN=${I2PSOCKS_LATENCY_MIN_RATIO_DOWN:-0.08}
MIN_UP=${I2PSOCKS_LATENCY_MIN_RATIO_UP:-0.8}
DIR=${RELIABILITY_DIR:-/tmp/i2psocks-reliability-$(date +%Y%m%d-%H%M%S)}
START=$EPOCHSECONDS
# RELIABILITY_TESTS="soak_router" (space-separated) runs only those, e.g. the 60-minute
# soak alone (I2PSOCKS_SOAK_SECS=3600) without the others' load beside it.
read -ra TESTS <<<"${RELIABILITY_TESTS:-faults_router abuse soak_router latency_router}"
ROWS=()

say() { printf '[reliability %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((EPOCHSECONDS - START))" "$*" >&2; }

# run_test NAME: cargo test --test NAME -- --nocapture > $DIR/NAME.log; exit code in
# $DIR/NAME.rc, seconds in $DIR/NAME.secs.
run_test() {
	local name=$1 t0=$EPOCHSECONDS rc=0
	cargo test --test "$name" -- --nocapture >"$DIR/$name.log" 2>&1 || rc=$?
	echo "$rc" >"$DIR/$name.rc"
	echo "$((EPOCHSECONDS - t0))" >"$DIR/$name.secs"
}

# status FILE TEST: ok / FAILED / not run. With --nocapture the test's own output often
# comes between libtest's "test NAME ... " and its "ok", so: FAILED when libtest lists it
# under "failures:", ok when its binary exited 0 or the line reads "... ok" whole.
status() {
	local log=$DIR/$1.log
	[[ -f $log ]] && grep -aq "test $2 \.\.\. " "$log" || { echo "not run"; return 0; }
	if grep -aqxF "    $2" "$log"; then
		echo FAILED
	elif [[ $(cat "$DIR/$1.rc" 2>/dev/null) == 0 ]] || grep -aqE "test $2 \.\.\. ok" "$log"; then
		echo ok
	else
		echo FAILED
	fi
}

# fig FILE REGEX: the first match of REGEX (extended) in the log.
fig() { [[ -f $DIR/$1.log ]] && grep -aoE "$2" "$DIR/$1.log" | head -n 1; }

# ran NAME: NAME is one of the tests of this run.
ran() { [[ " ${TESTS[*]} " == *" $1 "* ]]; }

row() { ROWS+=("$1|$2|$3|$4"); }

fault_rows() {
	local kill restart
	kill=$(status faults_router client_router_killed_during_download)
	restart=$(status faults_router server_router_restarted)
	row "Router faults" "cli router SIGKILL during a 50 MiB download" "$kill" \
		"$(fig faults_router 'client saw the close after [^ ]+'); $(fig faults_router 'request while the router is down failed after [^ ]+')"
	row "Router faults" "router away ${I2PSOCKS_FAULT_DOWN_SECS}s (I2CP port closed)" "$kill" \
		"$(fig faults_router 'i2psocks used [0-9.]+ s CPU, RSS [0-9]+ -> [0-9]+ KiB')"
	row "Router faults" "cli router back (same b32)" "$kill" \
		"$(fig faults_router 'first 200 through i2psocks after [^ ]+')"
	row "Router faults" "srv router restarted during a download" "$restart" \
		"$(fig faults_router 'open download ended [^ ]+ after'); $(fig faults_router "LeaseSet published after .*")"
}

load_rows() {
	row "Load and abuse" "10,000 clients sending random bytes" "$(status abuse ten_thousand_clients_sending_random_bytes)" \
		"$(fig abuse '10,000 random clients in [^;]+; [0-9]+ not closed')"
	row "Load and abuse" "100 silent clients (cap 50, handshake timeout 1 s)" "$(status abuse silent_clients_are_freed_by_the_handshake_timeout)" \
		"$(fig abuse 'all closed after [^ ]+')"
	row "Load and abuse" "1,000 clients, ulimit -n 256" "$(status abuse thousand_clients_under_a_256_descriptor_limit)" \
		"$(fig abuse 'held [0-9]+ connections'); $(fig abuse 'served a client [^ ]+ after')"
	row "Load and abuse" "1,000 concurrent SOCKS connections (echo)" "$(status soak_router soak_with_a_thousand_connections)" \
		"$(fig soak_router '[0-9]+ ok in [^;]+; RSS [0-9]+ -> [0-9]+ KiB')"
	row "Load and abuse" "mixed soak ${I2PSOCKS_SOAK_SECS}s, RSS sampled" "$(status soak_router soak_with_a_thousand_connections)" \
		"$(fig soak_router '[0-9]+ operations, [0-9]+ failures'); $(fig soak_router '2nd quarter [0-9]+ KiB, last quarter [0-9]+ KiB') $(fig soak_router 'the soak stopped: router [a-z]+ \([^)]*\) died at minute [0-9]+')"
	row "Load and abuse" "  UDP through the main proxy" "$(status soak_router soak_with_a_thousand_connections)" \
		"$(fig soak_router 'UDP: [0-9]+ datagrams echoed byte for byte, [0-9]+ sent again')"
	row "Load and abuse" "  logins with isolation (second proxy)" "$(status soak_router soak_with_a_thousand_connections)" \
		"$(fig soak_router 'login proxy during the soak: 2nd quarter [0-9]+ KiB, last quarter [0-9]+ KiB'); $(fig soak_router 'returning user: [0-9]+ visits, [0-9]+ ok')"
	# Its inner run fails on purpose, so libtest's line of the inner run says FAILED.
	local death=FAILED
	[[ -n $(fig soak_router 'router-death check passed') ]] && death=ok
	row "Load and abuse" "soak stops at a router's death (srv SIGKILLed)" "$death" \
		"$(fig soak_router 'the soak stopped [^ ]+ after srv.s SIGKILL')"
}

# One row per LATENCY-SUMMARY line; its verdict: every transfer of ours byte-exact and the
# ratio at or above the test's bound for that direction.
latency_rows() {
	local log=$DIR/latency_router.log line d size dir runs exact n ratio bound verdict
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		d=$(sed -E 's/.*delay=([^ ]+).*/\1/' <<<"$line")
		size=$(sed -E 's/.*size=([^ ]+).*/\1/' <<<"$line")
		dir=$(sed -E 's/.* dir=([^ ]+).*/\1/' <<<"$line")
		ratio=$(sed -E 's/.*ratio=([^ ]+).*/\1/' <<<"$line")
		runs=$(grep -aE "^LATENCY delay=$d .* dir=$dir .*proxy=i2psocks" "$log")
		exact=$(grep -c 'exact=true' <<<"$runs")
		n=$(grep -c . <<<"$runs")
		bound=$MIN_DOWN
		[[ $dir == upload ]] && bound=$MIN_UP
		if [[ $exact == "$n" ]] && awk -v r="$ratio" -v b="$bound" 'BEGIN { exit !(r >= b) }'; then
			verdict=ok
		else
			verdict=FAILED
		fi
		local slower=""
		awk -v r="$ratio" 'BEGIN { exit !(r < 1) }' && slower="; i2psocks SLOWER than i2pd"
		row "Latency" "${size} ${dir}s, delay ${d/±/+-} each way" "$verdict" \
			"$(sed -E 's/.*(rtt_median=[^ ]+).*(i2psocks=[^ ]+) (i2pd=[^ ]+) (ratio=[^ ]+).*/\1 \2 \3 \4/' <<<"$line") (bound $bound); exact $exact/$n$slower"
	done < <(grep -a '^LATENCY-SUMMARY' "$log")
	[[ $(grep -ac '^LATENCY-SUMMARY' "$log") -gt 0 ]] ||
		row "Latency" "transfers under delay ($I2PSOCKS_LATENCY_PROFILES)" \
			"$(status latency_router downloads_under_router_to_router_delay)" "no figures (see the log)"
}

print_table() {
	local r a b c d
	printf '\n%-15s | %-50s | %-7s | %s\n' "area" "what was tried" "result" "figures"
	printf '%s\n' "----------------+----------------------------------------------------+---------+-----------------------------------------"
	for r in "${ROWS[@]}"; do
		IFS='|' read -r a b c d <<<"$r"
		printf '%-15s | %-50s | %-7s | %s\n' "$a" "$b" "$c" "$d"
	done
	echo
}

main() {
	if [[ $(id -u) -ne 0 ]]; then
		echo "reliability: needs root (network namespaces, iptables)" >&2
		return 1
	fi
	command -v iptables >/dev/null || {
		echo "reliability: iptables missing: run contrib/install-deps.sh" >&2
		return 1
	}
	mkdir -p "$DIR"
	say "building the test binaries"
	if ! cargo test --no-run "${TESTS[@]/#/--test=}" >"$DIR/build.log" 2>&1; then
		tail -n 30 "$DIR/build.log" >&2
		return 1
	fi
	say "${TESTS[*]} at once (router down ${I2PSOCKS_FAULT_DOWN_SECS}s, soak ${I2PSOCKS_SOAK_SECS}s, latency $I2PSOCKS_LATENCY_PROFILES)"
	local pids=() t rc=0
	for t in "${TESTS[@]}"; do
		run_test "$t" &
		pids+=("$!")
	done
	wait "${pids[@]}"
	ran faults_router && fault_rows
	{ ran abuse || ran soak_router; } && load_rows
	ran latency_router && latency_rows
	print_table
	for t in "${TESTS[@]}"; do
		printf 'cargo test --test %-15s exit %s after %ss\n' "$t" "$(cat "$DIR/$t.rc")" "$(cat "$DIR/$t.secs")"
		[[ $(cat "$DIR/$t.rc") == 0 ]] || rc=1
	done
	echo "total $((EPOCHSECONDS - START))s; logs in $DIR"
	return "$rc"
}

main "$@"; exit
