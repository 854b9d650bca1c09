#!/usr/bin/env bash
# Packaging test under a real systemd: the .deb installed and run as an operator would, in
# a Debian root booted with `systemd-nspawn -b` (its own systemd as PID 1, no network), for
# each release in SUITES (default: bookworm and trixie, each with that release's i2pd).
# The same .deb goes to every release: it is built on bookworm, and its only dependency is
# a glibc at least as old as the build's (trixie's is newer).
#
# In each booted root:
#  1. Debian's i2pd with README's "Replace i2pd's SOCKS proxy" edits (I2CP on, i2pd's SOCKS
#     proxy off, a persistent keys file) but Debian's default tunnels: the router has no
#     network, so it cannot build them. `systemctl enable --now i2psocks` must return
#     promptly (READY=1 once listening), `systemctl status` must say what it waits for
#     (STATUS=), and the journal must have the warning at the default log level.
#  2. Zero-hop tunnels (nothing to build) and a second i2pd of the release in the container,
#     a floodfill only (its own data directory, ports and address; see floodfill_unit): the
#     session comes up; dynamic user, no capabilities; keys file 0600; `i2psocks address`
#     as README says gives the service's b32, the same after `systemctl restart` and after
#     a reboot of the container; a SOCKS5 exchange through I2P with a local i2pd server
#     tunnel (its web console) gets an HTTP answer, before and after the reboot; `systemctl
#     stop` clean (exit status and time); socket activation (i2psocks.socket: the socket
#     is systemd's, it stays open while the service restarts) and a Unix-domain listener
#     with its mode; `apt-get purge` leaves the root as it was before the install.
#
# Usage (as root): contrib/package-test-systemd.sh PATH/TO/i2psocks_*.deb
# Needs systemd-container, debootstrap and python3 (contrib/install-deps.sh). The booted roots are
# cached as tarballs in /var/cache/i2psocks-package-test (debootstrap from the Debian
# mirror apt uses; rebuilt after 30 days, or delete them). Measured on a loaded 2-core
# machine (load 25-35): warm, bookworm 175-263 s and trixie 159-201 s (unpacking, booting
# and stopping the roots take most of it; the web tunnel answers 0-5 s after the routers
# start); cold, debootstrap adds up to 12 minutes per release.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:?usage: $0 PATH/TO/i2psocks_VERSION_ARCH.deb}
deb=$(realpath "$deb")
SUITES=${SUITES:-"bookworm trixie"}
CACHE=/var/cache/i2psocks-package-test
started=$SECONDS

step() { printf '\n== %s  [%ds]\n' "$*" $((SECONDS - started)); }
die() {
    echo "package-test-systemd: FAILED ($suite): $*" >&2
    exit 1
}
suite=-

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, systemd-nspawn)"
for tool in systemd-nspawn debootstrap nsenter; do
    command -v "$tool" >/dev/null || die "$tool missing (contrib/install-deps.sh installs it)"
done

work=$(mktemp -d /var/tmp/i2psocks-package-test-systemd.XXXXXX)
nspawn_pid=
stop_container() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        # nspawn powers the container off on SIGTERM; give it time, then insist.
        for _ in $(seq 300); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    nspawn_pid=
}
cleanup() {
    stop_container
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The Debian mirror this machine's apt uses.
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
    awk '$3 == "Packages" && $1 ~ /\/debian\/?$/ { print $1; exit }')
[ -n "$mirror" ] || die "no Debian mirror in apt's sources"
arch=$(dpkg --print-architecture)

# A minimal root that boots: systemd, dbus, and the release's i2pd.
root_tarball() {
    local tarball="$CACHE/boot-$suite-$arch.tar"
    if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime +30)" ] &&
        [ "$(cat "$tarball.mirror" 2>/dev/null)" = "$mirror" ]; then
        echo "$tarball"
        return
    fi
    mkdir -p "$CACHE"
    rm -rf --one-file-system "$CACHE/boot-$suite.tmp"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,i2pd,iproute2 \
        --arch="$arch" "$suite" "$CACHE/boot-$suite.tmp" "$mirror" >"$work/debootstrap-$suite.log" 2>&1 || {
        tail -n 30 "$work/debootstrap-$suite.log" >&2
        die "debootstrap"
    }
    tar -C "$CACHE/boot-$suite.tmp" -cf "$tarball.tmp" .
    rm -rf --one-file-system "$CACHE/boot-$suite.tmp"
    mv "$tarball.tmp" "$tarball"
    echo "$mirror" >"$tarball.mirror"
    echo "$tarball"
}

