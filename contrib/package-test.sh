#!/usr/bin/env bash
# Builds the .deb with cargo-deb and checks it: lintian, the unit file
# (systemd-analyze verify and security), the man page (mandoc -Tlint), then
# installs it into a clean Debian bookworm root made with debootstrap, runs
# `i2psocks --version` and `i2psocks check` inside it, and purges it.
# Usage (as root, on Debian): contrib/package-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in lintian debootstrap mandoc; do
    command -v "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked --version 3.8.0

deb=$(cargo deb 2>/dev/null | tail -n 1)
echo "package: $deb"
[ -f "$deb" ] || { echo "cargo deb produced no package" >&2; exit 1; }

echo "== lintian"
# Errors fail the test; warnings are listed (README, section Packaging, says why
# each one that remains is acceptable).
lintian --no-tag-display-limit "$deb" | tee /tmp/i2psocks-lintian.txt || true
if grep -q '^E:' /tmp/i2psocks-lintian.txt; then
    echo "lintian reported errors" >&2
    exit 1
fi

echo "== man page"
mandoc -Tlint -W warning man/i2psocks.1

echo "== unit file"
unitdir=$(mktemp -d)
cp contrib/i2psocks.service "$unitdir/"
# verify wants the ExecStart binary to exist: point it at the one just built.
sed -i "s|/usr/bin/i2psocks|$PWD/target/release/i2psocks|" "$unitdir/i2psocks.service"
systemd-analyze verify --man=no "$unitdir/i2psocks.service"
score=$(systemd-analyze security --offline=true "$unitdir/i2psocks.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security score: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "exposure score $score > 2.0" >&2; exit 1; }
rm -rf "$unitdir"

echo "== install into a clean bookworm root"
root=$(mktemp -d /tmp/i2psocks-root.XXXXXX)
trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
# The Debian mirror this machine's apt already uses (no host is named here).
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" { print $1; exit }')
[ -n "$mirror" ] || { echo "no bookworm mirror in apt's sources" >&2; exit 1; }
debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/i2psocks-debootstrap.log 2>&1 ||
    { tail -20 /tmp/i2psocks-debootstrap.log >&2; exit 1; }
cp "$deb" "$root/tmp/i2psocks.deb"
cp i2pd.conf.example "$root/tmp/i2pd.conf"
chroot "$root" dpkg -i /tmp/i2psocks.deb
chroot "$root" i2psocks --version
chroot "$root" i2psocks --conf /tmp/i2pd.conf --datadir /tmp/state check
chroot "$root" test -f /usr/share/man/man1/i2psocks.1.gz
chroot "$root" dpkg --purge i2psocks
if chroot "$root" test -e /usr/bin/i2psocks || chroot "$root" test -e /etc/i2psocks; then
    echo "purge left files behind" >&2
    exit 1
fi
echo "package-test: ok"
