#!/usr/bin/env bash
# Packaging test: builds the .deb with cargo-deb and checks it.
#
#  1. lintian: no errors; every warning must be listed (and justified) in HACKING.md,
#     section "Packaging test".
#  2. the unit as shipped in the .deb: `systemd-analyze verify`, and
#     `systemd-analyze security --offline=true` must score 2.0 or lower; the system
#     calls of the packaged binary (strace, start-up to SIGTERM) must pass its
#     SystemCallFilter=.
#  3. the man page: `mandoc -Tlint` and `groff -ww -z` clean.
#  4. a clean Debian bookworm root (debootstrap --variant=minbase from the Debian mirror
#     this machine's apt uses): install i2pd from that mirror (for a real
#     /etc/i2pd/i2pd.conf), then the .deb with apt; run `i2psocks --version`, `i2psocks
#     check` with exactly the service's ExecStart arguments, and `i2psocks address` as an
#     unprivileged user; purge, and compare the whole root with the state before the
#     install: nothing may be left.
#
# Usage (as root, on Debian bookworm): contrib/package-test.sh
# Installs what it needs (apt: lintian, debootstrap, systemd, mandoc, dpkg-dev, groff-base,
# binutils, strace;
# cargo: cargo-deb, pinned). The bookworm root is cached as a tarball under
# /var/cache/i2psocks-package-test (rebuilt after 30 days, or delete it), and so are the
# .debs apt downloads into it, so reruns take about a minute plus the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
SUITE=bookworm
CACHE=/var/cache/i2psocks-package-test
started=$SECONDS

