#!/usr/bin/env bash
# Functions called indirectly (wait_until "$@", traps) look unreachable (SC2317) to the
# linter because the script ends with `main "$@"; exit` on one line:
# shellcheck disable=SC2317
# testbed.sh: a private I2P network of three real i2pd routers inside a network namespace.
#
# Facts behind every choice here: contrib/testbed/README.md ("Pitfalls").
#   ff  198.18.0.1:17001  floodfill only
#   srv 198.18.0.2:17002  tunnels: web (http -> :8080), echo (server -> :8081), udpecho (udpserver -> :8082); I2CP 127.0.0.1:7655
#   cli 198.18.0.3:17003  I2CP 127.0.0.1:7654, i2pd's own SOCKS (the reference) on 127.0.0.1:4448
# 127.0.0.1:4447 stays free for i2psocks. The namespace has only `lo`: nothing leaves it.
#
# Usage:
#   testbed.sh up [--name NAME] [--big-mib N] [--loglevel LEVEL] [--timeout SECONDS]
#                 [--router R] [--ff R] [--srv R] [--cli R|java] [--hops 0|1|2|3]
#                 [--relays N] [--floodfills N] [--srv-i2cp]
#       prints progress on stderr and the path of the env file as the LAST line of stdout
#       R: an i2pd version (2.45.1, 2.56.0, 2.59.0: contrib/routers/i2pd.sh) or a path
#       --hops (or TESTBED_HOPS): tunnel length of every pool; default 1 if any role runs
#       i2pd 2.57.0-2.59.0, else 0 (see choose_hops)
#       --relays N (TESTBED_RELAYS): N more i2pd routers (relay1..) that only carry transit
#       tunnels; --floodfills N (TESTBED_FLOODFILLS): N more floodfills (ff2..); both run
#       ff's router and default to 0 (the three-router lab)
#       --srv-i2cp (TESTBED_SRV_I2CP=1): srv also serves I2CP on 127.0.0.1:7655 (SRV_I2CP_PORT
#       in the env file), for contrib/bench --ceiling
#   testbed.sh down NAME | down --env FILE
#   testbed.sh exec NAME -- CMD [ARGS...]
#   testbed.sh stop-router NAME ff|srv|cli      testbed.sh start-router NAME ff|srv|cli
#   testbed.sh stop-service NAME web|echo|udpecho  testbed.sh start-service NAME web|echo|udpecho
#   testbed.sh wait-ready NAME [--timeout SECONDS]
#   testbed.sh delay NAME MS JITTER_MS [LOSS_PERCENT]   testbed.sh rtt NAME [COUNT]
#   testbed.sh hops NAME          the hops of srv's and cli's client tunnels, by router name
#   testbed.sh list
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TBUTIL="$SCRIPT_DIR/tbutil.py"
ROUTERS_DIR=$(cd "$SCRIPT_DIR/../routers" && pwd)
# Default router for every role: I2PD=/path (as before), else Debian bookworm's 2.45.1.
DEFAULT_ROUTER=${TESTBED_ROUTER:-${I2PD:-2.45.1}}
PYTHON=${PYTHON:-python3}
STATE_PREFIX=/tmp/i2psocks-testbed-

# Addresses: i2pd 2.45.1 rejects NTCP2 peers in 127/8, 10/8, 172.16/12, 192.168/16 whatever
# `reservedrange` says; its 198.18/15 entry has a typo, so 198.18.0.x works (README.md "Pitfalls").
declare -A ROUTER_IP=([ff]=198.18.0.1 [srv]=198.18.0.2 [cli]=198.18.0.3)
declare -A ROUTER_PORT=([ff]=17001 [srv]=17002 [cli]=17003)
declare -A CONSOLE_PORT=([ff]=7071 [srv]=7072 [cli]=7070)
I2CP_PORT=7654
# srv's own I2CP (contrib/bench --ceiling opens a session on each router); nothing else uses it.
SRV_I2CP_PORT=7655
# Whether srv opens I2CP on SRV_I2CP_PORT (up --srv-i2cp, TESTBED_SRV_I2CP=1): only the ceiling
# measurement (contrib/bench --ceiling) needs a session on srv; the tests' lab leaves it off.
SRV_I2CP=${TESTBED_SRV_I2CP:-0}
REF_SOCKS_PORT=4448
I2PSOCKS_PORT=4447
# NFQUEUE number of the delay element (contrib/testbed/netdelay.py), and what it delays:
# packets from one router address to another, never the 127.0.0.1 traffic (I2CP, SOCKS,
# services).
DELAY_QUEUE=7
ROUTER_NET=198.18.0.0/24
WEB_PORT=8080
ECHO_PORT=8081
UDP_ECHO_PORT=8082
# A b32 that exists nowhere: ff and srv need some non-empty addressbook URL (see write_router_conf).
DUMMY_B32=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b32.i2p
# Outer limit for a router or service to start listening, write its keys or RouterInfo:
# only a hung start reaches it (a process that dies fails the wait at once), so it is
# generous for a loaded machine (a JVM starting next to compilers takes tens of seconds).
START_LIMIT=${TESTBED_START_LIMIT:-120}
# `up`: the first attempt counts as broken (and the routers start again from scratch) when
# a readiness stage (web through the reference SOCKS, then echo) has made no progress for
# this long; later attempts wait until the overall deadline.
STALL_LIMIT=${TESTBED_STALL_LIMIT:-45}

NAME=""
HOPS=0
# Extra routers of a larger lab (--floodfills, --relays), in start order: ff2.. then
# relay1... Empty in the three-router lab, so every loop over them is a no-op there.
EXTRA_ROLES=()
NS=""
STATE=""
UP_IN_PROGRESS=0
UP_ATTEMPTS=0
# Set by the restart/readiness commands: their failures show the log tails too (up's
# failure path prints them itself, before tearing down).
DUMP_ON_DIE=0

log() { printf '[testbed %s %s] %s\n' "${NAME:-?}" "$(date +%H:%M:%S.%3N)" "$*" >&2; }
die() {
	log "ERROR: $*"
	if [[ $DUMP_ON_DIE == 1 ]]; then dump_logs; fi
	exit 1
}
usage() {
	sed -n '13,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# Seconds since the epoch with microseconds (bash 5), for deadlines and timings.
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# past DEADLINE: true once the clock passed DEADLINE.
past() { awk -v n="$(now)" -v d="$1" 'BEGIN { exit !(n >= d) }'; }
deadline_in() { awk -v n="$(now)" -v s="$1" 'BEGIN { printf "%.6f", n + s }'; }
since() { awk -v n="$(now)" -v t="$1" 'BEGIN { printf "%.2f", n - t }'; }

valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]]; }

set_name() {
	valid_name "$1" || die "invalid testbed name '$1' (1-32 of [A-Za-z0-9_.-])"
	NAME=$1
	NS=$1
	STATE="$STATE_PREFIX$1"
}

netns_exists() { [[ -e /run/netns/$1 ]] || ip netns list | awk '{print $1}' | grep -qxF -- "$1"; }
in_ns() { ip netns exec "$NS" "$@"; }

# ---------------------------------------------------------------- processes

