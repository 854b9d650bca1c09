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
#   2. routers/java-i2p-2.7.0/lib inside a folder beside the project root (or beside
#      one of its parents), checked against the SHA256SUMS beside that lib/ directory:
#      how the machines this project's CI runs on provide the jars
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

# sibling_dir: the first FOLDER/routers/java-i2p-2.7.0 (with lib/ and SHA256SUMS) where
# FOLDER sits beside the project root or beside one of its parents.
sibling_dir() {
	local d=$ROOT candidate
	while [[ $d != / ]]; do
		for candidate in "$(dirname "$d")"/*/routers/java-i2p-2.7.0; do
			if [[ -d $candidate/lib && -f $candidate/SHA256SUMS ]]; then
				(cd "$candidate" && pwd)
				return 0
			fi
		done
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
	local found
	if found=$(sibling_dir); then
		has_all_jars "$found/lib" || die "$found/lib lacks one of: ${JARS[*]}"
		[[ -f $found/SHA256SUMS ]] || die "$found/SHA256SUMS is missing"
		(cd "$found" && sha256sum --quiet -c SHA256SUMS) >&2 || die "checksums in $found/SHA256SUMS do not match"
		log "Java I2P 2.7.0 jars: $found/lib (checksums ok)"
		printf '%s\n' "$found/lib"
		return 0
	fi
	unavailable "Java I2P 2.7.0 jars not found: set I2P_JARS=DIR (from Maven Central: net.i2p:i2p, net.i2p:router, net.i2p.client:streaming, net.i2p.client:mstreaming 2.7.0, plus i2ptunnel.jar)"
}

main "$@"