step() { printf '\n== %s  [%ds]\n' "$*" $((SECONDS - started)); }
die() {
    echo "package-test: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"

step "tools"
need=()
for pair in lintian:lintian debootstrap:debootstrap mandoc:mandoc systemd-analyze:systemd \
    dpkg-shlibdeps:dpkg-dev groff:groff-base objcopy:binutils strace:strace; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    echo "cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
cargo deb --version

work=$(mktemp -d /var/tmp/i2psocks-package-test.XXXXXX)
root="$work/root"
cleanup() {
    for m in var/cache/apt/archives dev/pts dev proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

step "cargo deb"
cargo deb --locked --output "$work/" | tee "$work/cargo-deb.out"
deb=$(ls "$work"/i2psocks_*.deb)
[ -f "$deb" ] || die "cargo deb produced no package"
# The debug symbols (release profile: debug = 1) go to i2psocks-dbgsym_*.ddeb.
ls -l "$work"/*.deb "$work"/*.ddeb
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
dpkg-deb --extract "$deb" "$work/x"
for f in usr/bin/i2psocks usr/share/man/man1/i2psocks.1.gz usr/lib/systemd/system/i2psocks.service \
    etc/default/i2psocks etc/i2psocks/i2psocks.conf usr/share/doc/i2psocks/copyright \
    usr/share/doc/i2psocks/changelog.Debian.gz; do
    [ -f "$work/x/$f" ] || die "the package lacks /$f"
done

step "lintian"
lintian --tag-display-limit 0 --display-info "$deb" >"$work/lintian.txt" 2>&1 || true
cat "$work/lintian.txt"
if grep -q '^E:' "$work/lintian.txt"; then
    die "lintian reports errors"
fi
# Every warning must be justified in HACKING.md (section "Packaging test").
for tag in $(sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$work/lintian.txt" | sort -u); do
    grep -q "\`$tag\`" HACKING.md || die "lintian warning $tag is not listed in HACKING.md"
done
echo "lintian: $(grep -c '^E:' "$work/lintian.txt") errors, $(grep -c '^W:' "$work/lintian.txt") warnings, $(grep -c '^I:' "$work/lintian.txt") info"

step "systemd unit"
# verify wants the ExecStart binary to exist: point it at the packaged one.
unit="$work/unit/i2psocks.service"
mkdir -p "$work/unit"
sed "s|/usr/bin/i2psocks|$work/x/usr/bin/i2psocks|" "$work/x/usr/lib/systemd/system/i2psocks.service" >"$unit"
systemd-analyze verify --man=no "$unit"
systemd-analyze security --offline=true --no-pager "$unit" >"$work/security.txt" || true
cat "$work/security.txt"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.txt")
echo "systemd-analyze security score: ${score:-none}"
awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.0) }' || die "exposure score '$score' > 2.0"
# The system calls the packaged binary makes from start-up to a clean stop (listening,
# a refused I2CP connection, SIGTERM) must all pass the unit's SystemCallFilter=.
expand_filter() {
    systemd-analyze syscall-filter --no-pager "$1" | awk 'NR > 1 && NF && $1 !~ /^#/ { print $1 }' |
        while read -r entry; do
            case $entry in
            @*) expand_filter "$entry" ;;
            *) echo "$entry" ;;
            esac
        done
}
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$unit")
deny=$(sed -n 's/^SystemCallFilter=~//p' "$unit")
for group in $allow; do expand_filter "$group"; done | sort -u >"$work/allowed.txt"
for group in $deny; do expand_filter "$group"; done | sort -u >"$work/denied.txt"
comm -23 "$work/allowed.txt" "$work/denied.txt" >"$work/permitted.txt"
mkdir -m 0700 "$work/strace-data"
strace -f -qq -o "$work/strace.txt" "$work/x/usr/bin/i2psocks" --datadir "$work/strace-data" \
    --loglevel info --socksproxy.address=127.0.0.1 --socksproxy.port=0 \
    --socksproxy.keys=k.dat --i2cp.enabled=true --i2cp.address=127.0.0.1 --i2cp.port=1 >"$work/strace-run.log" 2>&1 &
tracer=$!
deadline=$((SECONDS + 20))
until grep -q "cannot reach the router" "$work/strace-run.log"; do
    [ "$SECONDS" -lt "$deadline" ] || die "i2psocks under strace did not try the router: $(cat "$work/strace-run.log")"
    sleep 0.1
done
kill -TERM "$(ps -o pid= --ppid "$tracer")"
wait "$tracer" || die "i2psocks did not stop cleanly on SIGTERM: $(cat "$work/strace-run.log")"
sed -E 's/^[0-9]+ +//; s/^<\.\.\. ([a-z0-9_]+) resumed>.*/\1(/' "$work/strace.txt" |
    sed -nE 's/^([a-z0-9_]+)\(.*/\1/p' | sort -u >"$work/used.txt"
outside=$(comm -23 "$work/used.txt" "$work/permitted.txt")
echo "system calls used: $(wc -l <"$work/used.txt"), outside the unit's filter: ${outside:-none}"
[ -z "$outside" ] || die "system calls outside SystemCallFilter=: $outside"

step "man page"
mandoc -Tlint -W warning man/i2psocks.1
groff -man -ww -z man/i2psocks.1 2>&1 | tee "$work/groff.txt"
[ ! -s "$work/groff.txt" ] || die "groff warnings"
zcat "$work/x/usr/share/man/man1/i2psocks.1.gz" | cmp - man/i2psocks.1 || die "packaged man page differs"

step "clean $SUITE root"
arch=$(dpkg --print-architecture)
# The Debian mirror this machine's apt already uses (deb822 or one-line sources).
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
    awk -v s="$SUITE" '$2 == s && $3 == "Packages" { print $1; exit }')
if [ -z "$mirror" ]; then
    # A host on another release: the same Debian mirror serves bookworm too.
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
        awk '$3 == "Packages" && $1 ~ /\/debian\/?$/ { print $1; exit }')
fi
[ -n "$mirror" ] || die "no Debian mirror in apt's sources"
echo "mirror: $mirror"
tarball="$CACHE/$SUITE-$arch-minbase.tar"
mkdir -p "$CACHE/archives/partial"
if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime +30)" ] &&
    [ "$(cat "$tarball.mirror" 2>/dev/null)" = "$mirror" ]; then
    echo "cached root: $tarball"