# The container's PID 1 (its systemd), a child of systemd-nspawn; empty until it runs.
container_init() {
    ps --ppid "$nspawn_pid" -o pid=,comm= 2>/dev/null | awk '$2 == "systemd" { print $1; exit }' || true
}

# Boot the root; sets $leader to the container's PID 1 once it runs its units.
boot() {
    systemd-nspawn -q -b -D "$root" --private-network --register=no --keep-unit \
        -M "i2psocks-$suite" >>"$work/console-$suite.log" 2>&1 </dev/null &
    nspawn_pid=$!
    local deadline=$((SECONDS + 120))
    leader=
    while [ -z "$leader" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "the container did not start: $(tail -n 20 "$work/console-$suite.log")"
        kill -0 "$nspawn_pid" 2>/dev/null || die "systemd-nspawn exited: $(tail -n 20 "$work/console-$suite.log")"
        leader=$(container_init)
        [ -n "$leader" ] || sleep 0.2
    done
    local state=
    until [ "$state" = running ] || [ "$state" = degraded ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "the container's systemd did not finish booting (state '$state')"
        state=$(inc systemctl is-system-running 2>/dev/null || true)
        # nspawn's first child may be a helper that exits: follow the container's init.
        [ -n "$state" ] || leader=$(container_init)
        [ "$state" = running ] || [ "$state" = degraded ] || sleep 0.5
    done
    echo "booted ($state) in the container with PID 1 = $leader"
}

# Run a command inside the booted container.
inc() {
    nsenter -t "$leader" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LC_ALL=C.UTF-8 "$@"
}

# Poll `cmd` (inside) until its output matches the extended regex, within `limit` seconds.
wait_for() {
    local limit=$1 pattern=$2 what=$3
    shift 3
    local deadline=$((SECONDS + limit)) out=
    while :; do
        out=$(inc "$@" 2>&1 || true)
        if grep -Eq "$pattern" <<<"$out"; then
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "$what: not within ${limit}s; last output: $out"
        sleep 0.5
    done
}

status_text() { inc systemctl show -p StatusText --value i2psocks; }
service_b32() {
    inc i2psocks --conf /etc/i2pd/i2pd.conf --datadir /var/lib/i2psocks address
}

# A SOCKS5 CONNECT to $1:$2 from inside the container with bash's /dev/tcp, an HTTP
# request over it; prints the reply bytes (hex) and the first response line.
socks_get() {
    inc bash -c '
        exec 3<>/dev/tcp/127.0.0.1/4447 || exit 1
        host=$1 port=$2
        printf "\x05\x01\x00" >&3
        greeting=$(head -c 2 <&3 | od -An -tx1 | tr -d " \n")
        printf "\x05\x01\x00\x03\\x$(printf %02x ${#host})%s\\x$(printf %02x $((port >> 8)))\\x$(printf %02x $((port & 255)))" "$host" >&3
        reply=$(head -c 10 <&3 | od -An -tx1 | tr -d " \n")
        echo "greeting=$greeting reply=$reply"
        case $reply in 0500*) ;; *) exit 0 ;; esac
        printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        head -n 1 <&3
    ' socks "$1" "$2"
}

# A complete exchange: SOCKS5 success and an HTTP status line through the stream.
socks_ok() { grep -q '^greeting=0500 reply=0500' <<<"$1" && grep -q '^HTTP/1\.[01] ' <<<"$1"; }

# SOCKS5 to $1 until the exchange is complete, within 120 s. Until the server tunnel's
# LeaseSet reaches the floodfill the lookup fails (05 04); any other reply fails at once.
socks_until_ok() {
    local t0=$SECONDS tries=0 out
    while :; do
        out=$(socks_get "$1" 80) || true
        tries=$((tries + 1))
        if socks_ok "$out"; then
            echo "$out"
            echo "SOCKS5 to $2: complete after $((SECONDS - t0)) s ($tries attempts)"
            return 0
        fi
        if ! grep -q '^greeting=0500 reply=0504' <<<"$out" || [ $((SECONDS - t0)) -ge 120 ]; then
            inc journalctl -u i2psocks --no-pager -o cat | tail -n 20 || true
            inc journalctl -u i2pd -u package-test-ff --no-pager -o cat | tail -n 20 || true
            inc tail -n 40 /var/log/i2pd/i2pd.log || true
            inc tail -n 20 "$FF_DIR/i2pd.log" || true
            die "SOCKS CONNECT to $2 ($tries attempts in $((SECONDS - t0)) s): $out"
        fi
        sleep 0.5
    done
}