# pid_is_ours PID: alive (not a zombie) and its command line names our state dir, so a
# recycled PID never gets a signal from us.
pid_is_ours() {
	local pid=$1 stat state cmdline try
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# /proc/PID/cmdline reads empty for a moment while the process execs (ip -> pyenv
	# shim -> python, ip -> i2pd), so an empty read of a live process is retried.
	for try in 1 2 3 4 5 6 7 8 9 10; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
		state=${stat##*) }
		state=${state%% *}
		[[ $state != Z && $state != X ]] || return 1
		# 2>/dev/null before the input redirection: a process gone between the two reads
		# makes the redirection itself fail, and bash reports that on the stderr it has
		# at that moment.
		cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
		[[ -n $cmdline ]] && break
		[[ $try -lt 10 ]] && sleep 0.02
	done
	[[ $cmdline == *"$STATE"* ]]
}

pid_of() {
	local f="$STATE/pids/$1"
	[[ -f $f ]] && cat "$f"
}

proc_running() {
	local pid
	pid=$(pid_of "$1") || return 1
	pid_is_ours "$pid"
}

# stop_procs TIMEOUT ROLE...: SIGTERM (i2pd stops at once on SIGTERM; SIGINT would start a
# 10-minute graceful shutdown), wait up to TIMEOUT s, then SIGKILL what is left.
stop_procs() {
	local timeout=$1 role pid deadline left
	shift
	for role in "$@"; do
		pid=$(pid_of "$role") || continue
		if pid_is_ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	deadline=$(deadline_in "$timeout")
	while :; do
		left=()
		for role in "$@"; do
			pid=$(pid_of "$role") || continue
			if pid_is_ours "$pid"; then left+=("$role"); fi
		done
		[[ ${#left[@]} -eq 0 ]] && break
		if past "$deadline"; then
			log "still running after ${timeout}s: ${left[*]}; sending SIGKILL"
			for role in "${left[@]}"; do
				pid=$(pid_of "$role") || continue
				if pid_is_ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
			done
			deadline=$(deadline_in 5)
			while :; do
				left=()
				for role in "$@"; do
					pid=$(pid_of "$role") || continue
					if pid_is_ours "$pid"; then left+=("$role"); fi
				done
				[[ ${#left[@]} -eq 0 ]] && break
				past "$deadline" && die "could not kill: ${left[*]}"
				sleep 0.05
			done
			break
		fi
		sleep 0.05
	done
	for role in "$@"; do rm -f "$STATE/pids/$role"; done
}

# launch ROLE LOGFILE CMD...: start CMD in the namespace in the background; record its PID.
# `ip netns exec` execs CMD, so $! is CMD's own PID. All stdio goes to files: callers that
# read our stdout (the Rust tests) must not be kept waiting by a daemon holding the pipe.
launch() {
	local role=$1 logfile=$2
	shift 2
	if proc_running "$role"; then die "$role is already running (pid $(pid_of "$role"))"; fi
	ip netns exec "$NS" "$@" </dev/null >>"$logfile" 2>&1 &
	echo "$!" >"$STATE/pids/$role"
}

# listening IP:PORT: true once something listens on exactly that address in the namespace.
listening() { [[ -n $(in_ns ss -Htln "src $1") ]]; }
listening_udp() { [[ -n $(in_ns ss -Huln "src $1") ]]; }

# wait_until TIMEOUT WHAT ROLE CMD...: poll CMD every 50 ms; fail if ROLE's process dies.
wait_until() {
	local timeout=$1 what=$2 role=$3 deadline
	shift 3
	deadline=$(deadline_in "$timeout")
	until "$@"; do
		if [[ -n $role ]] && ! proc_running "$role"; then die "$role died while waiting for $what"; fi
		past "$deadline" && die "timed out after ${timeout}s waiting for $what"
		sleep 0.05
	done
}

# ---------------------------------------------------------------- configs

# write_router_conf ROLE: i2pd.conf for one router (README.md "Pitfalls").
write_router_conf() {
	local role=$1 d="$STATE/$1"
	local floodfill=false i2cp=false socks=false addressbook=false book_url="http://$DUMMY_B32/hosts.txt"
	local http_console=true transit_line="" i2cp_port=$I2CP_PORT
	# With relays in the lab, only they carry transit tunnels: the others publish the
	# reject-all congestion cap (G), which i2pd 2.59's hop selection skips
	# (NetDb::GetRandomRouter, RouterInfo::IsHighCongestion), so every hop is a relay.
	if (($(num_relays) > 0)) && [[ $role != relay* ]]; then transit_line=$'\nnotransit = true'; fi
	case $role in
	ff | ff[0-9]*) floodfill=true ;;
	srv) if [[ $SRV_I2CP == 1 ]]; then i2cp=true i2cp_port=$SRV_I2CP_PORT; fi ;;
	cli)
		i2cp=true
		socks=true
		addressbook=true
		book_url="http://$WEB_B32/hosts.txt"
		;;
	esac
	cat >"$d/i2pd.conf" <<EOF
## generated by i2psocks contrib/testbed/testbed.sh for router '$role' of testbed '$NAME'
## isolated lab inside netns '$NS': do not use on a real network.
## datadir, tunconf, tunnelsdir, pidfile, log and logfile are given on the command line.
loglevel = $LOGLEVEL
daemon = false
certsdir = /usr/share/i2pd/certificates
ipv4 = true
ipv6 = false
## i2pd 2.45.1 rejects peers in 127/8, 10/8, 172.16/12, 192.168/16 (reservedrange only
## affects outgoing checks); 198.18/15 slips through a typo in its table.
host = ${ROUTER_IP[$role]}
address4 = ${ROUTER_IP[$role]}
nat = false
port = ${ROUTER_PORT[$role]}
floodfill = $floodfill
bandwidth = X
reservedrange = false${transit_line}

[ntcp2]
enabled = true
published = true
port = ${ROUTER_PORT[$role]}

[ssu2]
## NTCP2 only, for determinism
enabled = false

[http]
enabled = $http_console
address = 127.0.0.1
port = ${CONSOLE_PORT[$role]}
strictheaders = false

[httpproxy]
## off: with the default keys (transient-proxy) SOCKS would share the HTTP proxy's
## destination and ignore the [socksproxy] tunnel options
enabled = false

[socksproxy]
## i2pd's own SOCKS is the reference; 4447 is left free for i2psocks
enabled = $socks
address = 127.0.0.1
port = $REF_SOCKS_PORT
inbound.length = $HOPS
outbound.length = $HOPS

[sam]
enabled = false

[bob]
enabled = false

[i2cp]
enabled = $i2cp
address = 127.0.0.1
port = $i2cp_port

[i2pcontrol]
enabled = false

[upnp]
enabled = false

[nettime]
enabled = false

[reseed]
## no servers and no threshold: the routers know each other from netDb files copied before start
urls =
threshold = 0

[addressbook]
## never empty: i2pd 2.45.1 aborts 3 minutes after start on an empty subscription URL
enabled = $addressbook
defaulturl = $book_url
subscriptions = $book_url

[exploratory]
inbound.length = $HOPS
outbound.length = $HOPS
inbound.quantity = 2
outbound.quantity = 2
EOF
}

write_srv_tunnels() {
	cat >"$STATE/srv/tunnels.conf" <<EOF
[web]
type = http
host = 127.0.0.1
port = $WEB_PORT
keys = web-keys.dat
inbound.length = $HOPS
outbound.length = $HOPS

[echo]
type = server
host = 127.0.0.1
port = $ECHO_PORT
keys = echo-keys.dat
inbound.length = $HOPS
outbound.length = $HOPS

[udpecho]
type = udpserver
host = 127.0.0.1
port = $UDP_ECHO_PORT
keys = udpecho-keys.dat
inbound.length = $HOPS
outbound.length = $HOPS
EOF
}

make_web_root() {
	local www="$STATE/www" big_mib=$1
	mkdir -p "$www"
	printf '<!doctype html>\n<title>i2psocks testbed %s</title>\n<p>i2psocks testbed web service</p>\n' "$NAME" >"$www/index.html"
	head -c 1024 /dev/urandom >"$www/1k.bin"
	head -c "$((big_mib * 1048576))" /dev/urandom >"$www/big.bin"
	(cd "$www" && sha256sum 1k.bin big.bin >SHA256SUMS)
}

# ---------------------------------------------------------------- starting things

# ---------------------------------------------------------------- routers per role

# resolve_router ROLE SPEC: find the router for ROLE (SPEC: an i2pd version or path, or
# `java` for cli) without building anything, and record "KIND VERSION PATH" in
# $STATE/routers/ROLE ("i2pd 2.59.0 /var/cache/.../i2pd", "java 2.7.0 /dir/of/jars"), so
# a later start-router uses the same binary.
resolve_router() {
	local role=$1 spec=$2 path version err="$STATE/routers/$1.err"
	mkdir -p "$STATE/routers"
	if [[ $spec == java ]]; then
		[[ $role == cli ]] || die "only cli can be a Java I2P router (asked for $role)"
		path=$("$ROUTERS_DIR/java-i2p.sh" 2>"$err" | tail -n 1) || true
		[[ -n $path && -d $path ]] || die "no Java I2P for cli: $(tail -n 1 "$err")"
		printf 'java 2.7.0 %s\n' "$path" >"$STATE/routers/$role"
		return 0
	fi
	path=$("$ROUTERS_DIR/i2pd.sh" --no-build "$spec" 2>"$err" | tail -n 1) || true
	[[ -n $path && -x $path ]] || die "no i2pd '$spec' for $role: $(tail -n 1 "$err")"
	version=$("$path" --version 2>/dev/null | sed -n '1s/^i2pd version \([0-9][0-9.]*\).*/\1/p')
	printf 'i2pd %s %s\n' "${version:-unknown}" "$path" >"$STATE/routers/$role"
}

# ---------------------------------------------------------------- extra routers

# add_extra_roles FLOODFILLS RELAYS: name the extra routers (ff2.., relay1..) and give each
# its own address, NTCP2 port and console port: the J-th extra router listens on
# 198.18.0.(10+J):(17010+J), its console on 127.0.0.1:(7080+J).
add_extra_roles() {
	local nff=$1 nrelay=$2 i j=0 role
	EXTRA_ROLES=()
	for ((i = 2; i <= nff + 1; i++)); do EXTRA_ROLES+=("ff$i"); done
	for ((i = 1; i <= nrelay; i++)); do EXTRA_ROLES+=("relay$i"); done
	for role in "${EXTRA_ROLES[@]}"; do
		j=$((j + 1))
		ROUTER_IP[$role]=198.18.0.$((10 + j))
		ROUTER_PORT[$role]=$((17010 + j))
		CONSOLE_PORT[$role]=$((7080 + j))
	done
}

# load_extras: the extra routers of a running testbed ($STATE/extras: "FLOODFILLS RELAYS",
# written by up only when there are any).
load_extras() {
	local nff nrelay
	[[ -f $STATE/extras ]] || return 0
	read -r nff nrelay <"$STATE/extras"
	add_extra_roles "$nff" "$nrelay"
}

# num_relays: how many relay routers the lab has.
num_relays() {
	local role n=0
	for role in "${EXTRA_ROLES[@]}"; do [[ $role == relay* ]] && n=$((n + 1)); done
	printf '%s' "$n"
}

is_extra_role() {
	local role
	for role in "${EXTRA_ROLES[@]}"; do [[ $role == "$1" ]] && return 0; done
	return 1
}

# start_extras: start the extra floodfills, then the relays, one at a time. Each one gets
# the RouterInfos of ff and of every extra router started before it, so it reaches the lab
# at once; srv and cli get all of them before they start (start_routers), and the routers
# started earlier learn the later ones from the floodfills, where every router publishes
# its RouterInfo.
start_extras() {
	local role other started=(ff)
	for role in "${EXTRA_ROLES[@]}"; do
		mkdir -p "$STATE/$role/data/netDb" "$STATE/$role/tunnels.d"
		: >"$STATE/$role/tunnels.conf"
		write_router_conf "$role"
		for other in "${started[@]}"; do copy_ri "$other" "$role"; done
		log "starting $role"
		start_router "$role"
		wait_until "$START_LIMIT" "$role router.info" "$role" ri_name_ok "$STATE/$role/data/router.info"
		started+=("$role")
	done
}

# router_field ROLE 1|2|3: kind, version or path of ROLE's router.
router_field() { cut -d' ' -f"$2" "$STATE/routers/$1"; }
is_java() { [[ -f $STATE/routers/$1 && $(router_field "$1" 1) == java ]]; }
# router_label ROLE: "i2pd-2.59.0", "java-2.7.0".
router_label() { printf '%s-%s' "$(router_field "$1" 1)" "$(router_field "$1" 2)"; }

# api_patch ROLE: the I2P API version's last number an i2pd role announces (57 for
# "i2pd version 2.45.1 (0.9.57)"), 64 for Java I2P 2.7.0 (0.9.64).
api_patch() {
	if is_java "$1"; then
		printf '64'
		return 0
	fi
	"$(router_field "$1" 3)" --version 2>/dev/null | sed -n '1s/^i2pd version [0-9.]* (0\.9\.\([0-9]*\)).*/\1/p'
}

# check_versions: refuse at once a mix whose routers would ignore each other. Facts:
# i2pd 2.56.0 uses floodfills from 0.9.59 on, 2.59.0 from 0.9.62 on and accepts no router
# older than 0.9.58 (NETDB_MIN_FLOODFILL_VERSION, NETDB_MIN_ALLOWED_VERSION in their
# libi2pd/NetDb.hpp); Java I2P 2.7.0 queries floodfills from 0.9.59 on
# (StoreJob.shouldStoreTo). Versions between the measured ones get the older rule.
check_versions() {
	local role other api min_ff min_any
	declare -A api=()
	for role in ff srv cli; do
		api[$role]=$(api_patch "$role")
		[[ -n ${api[$role]} ]] || return 0 # unknown build: let it try
	done
	for role in srv cli; do
		min_ff=0
		if is_java "$role" || ((api[$role] >= 65)); then min_ff=59; fi
		if ((api[$role] >= 68)) && ! is_java "$role"; then min_ff=62; fi
		if ((api[ff] < min_ff)); then
			die "$role ($(router_label "$role")) ignores ff ($(router_label ff), 0.9.${api[ff]}) as a floodfill: it needs 0.9.$min_ff or later; choose a newer --ff (see contrib/testbed/README.md, Routers per role)"
		fi
	done
	for role in ff srv cli; do
		min_any=0
		if ((api[$role] >= 68)) && ! is_java "$role"; then min_any=58; fi
		for other in ff srv cli; do
			if ((api[$other] < min_any)); then
				die "$role ($(router_label "$role")) accepts no router older than 0.9.$min_any, and $other is $(router_label "$other") (0.9.${api[$other]}); see contrib/testbed/README.md, Routers per role"
			fi
		done
	done
}

# deadlocks_at_zero_hops ROLE: true for i2pd 2.57.0 to 2.59.0. Their
# libi2pd/TunnelPool.cpp (TunnelPool::TestTunnels, "create new tunnel immediately because
# last one failed", new in 2.57.0) builds a replacement for a pool's last failed tunnel
# while it holds that pool's tunnel mutex; a zero-hop tunnel is ready at once, and
# TunnelPool::TunnelCreated locks the same std::mutex again: the router's tunnel thread
# and (with i2cp.singlethread) its I2CP thread stop for good. With 1 hop or more the build
# only sends a request, and TunnelCreated runs later without the lock. 2.56.0 and earlier
# lack that code; add a later version here if it still has it (README.md, Tunnel length).
deadlocks_at_zero_hops() {
	is_java "$1" && return 1
	local v
	v=$(router_field "$1" 2)
	[[ $v =~ ^2\.(57|58|59)\.[0-9]+$ ]]
}

# choose_hops GIVEN: set HOPS, the length of every tunnel pool in the testbed (routers'
# exploratory tunnels, i2pd's own SOCKS proxy, srv's server tunnels, Java's client
# tunnels, and i2psocks' session through its copy of cli's [socksproxy]). GIVEN (--hops or
# TESTBED_HOPS) wins; otherwise 1 if any role would deadlock at zero hops, else 0 (the
# fastest set-up). Three routers are enough peers for 1-hop tunnels.
choose_hops() {
	local given=$1 role
	if [[ -n $given ]]; then
		[[ $given =~ ^[0-3]$ ]] || die "--hops / TESTBED_HOPS must be 0, 1, 2 or 3 (got '$given')"
		HOPS=$given
		log "tunnels of $HOPS hop(s), as asked"
		return 0
	fi
	HOPS=0
	for role in ff srv cli; do
		if deadlocks_at_zero_hops "$role"; then
			HOPS=1
			log "tunnels of 1 hop: $role runs $(router_label "$role"), which deadlocks with zero-hop tunnels (README.md, Tunnel length)"
			return 0
		fi
	done
}

router_args() {
	local d="$STATE/$1"
	printf '%s\n' "$(router_field "$1" 3)" --datadir="$d/data" --conf="$d/i2pd.conf" --tunconf="$d/tunnels.conf" \
		--tunnelsdir="$d/tunnels.d" --pidfile="$d/i2pd.pid" --log=file --logfile="$d/i2pd.log"
}

# Java I2P as cli: the router (I2CP, NTCP2 on cli's address, joined to the lab through
# ff's RouterInfo in its netDb) and, in a second JVM, an I2PTunnel `sockstunnel` as the
# reference SOCKS proxy (Java I2P's own SOCKS 4/4a/5 proxy). Both use cli's datadir as
# their config dir, so the netDb files and hosts.txt are where the i2pd roles have them.
write_java_conf() {
	local c="$STATE/cli/data"
	cat >"$c/router.config" <<EOF
# generated by i2psocks contrib/testbed/testbed.sh for router 'cli' of testbed '$NAME'
# isolated lab inside netns '$NS': do not use on a real network.
router.reseedDisable=true
time.disabled=true
i2np.upnp.enable=false
i2np.udp.enable=false
i2np.ipv6=false
i2np.ntcp.ipv6=false
i2np.ntcp.enable=true
i2np.ntcp.autoip=false
i2np.ntcp.hostname=${ROUTER_IP[cli]}
i2np.ntcp.port=${ROUTER_PORT[cli]}
i2np.ntcp.bindInterface=${ROUTER_IP[cli]}
# 198.18/15 is not publicly routable: without this Java ignores the lab's addresses.
i2np.allowLocal=true
i2cp.disableInterface=false
i2cp.hostname=127.0.0.1
i2cp.port=$I2CP_PORT
router.floodfillParticipant=false
# Inbound pools zero-hop, outbound ones as the lab's: see java_client_hops.
router.inboundPool.length=0
router.outboundPool.length=$HOPS
# Java's defaults (tens of KB/s) would throttle the lab's bulk transfers, and its build
# executor allows no tunnel builds at all while the average build takes over 975 ms
# (BuildExecutor.allowed, Java I2P 2.7.0), which two busy cores reach easily.
i2np.bandwidth.inboundKBytesPerSecond=100000
i2np.bandwidth.outboundKBytesPerSecond=100000
router.tunnelConcurrentBuilds=4
# One job runner, so the netDb files (ff's and srv's RouterInfo) are read only once the
# netDb accepts them. Java I2P 2.7.0 queues their read job before it marks the netDb ready
# (KademliaNetworkDatabaseFacade.startup, new PersistentDataStore), and a RouterInfo that a
# second runner reads in between is dropped without a word (store() returns at
# "if (!_initialized)") and never read again (ReadJob rereads only changed netDb/r*
# folders). Without ff's RouterInfo the router never reaches the lab: "CPS requested 1
# got 0" for minutes. See contrib/testbed/README.md, "Java I2P as cli".
router.maxJobRunners=1
# Java I2P 2.7.0 refuses every I2CP session beyond i2cp.maxSessions (default 50, at most
# 2048), counted router-wide over all clients and subsessions, with Disconnect "session
# limit exceeded" (router/java/src/net/i2p/router/client/ClientManager.java,
# locked_getNextSessionId; ClientMessageEventListener.java). tests/auth_router.rs runs 50
# isolated users at once beside i2psocks' shared session, detours and the reference SOCKS.
i2cp.maxSessions=256
i2p.naming.impl=net.i2p.client.naming.HostsTxtNamingService
EOF
	# --loglevel for Java's logs too (both JVMs read logger.config from their config dir).
	local level=${LOGLEVEL^^}
	[[ $level != NONE ]] || level=CRIT
	printf 'logger.defaultLevel=%s\nlogger.logFileName=logs/log-@.txt\n' "$level" >"$c/logger.config"
}

# java_client_hops: "INBOUND OUTBOUND" tunnel lengths for the client sessions on a Java
# cli (its reference SOCKS and i2psocks). Java I2P 2.7.0 gives every I2CP client its own
# netDb, which never holds RouterInfos, and IterativeSearchJob.sendQuery refuses to send
# a lookup through a zero-hop outbound tunnel to a floodfill that the client's netDb does
# not hold ("not doing zero-hop lookup to unknown"): with zero-hop client tunnels every
# b32 lookup fails at once. So the outbound length is at least 1. Inbound stays zero-hop:
# Java takes only routers whose caps have R as inbound gateways
# (TunnelPeerSelector.allowAsIBGW), and the lab's i2pd routers never publish R (i2pd
# sets it after an SSU2 peer test, and the lab runs NTCP2 only).
java_client_hops() {
	printf '0 %s\n' "$((HOPS > 0 ? HOPS : 1))"
}

# java_socksproxy_hops FILE: the [socksproxy] tunnel lengths in an i2pd.conf copy for
# i2psocks on a Java cli (java_client_hops).
java_socksproxy_hops() {
	local ib ob
	read -r ib ob < <(java_client_hops)
	sed -i "/^\[socksproxy\]/,/^\[/{s/^inbound\.length = .*/inbound.length = $ib/;s/^outbound\.length = .*/outbound.length = $ob/}" "$1"
}

# java_props DIR: system properties for a JVM whose every I2P directory is DIR.
java_props() {
	local c=$1
	printf '%s\n' -Djava.net.preferIPv4Stack=true -Di2p.dir.base="$c" -Di2p.dir.config="$c" \
		-Di2p.dir.router="$c" -Di2p.dir.app="$c" -Di2p.dir.log="$c" -Di2p.dir.pid="$c" \
		-Di2p.naming.impl=net.i2p.client.naming.HostsTxtNamingService
}

java_router_listening() {
	listening "${ROUTER_IP[cli]}:${ROUTER_PORT[cli]}" && listening "127.0.0.1:$I2CP_PORT"
}

start_java_cli() {
	local jars props role ib ob
	jars=$(router_field cli 3)
	read -r ib ob < <(java_client_hops)
	# Java does not bind its outgoing NTCP2 connections to its own address, and on the
	# shared `lo` the kernel would take the peer's address as the source: i2pd then sees a
	# connection from its own address ("Host mismatch between published address ... and
	# actual endpoint") and drops it. The i2pd roles bind theirs, so only Java follows this
	# preferred source.
	for role in ff srv; do
		in_ns ip route replace table local local "${ROUTER_IP[$role]}" dev lo src "${ROUTER_IP[cli]}"
	done
	mapfile -t props < <(java_props "$STATE/cli/data")
	launch cli "$STATE/cli/stdout.log" java -Xmx256m "${props[@]}" \
		-Drouter.configLocation="$STATE/cli/data/router.config" -cp "$jars/*" net.i2p.router.RouterLaunch
	wait_until "$START_LIMIT" "cli (Java I2P) to listen" cli java_router_listening
	# The reference SOCKS, with the same tunnel lengths as i2psocks' session (java_client_hops).
	# Its own config dir (own logs), with the router's hosts.txt and log settings. When the
	# router was killed (the fault tests SIGKILL cli's PID), its I2PTunnel JVM is still
	# running: stop it so a fresh one starts with the router.
	stop_procs 10 clisocks
	mkdir -p "$STATE/cli/socks"
	ln -sf ../data/hosts.txt "$STATE/cli/socks/hosts.txt"
	cp "$STATE/cli/data/logger.config" "$STATE/cli/socks/logger.config"
	mapfile -t props < <(java_props "$STATE/cli/socks")
	launch clisocks "$STATE/cli/socks.log" java -Xmx128m "${props[@]}" -cp "$jars/*" \
		net.i2p.i2ptunnel.I2PTunnel -nocli -e "config 127.0.0.1 $I2CP_PORT" -e "listen_on 127.0.0.1" \
		-e "clientoptions inbound.length=$ib outbound.length=$ob inbound.quantity=2 outbound.quantity=2 i2cp.leaseSetEncType=4,0" \
		-e "sockstunnel $REF_SOCKS_PORT"
	# I2PTunnel listens only once its first client tunnels are built, after the router's
	# exploratory ones: 35-75 s after the JVM starts at load 30, hence twice the limit (a
	# JVM that dies still fails the wait at once).
	wait_until "$((2 * START_LIMIT))" "cli's SOCKS tunnel (Java I2PTunnel) to listen" clisocks listening "127.0.0.1:$REF_SOCKS_PORT"
}

router_listening() {
	local role=$1
	listening "${ROUTER_IP[$role]}:${ROUTER_PORT[$role]}" || return 1
	if [[ $role == cli ]]; then
		listening "127.0.0.1:$I2CP_PORT" && listening "127.0.0.1:$REF_SOCKS_PORT"
	fi
}

# start_router ROLE: start it; return once it listens (cli: also I2CP and SOCKS). The
# limit only catches a hung start: a router that dies fails the wait at once.
start_router() {
	local role=$1 args
	if is_java "$role"; then
		start_java_cli
		return 0
	fi
	mapfile -t args < <(router_args "$role")
	launch "$role" "$STATE/$role/stdout.log" "${args[@]}"
	wait_until "$START_LIMIT" "$role to listen" "$role" router_listening "$role"
}

start_service() {
	case $1 in
	web)
		launch web "$STATE/web.log" "$PYTHON" "$TBUTIL" http-server --port "$WEB_PORT" --directory "$STATE/www"
		wait_until "$START_LIMIT" "web server to listen" web listening "127.0.0.1:$WEB_PORT"
		;;
	echo)
		launch echo "$STATE/echo.log" "$PYTHON" "$TBUTIL" echo-server --port "$ECHO_PORT" --tag "$STATE"
		wait_until "$START_LIMIT" "echo server to listen" echo listening "127.0.0.1:$ECHO_PORT"
		;;
	udpecho)
		launch udpecho "$STATE/udpecho.log" "$PYTHON" "$TBUTIL" udp-echo-server --port "$UDP_ECHO_PORT" --tag "$STATE"
		wait_until "$START_LIMIT" "UDP echo server to listen" udpecho listening_udp "127.0.0.1:$UDP_ECHO_PORT"
		;;
	*) die "unknown service '$1' (web|echo|udpecho)" ;;
	esac
}