else
    echo "debootstrap --variant=minbase $SUITE (cached afterwards in $CACHE)"
    rm -rf --one-file-system "$CACHE/root.tmp"
    debootstrap --variant=minbase --arch="$arch" "$SUITE" "$CACHE/root.tmp" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap"
    }
    tar -C "$CACHE/root.tmp" -cf "$tarball.tmp" .
    rm -rf --one-file-system "$CACHE/root.tmp"
    mv "$tarball.tmp" "$tarball"
    echo "$mirror" >"$tarball.mirror"
fi
mkdir "$root"
tar -C "$root" -xf "$tarball"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# apt's downloads are kept across runs.
mount --bind "$CACHE/archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Nothing may start services inside the root.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
in_root apt-get update -qq
# i2pd first, from Debian: a real /etc/i2pd/i2pd.conf, and the baseline for the purge check.
in_root apt-get install -y -qq i2pd >/dev/null
# systemd's own directory for DynamicUser= state, shared by all such services.
install -d -m 0700 "$root/var/lib/private"
snapshot() {
    # Everything but the places apt, dpkg and the kernel change on their own.
    (cd "$root" && find . -xdev \
        \( -path ./proc -o -path ./dev -o -path ./var/cache/apt -o -path ./var/lib/apt \
        -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./tmp -o -path ./run \) -prune \
        -o -printf '%p %m %u %g %s\n' | sort)
}
snapshot >"$work/before.txt"

step "install the .deb into the root"
cp "$deb" "$root/tmp/"
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")"
in_root dpkg -s i2psocks | grep -E '^(Status|Version|Depends|Recommends):'
in_root i2psocks --version
# Exactly what the service runs, with `check` appended (the packaged unit's ExecStart,
# $I2PSOCKS_OPTS from the packaged /etc/default/i2psocks).
exec_start=$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/system/i2psocks.service")
opts=$(. "$root/etc/default/i2psocks" && echo "${I2PSOCKS_OPTS:-}")
read -r -a argv <<<"${exec_start//\$I2PSOCKS_OPTS/$opts}"
echo "+ ${argv[*]} check --strict"
in_root "${argv[@]}" check --strict
# A persistent keys file, written by an unprivileged user as the service would.
in_root install -d -o nobody -m 0700 /tmp/state
b32=$(in_root setpriv --reuid=nobody --regid=nogroup --clear-groups \
    i2psocks --conf /etc/i2pd/i2pd.conf --datadir /tmp/state --socksproxy.keys=socks-keys.dat address)
echo "address: $b32"
[[ "$b32" =~ ^[a-z2-7]{52}\.b32\.i2p$ ]] || die "address printed '$b32'"
[ "$(stat -c '%a %U' "$root/tmp/state/socks-keys.dat")" = "600 nobody" ] ||
    die "keys file mode/owner: $(stat -c '%a %U' "$root/tmp/state/socks-keys.dat")"
# What the service's StateDirectory= would hold (DynamicUser keeps it under private/).
mkdir -m 0700 "$root/var/lib/private/i2psocks"
cp "$root/tmp/state/socks-keys.dat" "$root/var/lib/private/i2psocks/"
ln -s private/i2psocks "$root/var/lib/i2psocks"

step "purge"
in_root apt-get purge -y -qq i2psocks >/dev/null
in_root dpkg -s i2psocks >/dev/null 2>&1 && die "i2psocks still known to dpkg after purge"
snapshot >"$work/after.txt"
if ! diff -u "$work/before.txt" "$work/after.txt"; then
    die "the purge left the root different from before the install (diff above)"
fi
echo "purge: root identical to before the install"

step "package-test: ok"