# The README's edits: I2CP on, i2pd's SOCKS proxy off, a persistent keys file.
readme_edits() {
    local conf="$root/etc/i2pd/i2pd.conf"
    sed -i '/^\[i2cp\]/a enabled = true\naddress = 127.0.0.1\nport = 7654' "$conf"
    sed -i '/^\[socksproxy\]/a enabled = false\nkeys = socks-proxy-keys.dat' "$conf"
}

# A second i2pd in the container, a floodfill only, with its own data directory, ports and
# address (contrib/testbed/README.md "Pitfalls": i2pd 2.45.1 refuses NTCP2 peers in
# 127/8, 198.18.0.x passes). The container's router publishes its LeaseSets to it and looks
# them up there, as on the real network: a lone router cannot, since i2pd 2.56.0 never
# publishes to itself ("Can't publish LeaseSet, no more floodfills found"), and as a
# floodfill itself 2.56.0 crashes on the first LeaseSet lookup of a client (its own
# RouterInfo is the closest floodfill, no tunnel is compatible with it, and the retry
# dereferences a missing second floodfill: i2pd 2.56.0 libi2pd/Destination.cpp,
# LeaseSetDestination::RequestLeaseSet). The unit is in the root before the snapshot and
# starts only once its configuration exists (zero_hop), then again at every boot.
FF_DIR=/var/lib/i2pd/package-test-ff
FF_IP=198.18.0.2
FF_PORT=17002
ROUTER_IP=198.18.0.1

floodfill_unit() {
    cat >"$root/etc/systemd/system/package-test-ff.service" <<EOF
[Unit]
Description=package test: a second i2pd, floodfill only
ConditionPathExists=$FF_DIR/i2pd.conf
Before=i2pd.service

[Service]
User=i2pd
Group=i2pd
ExecStartPre=+/usr/bin/ip address replace $ROUTER_IP/24 dev lo
ExecStartPre=+/usr/bin/ip address replace $FF_IP/24 dev lo
ExecStart=/usr/bin/i2pd --datadir=$FF_DIR --conf=$FF_DIR/i2pd.conf --tunconf=$FF_DIR/tunnels.conf --pidfile=$FF_DIR/i2pd.pid --logfile=$FF_DIR/i2pd.log
# Started = listening: the router that follows must not find it unreachable.
ExecStartPost=/bin/sh -c 'until /usr/bin/ss -Hltn "sport = :$FF_PORT" | grep -q LISTEN; do sleep 0.2; done'
TimeoutStartSec=120

[Install]
WantedBy=multi-user.target
EOF
    ln -s ../package-test-ff.service "$root/etc/systemd/system/multi-user.target.wants/package-test-ff.service"
}

floodfill_conf() {
    inc install -d -o i2pd -g i2pd -m 0700 "$FF_DIR"
    : >"$root$FF_DIR/tunnels.conf"
    cat >"$root$FF_DIR/i2pd.conf" <<EOF
log = file
loglevel = warn
daemon = false
certsdir = /usr/share/i2pd/certificates
ipv4 = true
ipv6 = false
host = $FF_IP
address4 = $FF_IP
port = $FF_PORT
nat = false
floodfill = true
bandwidth = X
reservedrange = false
[ntcp2]
enabled = true
published = true
port = $FF_PORT
[ssu2]
enabled = false
[http]
enabled = false
[httpproxy]
enabled = false
[socksproxy]
enabled = false
[sam]
enabled = false
[bob]
enabled = false
[i2cp]
enabled = false
[i2pcontrol]
enabled = false
[upnp]
enabled = false
[nettime]
enabled = false
[reseed]
urls =
threshold = 0
[addressbook]
enabled = false
# never empty: i2pd 2.45.1 aborts 3 minutes after start on an empty subscription URL
defaulturl = http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b32.i2p/hosts.txt
subscriptions = http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b32.i2p/hosts.txt
[exploratory]
inbound.length = 0
outbound.length = 0
EOF
    inc chown i2pd:i2pd "$FF_DIR/i2pd.conf" "$FF_DIR/tunnels.conf"
}