# ri_name_ok ROUTERINFO: the file is complete enough to name its netDb entry.
ri_name_ok() { [[ -s $1 ]] && "$PYTHON" "$TBUTIL" ri-name "$1" >/dev/null 2>&1; }

# copy_ri FROM_ROLE TO_ROLE: put FROM's router.info where TO's netDb looks for it
# (<datadir>/netDb/r<C>/routerInfo-<B64>.dat), so nobody ever needs a reseed.
copy_ri() {
	local src="$STATE/$1/data/router.info" rel
	rel=$("$PYTHON" "$TBUTIL" ri-name "$src")
	mkdir -p "$(dirname "$STATE/$2/data/netDb/$rel")"
	cp "$src" "$STATE/$2/data/netDb/$rel"
}

keys_ok() { "$PYTHON" "$TBUTIL" dest "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- readiness

# socks_flag: curl's option for the reference SOCKS. Java I2P 2.7.0's SOCKS5 stops reading
# the client's method list at the first method it accepts and takes the rest for the
# request (I2PTunnel's SOCKS5Server.init), so curl's greeting (no-auth, then GSSAPI) fails
# there: SOCKS4a for Java.
socks_flag() {
	if is_java cli; then printf '%s' --socks4a; else printf '%s' --socks5-hostname; fi
}

probe_web() {
	local out="$STATE/probe.bin"
	rm -f "$out"
	in_ns curl -sS --max-time 5 "$(socks_flag)" "127.0.0.1:$REF_SOCKS_PORT" -o "$out" \
		"http://$WEB_B32/1k.bin" 2>"$STATE/probe.err" && cmp -s "$out" "$STATE/www/1k.bin"
}

probe_echo() {
	in_ns "$PYTHON" "$TBUTIL" socks-echo-check --socks-port "$REF_SOCKS_PORT" --host "$ECHO_B32" \
		--size 4096 --timeout 10 >/dev/null 2>"$STATE/probe.err"
}

# running_roles: every process `up` started and readiness needs.
running_roles() {
	printf '%s\n' ff srv cli web echo udpecho "${EXTRA_ROLES[@]}"
	if is_java cli; then printf '%s\n' clisocks; fi
}

# ready_by DEADLINE [STALL]: poll until web (1k.bin byte-exact) and echo work through cli's
# built-in SOCKS. The SOCKS proxy answers 05 04 at once until cli's pools are built
# (~5-6 s), so poll often. Returns 1 (with READY_ERROR set) when a process died, the
# deadline passed, or (with STALL seconds) one stage made no progress for that long.
READY_ERROR=""
ready_by() {
	local deadline=$1 stall=${2:-} role probe stage_deadline
	for probe in probe_web probe_echo; do
		stage_deadline=$deadline
		if [[ -n $stall ]]; then
			stage_deadline=$(awk -v d="$deadline" -v s="$(deadline_in "$stall")" 'BEGIN { printf "%.6f", (s < d ? s : d) }')
		fi
		until "$probe"; do
			for role in $(running_roles); do
				if ! proc_running "$role"; then
					READY_ERROR="$role is not running (while $probe)"
					return 1
				fi
			done
			if past "$stage_deadline"; then
				READY_ERROR="$probe: $(tail -c 300 "$STATE/probe.err" 2>/dev/null)"
				return 1
			fi
			sleep 0.25
		done
	done
}

# wait_ready TIMEOUT: ready_by, fatal on failure.
wait_ready() {
	ready_by "$(deadline_in "$1")" || die "not ready after ${1}s: $READY_ERROR"
}

# ---------------------------------------------------------------- failure reporting

dump_logs() {
	local f role extra_logs=()
	for role in "${EXTRA_ROLES[@]}"; do extra_logs+=("$STATE/$role/i2pd.log"); done
	for f in "$STATE"/ff/i2pd.log "$STATE"/srv/i2pd.log "$STATE"/cli/i2pd.log \
		"$STATE"/cli/data/logs/log-0.txt "$STATE"/cli/socks/logs/log-0.txt "$STATE"/cli/socks.log \
		"$STATE"/ff/stdout.log "$STATE"/srv/stdout.log "$STATE"/cli/stdout.log \
		"$STATE"/web.log "$STATE"/echo.log "$STATE"/udpecho.log "${extra_logs[@]}"; do
		[[ -s $f ]] || continue
		printf '\n===== tail %s =====\n' "$f" >&2
		tail -n 25 "$f" >&2 || true
	done
}

# save_logs [SUFFIX]: with TESTBED_SAVE_LOGS=DIR, keep every log and config of a failed
# `up` (attempt) in DIR/<name>[-SUFFIX]/ for a post-mortem (the state dir is always deleted).
save_logs() {
	[[ -n ${TESTBED_SAVE_LOGS:-} ]] || return 0
	local dest="$TESTBED_SAVE_LOGS/$NAME${1:+-$1}" f rel
	mkdir -p "$dest"
	while IFS= read -r f; do
		rel=${f#"$STATE"/}
		mkdir -p "$dest/$(dirname "$rel")"
		cp -- "$f" "$dest/$rel"
	done < <(find "$STATE" -maxdepth 4 -type f \( -name '*.log' -o -name '*.conf' -o -name 'hosts.txt' -o -name 'probe.err' \
		-o -name 'router.config' -o -name 'log-*.txt' -o -name 'router' \))
	log "logs saved in $dest"
}

on_up_exit() {
	local rc=$?
	if [[ $UP_IN_PROGRESS == 1 ]]; then
		log "up failed (exit $rc): tearing down"
		dump_logs
		save_logs
		teardown || true
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- env file

# routers_summary: "ff=i2pd-2.45.1 srv=i2pd-2.59.0 cli=java-2.7.0".
routers_summary() { printf 'ff=%s srv=%s cli=%s' "$(router_label ff)" "$(router_label srv)" "$(router_label cli)"; }

# router_log ROLE: the router's main log (Java I2P writes its own under its log dir).
router_log() {
	if is_java "$1"; then
		printf '%s' "$STATE/$1/data/logs/log-0.txt"
	else
		printf '%s' "$STATE/$1/i2pd.log"
	fi
}

read_env_value() { # read_env_value FILE KEY
	sed -n "s/^$2='\{0,1\}\([^']*\)'\{0,1\}\$/\1/p" "$1" | head -n 1
}

load_env() {
	local f="$STATE/env"
	[[ -f $f ]] || die "no env file $f (testbed not up?)"
	WEB_B32=$(read_env_value "$f" WEB_B32)
	ECHO_B32=$(read_env_value "$f" ECHO_B32)
	UDP_ECHO_B32=$(read_env_value "$f" UDP_ECHO_B32)
	LOGLEVEL=$(read_env_value "$f" LOGLEVEL)
	HOPS=$(read_env_value "$f" HOPS)
}

write_env() {
	local f="$STATE/env" up_s=$1 big_sha big_bytes
	big_sha=$(awk '$2 == "big.bin" { print $1 }' "$STATE/www/SHA256SUMS")
	big_bytes=$(stat -c %s "$STATE/www/big.bin")
	{
		printf "TESTBED_NAME='%s'\n" "$NAME"
		printf "TESTBED_NETNS='%s'\n" "$NS"
		printf "TESTBED_DIR='%s'\n" "$STATE"
		printf "TESTBED_SCRIPT='%s'\n" "$SCRIPT_DIR/testbed.sh"
		printf "I2CP_ADDRESS='127.0.0.1'\n"
		printf "I2CP_PORT='%s'\n" "$I2CP_PORT"
		if [[ $SRV_I2CP == 1 ]]; then printf "SRV_I2CP_PORT='%s'\n" "$SRV_I2CP_PORT"; fi
		printf "REF_SOCKS_PORT='%s'\n" "$REF_SOCKS_PORT"
		printf "I2PSOCKS_PORT='%s'\n" "$I2PSOCKS_PORT"
		printf "I2PSOCKS_CONF='%s'\n" "$STATE/i2psocks/i2pd.conf"
		printf "I2PSOCKS_DATADIR='%s'\n" "$STATE/i2psocks"
		printf "WEB_B32='%s'\n" "$WEB_B32"
		printf "ECHO_B32='%s'\n" "$ECHO_B32"
		printf "WEB_B64='%s'\n" "$WEB_B64"
		printf "ECHO_B64='%s'\n" "$ECHO_B64"
		printf "UDP_ECHO_B32='%s'\n" "$UDP_ECHO_B32"
		printf "UDP_ECHO_B64='%s'\n" "$UDP_ECHO_B64"
		printf "UDP_ECHO_NAME='udpecho.i2p'\n"
		printf "UDP_ECHO_PORT_LOCAL='%s'\n" "$UDP_ECHO_PORT"
		printf "WEB_NAME='web.i2p'\n"
		printf "ECHO_NAME='echo.i2p'\n"
		printf "WEB_PORT_LOCAL='%s'\n" "$WEB_PORT"
		printf "ECHO_PORT_LOCAL='%s'\n" "$ECHO_PORT"
		printf "WEB_ROOT='%s'\n" "$STATE/www"
		printf "ONEK_SHA256='%s'\n" "$(awk '$2 == "1k.bin" { print $1 }' "$STATE/www/SHA256SUMS")"
		printf "BIG_SHA256='%s'\n" "$big_sha"
		printf "BIG_BYTES='%s'\n" "$big_bytes"
		printf "LOGLEVEL='%s'\n" "$LOGLEVEL"
		printf "HOPS='%s'\n" "$HOPS"
		local role upper
		for role in ff srv cli; do
			upper=${role^^}
			printf "%s_DIR='%s'\n" "$upper" "$STATE/$role"
			printf "%s_DATADIR='%s'\n" "$upper" "$STATE/$role/data"
			printf "%s_CONF='%s'\n" "$upper" "$STATE/$role/i2pd.conf"
			printf "%s_LOG='%s'\n" "$upper" "$(router_log "$role")"
			printf "%s_CONSOLE_PORT='%s'\n" "$upper" "${CONSOLE_PORT[$role]}"
			printf "%s_ADDRESS='%s:%s'\n" "$upper" "${ROUTER_IP[$role]}" "${ROUTER_PORT[$role]}"
		done
		printf "SRV_TUNCONF='%s'\n" "$STATE/srv/tunnels.conf"
		for role in ff srv cli; do
			upper=${role^^}
			printf "%s_ROUTER='%s'\n" "$upper" "$(router_label "$role")"
			printf "%s_ROUTER_PATH='%s'\n" "$upper" "$(router_field "$role" 3)"
		done
		printf "ROUTERS='%s'\n" "$(routers_summary)"
		if ((${#EXTRA_ROLES[@]} > 0)); then
			printf "RELAYS='%s'\n" "$(num_relays)"
			printf "EXTRA_FLOODFILLS='%s'\n" "$((${#EXTRA_ROLES[@]} - $(num_relays)))"
			printf "EXTRA_ROUTERS='%s'\n" "${EXTRA_ROLES[*]}"
			printf "EXTRA_ROUTER='%s'\n" "$(router_label "${EXTRA_ROLES[0]}")"
			for role in "${EXTRA_ROLES[@]}"; do
				upper=${role^^}
				printf "%s_LOG='%s'\n" "$upper" "$STATE/$role/i2pd.log"
				printf "%s_CONSOLE_PORT='%s'\n" "$upper" "${CONSOLE_PORT[$role]}"
				printf "%s_ADDRESS='%s:%s'\n" "$upper" "${ROUTER_IP[$role]}" "${ROUTER_PORT[$role]}"
			done
		fi
		printf "UP_SECONDS='%s'\n" "$up_s"
		printf "UP_ATTEMPTS='%s'\n" "$UP_ATTEMPTS"
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------- commands

# start_routers ATTEMPT: fresh dirs and configs for ff, srv, cli; start them in order (ff's
# router.info seeds the others' netDb, srv's keys give the b32s for cli's address book).
# TESTBED_BREAK_FIRST_ATTEMPT=1 (self-test of the retry) keeps ff's router.info from srv in
# attempt 1, so srv never finds a floodfill and never publishes its LeaseSets.
start_routers() {
	local attempt=$1 role dest
	for role in ff srv cli; do
		mkdir -p "$STATE/$role/data/netDb" "$STATE/$role/tunnels.d"
		: >"$STATE/$role/tunnels.conf"
	done
	write_srv_tunnels
	WEB_B32=$DUMMY_B32
	write_router_conf ff
	write_router_conf srv

	log "starting ff"
	start_router ff
	wait_until "$START_LIMIT" "ff router.info" ff ri_name_ok "$STATE/ff/data/router.info"
	if [[ $attempt != 1 || ${TESTBED_BREAK_FIRST_ATTEMPT:-} != 1 ]]; then copy_ri ff srv; fi
	copy_ri ff cli
	if ((${#EXTRA_ROLES[@]} > 0)); then
		start_extras
		for role in "${EXTRA_ROLES[@]}"; do
			copy_ri "$role" srv
			copy_ri "$role" cli
		done
	fi

	log "starting srv"
	start_router srv
	wait_until "$START_LIMIT" "srv web-keys.dat" srv keys_ok "$STATE/srv/data/web-keys.dat"
	wait_until "$START_LIMIT" "srv echo-keys.dat" srv keys_ok "$STATE/srv/data/echo-keys.dat"
	wait_until "$START_LIMIT" "srv udpecho-keys.dat" srv keys_ok "$STATE/srv/data/udpecho-keys.dat"
	wait_until "$START_LIMIT" "srv router.info" srv ri_name_ok "$STATE/srv/data/router.info"
	read -r WEB_B64 dest < <("$PYTHON" "$TBUTIL" dest "$STATE/srv/data/web-keys.dat")
	WEB_B32="$dest.b32.i2p"
	read -r ECHO_B64 dest < <("$PYTHON" "$TBUTIL" dest "$STATE/srv/data/echo-keys.dat")
	ECHO_B32="$dest.b32.i2p"
	read -r UDP_ECHO_B64 dest < <("$PYTHON" "$TBUTIL" dest "$STATE/srv/data/udpecho-keys.dat")
	UDP_ECHO_B32="$dest.b32.i2p"
	# cli's address book loads <datadir>/hosts.txt at start; its subscription fetches the same
	# file from the lab's web server (and must never be empty, see write_router_conf).
	printf 'web.i2p=%s\necho.i2p=%s\nudpecho.i2p=%s\n' "$WEB_B64" "$ECHO_B64" "$UDP_ECHO_B64" >"$STATE/cli/data/hosts.txt"
	cp "$STATE/cli/data/hosts.txt" "$STATE/www/hosts.txt"
	write_router_conf cli
	if is_java cli; then write_java_conf; fi
	# The config a user of i2psocks would have: cli's, with [socksproxy] on i2pd's default 4447.
	sed "s/^port = $REF_SOCKS_PORT\$/port = $I2PSOCKS_PORT/" "$STATE/cli/i2pd.conf" >"$STATE/i2psocks/i2pd.conf"
	if is_java cli; then java_socksproxy_hops "$STATE/i2psocks/i2pd.conf"; fi
	copy_ri srv cli

	log "starting cli"
	start_router cli
}

cmd_up() {
	local big_mib=50 timeout=300 name="" role hops=${TESTBED_HOPS:-}
	local relays=${TESTBED_RELAYS:-0} floodfills=${TESTBED_FLOODFILLS:-0}
	declare -A spec=([ff]=${TESTBED_ROUTER_FF:-$DEFAULT_ROUTER} [srv]=${TESTBED_ROUTER_SRV:-$DEFAULT_ROUTER}
		[cli]=${TESTBED_ROUTER_CLI:-$DEFAULT_ROUTER})
	LOGLEVEL=warn
	while [[ $# -gt 0 ]]; do
		case $1 in
		--name) name=${2:?--name needs a value}; shift 2 ;;
		--big-mib) big_mib=${2:?--big-mib needs a value}; shift 2 ;;
		--loglevel) LOGLEVEL=${2:?--loglevel needs a value}; shift 2 ;;
		--timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
		--router) spec[ff]=${2:?--router needs a value}; spec[srv]=$2; spec[cli]=$2; shift 2 ;;
		--ff | --srv | --cli) spec[${1#--}]=${2:?$1 needs a value}; shift 2 ;;
		--hops) hops=${2:?--hops needs a value}; shift 2 ;;
		--relays) relays=${2:?--relays needs a value}; shift 2 ;;
		--floodfills) floodfills=${2:?--floodfills needs a value}; shift 2 ;;
		--srv-i2cp) SRV_I2CP=1; shift ;;
		*) usage ;;
		esac
	done
	[[ $big_mib =~ ^[0-9]+$ ]] || die "--big-mib must be a whole number of MiB"
	[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds"
	[[ $LOGLEVEL =~ ^(debug|info|warn|error|none)$ ]] || die "bad --loglevel"
	[[ $relays =~ ^[0-9]+$ && $floodfills =~ ^[0-9]+$ ]] || die "--relays and --floodfills must be whole numbers"
	((relays + floodfills <= 60)) || die "at most 60 extra routers (--relays + --floodfills)"
	[[ -n $name ]] || name="i2ps-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
	set_name "$name"

	local t0 deadline
	t0=$(now)
	deadline=$(deadline_in "$timeout")
	# Claim the name atomically: mkdir fails if another testbed uses it. Only after this
	# point is there anything of ours to tear down.
	mkdir -m 0755 "$STATE" 2>/dev/null || die "state dir $STATE already exists (name in use?)"
	UP_IN_PROGRESS=1
	trap on_up_exit EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$STATE/pids"
	add_extra_roles "$floodfills" "$relays"
	if ((${#EXTRA_ROLES[@]} > 0)); then echo "$floodfills $relays" >"$STATE/extras"; fi
	for role in ff srv cli; do resolve_router "$role" "${spec[$role]}"; done
	# The extra routers run ff's router.
	for role in "${EXTRA_ROLES[@]}"; do resolve_router "$role" "${spec[ff]}"; done
	log "routers: $(routers_summary)"
	check_versions
	choose_hops "$hops"

	ip netns add "$NS" || die "cannot create netns $NS (exists already?)"
	echo "$NS" >"$STATE/netns"
	in_ns ip link set lo up
	# Only `lo` in the namespace, no veth and no route: nothing can leave it.
	in_ns ip addr add "${ROUTER_IP[ff]}/24" dev lo
	in_ns ip addr add "${ROUTER_IP[srv]}/24" dev lo
	in_ns ip addr add "${ROUTER_IP[cli]}/24" dev lo
	for role in "${EXTRA_ROLES[@]}"; do in_ns ip addr add "${ROUTER_IP[$role]}/24" dev lo; done

	mkdir -p "$STATE/i2psocks"
	make_web_root "$big_mib"
	start_service web
	start_service echo
	start_service udpecho

	# i2pd 2.45.1 occasionally (about 1 up in 60 here, under CPU load) stays unusable: e.g.
	# srv logs "RouterInfo: Signature verification failed" for ff's updated RouterInfo,
	# drops ff as a floodfill and never publishes its LeaseSets ("Can't publish LeaseSet,
	# no more floodfills found"). So the routers get a soft deadline, and one fresh start
	# (new datadirs, new keys) if it passes and enough time is left.
	local attempt stall=$STALL_LIMIT
	for attempt in 1 2; do
		UP_ATTEMPTS=$attempt
		start_routers "$attempt"
		if ready_by "$deadline" "$stall"; then break; fi
		if [[ $attempt == 2 ]] || past "$(awk -v d="$deadline" 'BEGIN { printf "%.6f", d - 20 }')"; then
			die "not ready after $(since "$t0")s: $READY_ERROR"
		fi
		log "attempt 1 not ready after $(since "$t0")s ($READY_ERROR); hints from the i2pd logs:"
		grep -hE "Signature verification failed|no more floodfills|not found" \
			"$STATE"/ff/i2pd.log "$STATE"/srv/i2pd.log "$STATE"/cli/i2pd.log 2>/dev/null | tail -n 5 >&2 || true
		log "restarting all routers from scratch"
		save_logs attempt1
		stop_procs 10 clisocks cli srv ff "${EXTRA_ROLES[@]}"
		rm -rf -- "$STATE/ff" "$STATE/srv" "$STATE/cli"
		for role in "${EXTRA_ROLES[@]}"; do rm -rf -- "${STATE:?}/$role"; done
		stall=
	done

	local up_s
	up_s=$(since "$t0")
	write_env "$up_s"
	UP_IN_PROGRESS=0
	trap - EXIT INT TERM HUP
	log "up in ${up_s}s ($(routers_summary)): web=$WEB_B32 echo=$ECHO_B32 udpecho=$UDP_ECHO_B32"
	printf '%s\n' "$STATE/env"
}

# teardown: stop what we started (recorded PIDs only), delete our netns, delete the state dir.
teardown() {
	[[ -d $STATE ]] || return 0
	stop_procs 10 clisocks cli srv ff "${EXTRA_ROLES[@]}" web echo udpecho delay
	if [[ -f $STATE/netns ]]; then
		local ns
		ns=$(cat "$STATE/netns")
		if netns_exists "$ns"; then ip netns delete "$ns"; fi
	fi
	rm -rf -- "$STATE"
}

cmd_down() {
	[[ $# -ge 1 ]] || usage
	if [[ $1 == --env ]]; then
		[[ $# -eq 2 ]] || usage
		local f=$2 name
		if [[ ! -f $f ]]; then
			log "env file $f is gone: nothing to do"
			return 0
		fi
		name=$(read_env_value "$f" TESTBED_NAME)
		[[ -n $name ]] || die "no TESTBED_NAME in $f"
		set_name "$name"
	else
		set_name "$1"
	fi
	local t0
	t0=$(now)
	load_extras
	if [[ ! -d $STATE ]]; then
		if netns_exists "$NS"; then log "netns $NS exists but has no state dir: not ours, left alone"; fi
		return 0
	fi
	teardown
	log "down in $(since "$t0")s"
}

require_up() {
	set_name "$1"
	[[ -d $STATE ]] || die "no testbed '$1' ($STATE missing)"
	[[ -f $STATE/netns ]] || die "testbed '$1' has no netns"
	load_extras
}

cmd_exec() {
	[[ $# -ge 3 && $2 == -- ]] || usage
	require_up "$1"
	shift 2
	exec ip netns exec "$NS" "$@"
}

check_router_role() { [[ $1 =~ ^(ff|srv|cli)$ ]] || is_extra_role "$1" || die "unknown router '$1' (ff|srv|cli${EXTRA_ROLES[*]:+|${EXTRA_ROLES[*]}})"; }
check_service() { [[ $1 =~ ^(web|echo|udpecho)$ ]] || die "unknown service '$1' (web|echo|udpecho)"; }

cmd_stop_router() {
	[[ $# -eq 2 ]] || usage
	require_up "$1"
	check_router_role "$2"
	if [[ $2 == cli ]]; then stop_procs 10 clisocks cli; else stop_procs 10 "$2"; fi
}

cmd_start_router() {
	[[ $# -eq 2 ]] || usage
	require_up "$1"
	check_router_role "$2"
	DUMP_ON_DIE=1
	start_router "$2"
}

cmd_stop_service() {
	[[ $# -eq 2 ]] || usage
	require_up "$1"
	check_service "$2"
	stop_procs 10 "$2"
}

cmd_start_service() {
	[[ $# -eq 2 ]] || usage
	require_up "$1"
	check_service "$2"
	DUMP_ON_DIE=1
	start_service "$2"
}

cmd_wait_ready() {
	[[ $# -ge 1 ]] || usage
	require_up "$1"
	local timeout=180
	if [[ $# -eq 3 && $2 == --timeout ]]; then timeout=$3; elif [[ $# -ne 1 ]]; then usage; fi
	load_env
	DUMP_ON_DIE=1
	local t0
	t0=$(now)
	wait_ready "$timeout"
	log "ready in $(since "$t0")s"
}

# delay_rule -A|-D: add or delete the iptables rule that queues router-to-router packets.
# (This kernel has NFQUEUE only as an xtables target, not as the nftables `queue`
# statement; iptables-nft reaches it through nft_compat.) No --queue-bypass: if the delay
# element died, the routers would lose their links, which a test notices, instead of a
# delay that is silently gone.
delay_rule() {
	in_ns iptables -w 10 "$1" OUTPUT -s "$ROUTER_NET" -d "$ROUTER_NET" -j NFQUEUE --queue-num "$DELAY_QUEUE"
}

# remove_delay: rule first (so nothing queues without a listener), then the program,
# which lets every packet it still holds go at once.
remove_delay() {
	while delay_rule -D 2>/dev/null; do :; done
	stop_procs 10 delay
	rm -f "$STATE/delay" "$STATE/delay.ready"
}

# delay NAME MS JITTER_MS [LOSS_PERCENT]: every router-to-router packet (every pair of
# routers, relays and extra floodfills included: they all live in ROUTER_NET) waits MS +-
# JITTER_MS ms (uniform; FIFO per address pair, so no reordering); RTT between two routers
# = 2 x MS. With LOSS_PERCENT, each such packet is dropped with that probability instead
# (never the 127.0.0.1 traffic). Replaces any delay set before; `delay NAME 0 0` removes it.
cmd_delay() {
	[[ $# -eq 3 || $# -eq 4 ]] || usage
	require_up "$1"
	local ms=$2 jitter=$3 loss=${4:-0} loss_args=()
	[[ $ms =~ ^[0-9]+(\.[0-9]+)?$ && $jitter =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MS and JITTER_MS must be numbers"
	[[ $loss =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "LOSS_PERCENT must be a number"
	awk -v l="$loss" 'BEGIN { exit !(l < 100) }' || die "LOSS_PERCENT must be below 100"
	if awk -v l="$loss" 'BEGIN { exit !(l > 0) }'; then loss_args=(--loss-percent "$loss"); fi
	awk -v d="$ms" -v j="$jitter" 'BEGIN { exit !(j <= d) }' || die "jitter must not exceed the delay"
	command -v iptables >/dev/null || die "iptables not found (contrib/install-deps.sh installs it)"
	remove_delay
	if awk -v d="$ms" 'BEGIN { exit !(d == 0) }'; then
		log "router-to-router delay removed"
		return 0
	fi
	launch delay "$STATE/delay.log" "$PYTHON" "$SCRIPT_DIR/netdelay.py" --queue "$DELAY_QUEUE" \
		--delay-ms "$ms" --jitter-ms "$jitter" "${loss_args[@]}" --ready-file "$STATE/delay.ready"
	wait_until 10 "the delay element to bind its queue" delay test -f "$STATE/delay.ready"
	delay_rule -A || die "cannot add the NFQUEUE rule"
	if ((${#loss_args[@]} > 0)); then
		echo "$ms $jitter $loss" >"$STATE/delay"
		log "router-to-router delay ${ms} +- ${jitter} ms each way, ${loss} % of the packets dropped"
	else
		echo "$ms $jitter" >"$STATE/delay"
		log "router-to-router delay ${ms} +- ${jitter} ms each way"
	fi
}

# rtt NAME [COUNT]: TCP round trips between 198.18.0.1 and 198.18.0.2 (1-byte ping-pong
# on one connection, and connect() = SYN/SYN-ACK), printed as one line on stdout.
cmd_rtt() {
	[[ $# -ge 1 && $# -le 2 ]] || usage
	require_up "$1"
	in_ns "$PYTHON" "$TBUTIL" tcp-rtt --src "${ROUTER_IP[ff]}" --dst "${ROUTER_IP[srv]}" --count "${2:-20}"
}

# hops NAME: every established client tunnel of every local destination on srv's and cli's
# i2pd consoles (i2psocks' session shows on cli's), its hops named by role, and per router
# a count of the tunnels with HOPS hops and of those whose hops are all distinct.
cmd_hops() {
	[[ $# -eq 1 ]] || usage
	require_up "$1"
	load_env
	local role peers=() rel
	for role in ff srv cli "${EXTRA_ROLES[@]}"; do
		is_java "$role" && continue
		rel=$("$PYTHON" "$TBUTIL" ri-name "$STATE/$role/data/router.info") || die "no router.info for $role"
		rel=${rel##*routerInfo-}
		peers+=(--peer "$role=${rel%.dat}")
	done
	for role in srv cli; do
		is_java "$role" && continue
		in_ns "$PYTHON" "$TBUTIL" console-hops --port "${CONSOLE_PORT[$role]}" --label "$role" --hops "$HOPS" "${peers[@]}"
	done
}

cmd_list() {
	local d
	for d in "$STATE_PREFIX"*; do
		[[ -d $d ]] && printf '%s\n' "${d#"$STATE_PREFIX"}"
	done
	return 0
}

main() {
	[[ $# -ge 1 ]] || usage
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	exec) cmd_exec "$@" ;;
	stop-router) cmd_stop_router "$@" ;;
	start-router) cmd_start_router "$@" ;;
	stop-service) cmd_stop_service "$@" ;;
	start-service) cmd_start_service "$@" ;;
	wait-ready) cmd_wait_ready "$@" ;;
	delay) cmd_delay "$@" ;;
	rtt) cmd_rtt "$@" ;;
	hops) cmd_hops "$@" ;;
	list) cmd_list ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

# On one line: bash reads scripts lazily, so nothing after this may be read once main ran
# (keeps running instances safe when the file is edited).
main "$@"; exit
