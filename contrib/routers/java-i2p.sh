#!/usr/bin/env bash
# java-i2p.sh: print the directory holding Java I2P 2.7.0's jars (i2p.jar router.jar
# streaming.jar mstreaming.jar i2ptunnel.jar), checked.
#
# Usage: contrib/routers/java-i2p.sh
# The directory is the LAST line of stdout; progress goes to stderr. Exit 0: found.
# Exit 3: not available here. Exit 1: found but wrong (checksum, missing java).
#
# Where the jars come from, first match wins:
#   1. I2P_JARS=/dir (explicit): used as it is (no checksum list needed)
#   2. shared/routers/java-i2p-2.7.0/lib next to the project (../shared/ relative to
#      the project root, or to one of its parents), checked against the SHA256SUMS
#      beside that lib/ directory
#   3. outside this environment: Maven Central publishes Java I2P's jars under the
#      net.i2p group ids (net.i2p:i2p, net.i2p:router, net.i2p.client:streaming,
#      net.i2p.client:mstreaming, version 2.7.0; the i2ptunnel jar comes from the same
#      release). Download them into one directory and point I2P_JARS at it. Not done
#      automatically: that registry is not reachable from the machines this was made on.
# A JRE 17 (Debian: openjdk-17-jre-headless) must be installed.
set -euo pipefail

JARS=(i2p.jar router.jar streaming.jar mstreaming.jar i2ptunnel.jar)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '[java-i2p.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
unavailable() {
	log "NOT AVAILABLE: $*"
	exit 3
}

has_all_jars() {
	local j
	for j in "${JARS[@]}"; do [[ -s $1/$j ]] || return 1; done
}

# shared_dir: the first shared/routers/java-i2p-2.7.0 beside the project root or a parent.
shared_dir() {
	local d=$ROOT
	while [[ $d != / ]]; do
		if [[ -d $d/../shared/routers/java-i2p-2.7.0/lib ]]; then
			(cd "$d/../shared/routers/java-i2p-2.7.0" && pwd)
			return 0
		fi
		d=$(dirname "$d")
	done
	return 1
}

main() {
	command -v java >/dev/null || unavailable "no java in PATH (install openjdk-17-jre-headless)"
	if [[ -n ${I2P_JARS:-} ]]; then
		has_all_jars "$I2P_JARS" || die "I2P_JARS=$I2P_JARS lacks one of: ${JARS[*]}"
		log "Java I2P jars: $I2P_JARS (from I2P_JARS=)"
		(cd "$I2P_JARS" && pwd)
		return 0
	fi
	local shared
	if shared=$(shared_dir); then
		has_all_jars "$shared/lib" || die "$shared/lib lacks one of: ${JARS[*]}"
		[[ -f $shared/SHA256SUMS ]] || die "$shared/SHA256SUMS is missing"
		(cd "$shared" && sha256sum --quiet -c SHA256SUMS) >&2 || die "checksums in $shared/SHA256SUMS do not match"
		log "Java I2P 2.7.0 jars: $shared/lib (checksums ok)"
		printf '%s\n' "$shared/lib"
		return 0
	fi
	unavailable "Java I2P 2.7.0 jars not found: set I2P_JARS=DIR (from Maven Central: net.i2p:i2p, net.i2p:router, net.i2p.client:streaming, net.i2p.client:mstreaming 2.7.0, plus i2ptunnel.jar)"
}

main "$@"