# copy_routerinfo FROM_DATADIR TO_DATADIR (paths inside the root): FROM's router.info where
# TO's netDb looks for it, so neither router needs a reseed (contrib/testbed/tbutil.py).
copy_routerinfo() {
    local src="$root$1/router.info" rel
    rel=$(python3 contrib/testbed/tbutil.py ri-name "$src")
    inc install -d -o i2pd -g i2pd -m 0700 "$2/netDb/$(dirname "$rel")"
    cp "$src" "$root$2/netDb/$rel"
    inc chown i2pd:i2pd "$2/netDb/$rel"
}

# Zero-hop tunnels everywhere: ready without building tunnels through other routers.
zero_hop() {
    local conf="$root/etc/i2pd/i2pd.conf"
    sed -i '/^\[socksproxy\]/a inbound.length = 0\noutbound.length = 0' "$conf"
    sed -i '/^\[exploratory\]/a inbound.length = 0\noutbound.length = 0' "$conf"
    # A published address the floodfill can reach it on (i2pd refuses 198.18/15 unless
    # reservedrange is off).
    sed -i "1i host = $ROUTER_IP\nnat = false\nreservedrange = false" "$conf"
    # A server tunnel to i2pd's web console: something to reach through I2P.
    cat >>"$root/etc/i2pd/tunnels.conf" <<'EOF'

[package-test-web]
type = http
host = 127.0.0.1
port = 7070
keys = package-test-web.dat
inbound.length = 0
outbound.length = 0
EOF
    floodfill_conf
    inc systemctl start package-test-ff
    # The router (restarted next) knows the floodfill from its netDb; the floodfill learns
    # the router from the NTCP2 handshake and the RouterInfo the router publishes to it.
    local deadline=$((SECONDS + 60))
    until python3 contrib/testbed/tbutil.py ri-name "$root$FF_DIR/router.info" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "the floodfill wrote no router.info: $(tail -n 20 "$root$FF_DIR/i2pd.log" 2>&1)"
        sleep 0.2
    done
    copy_routerinfo "$FF_DIR" /var/lib/i2pd
}

snapshot() {
    # Everything but the places apt, dpkg, systemd and the kernel change on their own.
    (cd "$root" && find . -xdev \
        \( -path ./proc -o -path ./dev -o -path ./sys -o -path ./run -o -path ./tmp \
        -o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/lib/dpkg \
        -o -path ./var/lib/systemd -o -path ./var/log -o -path ./var/tmp \
        -o -path ./var/lib/i2pd -o -path ./var/lib/private \) -prune \
        -o -printf '%p %m %u %g\n' | sort)
}

run_suite() {
    root="$work/root-$suite"
    step "$suite: root"
    local tarball
    tarball=$(root_tarball)
    mkdir "$root"
    tar -C "$root" -xf "$tarball"
    echo "i2pd $(chroot "$root" dpkg-query -W -f '${Version}' i2pd), systemd $(chroot "$root" dpkg-query -W -f '${Version}' systemd), glibc $(chroot "$root" dpkg-query -W -f '${Version}' libc6)"
    readme_edits
    floodfill_unit
    cp "$deb" "$root/root/"
    boot
    snapshot >"$work/before-$suite.txt"

    step "$suite: install the .deb"
    inc dpkg -i "/root/$(basename "$deb")" >/dev/null
    inc systemctl is-enabled i2psocks.service >/dev/null 2>&1 && die "the install enabled the service"
    inc systemctl restart i2pd

    step "$suite: a router that cannot build tunnels (Debian's default tunnels, no network)"
    local t0=$SECONDS
    timeout 60 nsenter -t "$leader" -a -- systemctl enable --now i2psocks ||
        die "systemctl enable --now i2psocks failed or blocked for 60 s"
    echo "systemctl enable --now returned after $((SECONDS - t0)) s"
    inc systemctl is-active i2psocks >/dev/null || die "not active after start"
    wait_for 30 'tunnels|waiting' "STATUS= names the wait" systemctl show -p StatusText --value i2psocks
    echo "systemctl status: $(status_text)"
    wait_for 90 'WARN.*not ready for' "a warning at the default log level" \
        journalctl -u i2psocks --no-pager -o cat
    inc journalctl -u i2psocks --no-pager -o cat | grep 'not ready for' | tail -n 1
    inc systemctl stop i2psocks

    step "$suite: zero-hop tunnels"
    zero_hop
    inc systemctl restart i2pd
    t0=$SECONDS
    inc systemctl start i2psocks
    wait_for 120 '^I2CP session up$' "the session comes up" systemctl show -p StatusText --value i2psocks
    echo "session up $((SECONDS - t0)) s after systemctl start"
    local pid uid
    pid=$(inc systemctl show -p MainPID --value i2psocks)
    uid=$(inc awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || die "not a dynamic user: uid $uid"
    inc grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || die "has capabilities"
    echo "dynamic user uid $uid, no capabilities"
    local keys=/var/lib/private/i2psocks/socks-proxy-keys.dat
    [ "$(inc stat -c '%a' "$keys")" = 600 ] || die "keys file mode $(inc stat -c '%a' "$keys")"
    local b32
    b32=$(service_b32)
    [[ "$b32" =~ ^[a-z2-7]{52}\.b32\.i2p$ ]] || die "address printed '$b32'"
    echo "keys 0600, address $b32 (the service's)"

    step "$suite: SOCKS5 through I2P inside the container"
    local web out
    web=$(inc i2psocks --datadir /var/lib/i2pd --socksproxy.keys=package-test-web.dat address)
    socks_until_ok "$web" "the local web tunnel"

    step "$suite: restart, stop, reboot"
    inc systemctl restart i2psocks
    wait_for 120 '^I2CP session up$' "the session comes up after restart" systemctl show -p StatusText --value i2psocks
    [ "$(service_b32)" = "$b32" ] || die "another address after restart"
    local stop_start=$SECONDS
    inc systemctl stop i2psocks
    [ "$(inc systemctl show -p Result --value i2psocks)" = success ] || die "stop result $(inc systemctl show -p Result --value i2psocks)"
    echo "systemctl stop: clean, $((SECONDS - stop_start)) s"
    stop_container
    boot
    wait_for 120 '^I2CP session up$' "the session comes up after a reboot (enabled)" systemctl show -p StatusText --value i2psocks
    [ "$(service_b32)" = "$b32" ] || die "another address after reboot"
    echo "same address after restart and reboot"
    # The floodfill restarted empty: the web tunnel publishes its LeaseSet again.
    socks_until_ok "$web" "the local web tunnel after the reboot"

    step "$suite: socket activation and a Unix-domain listener"
    inc systemctl stop i2psocks
    inc systemctl enable --now i2psocks.socket
    # The socket is systemd's: it listens while the service is stopped, and the first
    # client starts the service.
    out=$(socks_get "$web" 80)
    socks_ok "$out" || die "SOCKS through the activated socket: $out"
    out=$(inc ss -Hltnp 'sport = :4447')
    echo "listening: $out"
    grep -q '"systemd"' <<<"$out" && grep -q '"i2psocks"' <<<"$out" && grep -q 'fd=3)' <<<"$out" ||
        die "the service did not take systemd's socket as fd 3"
    # Stopped service, socket still open: the next client starts it again.
    inc systemctl stop i2psocks.service
    inc ss -Hltn 'sport = :4447' | grep -q LISTEN || die "the socket closed with the service"
    out=$(socks_get "$web" 80)
    socks_ok "$out" || die "SOCKS after the service stopped: $out"
    echo "the socket stays open while the service is stopped; a client restarts it"
    sed -i 's|^listen =.*|listen = unix:/run/i2psocks/socks.sock|; s|^unixsocketmode =.*|unixsocketmode = 0660|' \
        "$root/etc/i2psocks/i2psocks.conf"
    inc systemctl restart i2psocks
    wait_for 30 '^660 ' "the Unix socket with mode 0660" stat -c '%a %F' /run/i2psocks/socks.sock
    inc systemctl disable --now i2psocks.socket i2psocks.service
    local exposure
    exposure=$(inc systemd-analyze security --no-pager i2psocks.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "systemd-analyze security (in the container): ${exposure:-n/a}"

    step "$suite: purge"
    inc apt-get purge -y -qq i2psocks >/dev/null
    inc dpkg -s i2psocks >/dev/null 2>&1 && die "i2psocks still known to dpkg after purge"
    [ ! -e "$root/var/lib/private/i2psocks" ] || die "the purge left the state directory"
    # The web tunnel and the edits are ours, not the package's: compare without them.
    snapshot >"$work/after-$suite.txt"
    if ! diff -u "$work/before-$suite.txt" "$work/after-$suite.txt"; then
        die "the purge left the root different from before the install (diff above)"
    fi
    echo "purge: root as before the install"
    stop_container
    rm -rf --one-file-system "$root"
}

for suite in $SUITES; do
    run_suite
done
suite=-
step "package-test-systemd: ok ($SUITES)"
