#!/usr/bin/env bash
# i2pd.sh: print the path of an i2pd binary of a given version, building it if needed.
#
# Usage: contrib/routers/i2pd.sh [--no-build] VERSION|PATH
#   VERSION  e.g. 2.45.1, 2.56.0, 2.59.0
#   PATH     an i2pd binary (anything with a `/`): checked and printed as it is
# The binary's absolute path is the LAST line of stdout; progress goes to stderr.
# Exit 0: found or built. Exit 3: not available (with --no-build: not found without
# building; otherwise no source reachable). Exit 1: any other failure (bad build, ...).
#
# Where the binary comes from, first match wins:
#   1. I2PD=/path/to/i2pd (explicit), if `i2pd --version` names VERSION
#   2. /usr/sbin/i2pd (the distribution's package), if it is VERSION
#   3. the cache: $I2PSOCKS_ROUTERS_CACHE/i2pd-VERSION/i2pd
#      (default cache /var/cache/i2psocks-routers)
#   4. a build from source, installed into that cache. The source tarball comes from
#      a. $CACHE/src/i2pd_VERSION.orig.tar.gz (kept from an earlier download),
#      b. Debian's source package i2pd=VERSION-$I2PD_DEBIAN_REVISION (default 1), fetched
#         with `apt-get source --download-only` through a private apt configuration in
#         $CACHE/apt (its own sources list with deb-src lines for trixie and sid on
#         $DEBIAN_MIRROR, its own lists and cache: the system's apt setup is untouched;
#         apt checks the files against the signed Sources index),
#      c. upstream's release tarball,
#         https://github.com/PurpleI2P/i2pd/archive/refs/tags/VERSION.tar.gz
#         (for machines that reach GitHub), accepted only if its SHA-256 is the one in
#         KNOWN_SHA256 below or in $I2PD_TARBALL_SHA256.
#      Build: `make USE_UPNP=no` (build dependencies: libboost-program-options-dev
#      libboost-filesystem-dev libboost-date-time-dev libssl-dev zlib1g-dev, which
#      contrib/install-deps.sh installs). Builds hold a lock per version, so parallel
#      callers build once.
set -euo pipefail

CACHE=${I2PSOCKS_ROUTERS_CACHE:-/var/cache/i2psocks-routers}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_REVISION=${I2PD_DEBIAN_REVISION:-1}
SYSTEM_I2PD=/usr/sbin/i2pd
BUILD_WORK=""
BUILD_DEPS=(libboost-program-options-dev libboost-filesystem-dev libboost-date-time-dev libssl-dev zlib1g-dev)

# SHA-256 of the release tarballs (the same bytes as Debian's i2pd_VERSION.orig.tar.gz).
declare -A KNOWN_SHA256=(
	[2.56.0]=eb83f7e98afeb3704d9ee0da2499205f73bab0b1becaf4494ccdcbe4295f8550
	[2.59.0]=1e84ac79c6cecd797951545df8ed54d45cbcecef5dd7e59834dc7e1c55410df9
)

log() { printf '[i2pd.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
unavailable() {
	log "NOT AVAILABLE: $*"
	exit 3
}
usage() {
	sed -n '4,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# version_of BINARY: "2.45.1" from the first line of `i2pd --version`
# ("i2pd version 2.45.1 (0.9.57)"), empty if it does not run.
version_of() {
	"$1" --version 2>/dev/null | sed -n '1s/^i2pd version \([0-9][0-9.]*\).*/\1/p'
}

is_version() { [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; }

# found BINARY: print its absolute path and stop.
found() {
	log "i2pd $VERSION: $1 ($2)"
	printf '%s\n' "$1"
	exit 0
}

try_explicit() {
	[[ -n ${I2PD:-} ]] || return 0
	[[ -x $I2PD ]] || die "I2PD=$I2PD is not an executable file"
	local v
	v=$(version_of "$I2PD")
	if [[ $v == "$VERSION" ]]; then found "$(readlink -f "$I2PD")" "from I2PD="; fi
	log "I2PD=$I2PD is version '${v:-unknown}', not $VERSION: looking further"
}

try_system() {
	[[ -x $SYSTEM_I2PD && $(version_of "$SYSTEM_I2PD") == "$VERSION" ]] || return 0
	found "$SYSTEM_I2PD" "the distribution's package"
}

try_cache() {
	local bin="$CACHE/i2pd-$VERSION/i2pd"
	[[ -x $bin ]] || return 0
	[[ $(version_of "$bin") == "$VERSION" ]] || die "$bin does not report version $VERSION (delete $CACHE/i2pd-$VERSION)"
	found "$bin" "cached"
}

missing_build_deps() {
	local p missing=()
	for p in "${BUILD_DEPS[@]}" make g++; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	printf '%s\n' "${missing[@]}"
}

# private_apt ARGS...: apt-get with its own sources list, lists and cache under $CACHE/apt.
private_apt() {
	local a="$CACHE/apt"
	apt-get -q -o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts="$a/sources.list.d" \
		-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o Dir::Cache::archives="$a/archives" \
		-o APT::Sandbox::User=root "$@"
}

# fetch_debian_source DIR: Debian's source package of VERSION into DIR; false if apt
# cannot get it (no mirror reachable, version not in trixie or sid).
fetch_debian_source() {
	local dir=$1 a="$CACHE/apt"
	command -v apt-get >/dev/null || return 1
	mkdir -p "$a/sources.list.d" "$a/lists/partial" "$a/cache" "$a/archives/partial"
	printf 'deb-src %s trixie main\ndeb-src %s sid main\n' "$DEBIAN_MIRROR" "$DEBIAN_MIRROR" >"$a/sources.list"
	log "fetching Debian's source package i2pd=$VERSION-$DEBIAN_REVISION (private apt config in $a)"
	private_apt update >&2 || return 1
	(cd "$dir" && private_apt source --download-only "i2pd=$VERSION-$DEBIAN_REVISION") >&2 || return 1
	[[ -s $dir/i2pd_$VERSION.orig.tar.gz ]]
}

# fetch_upstream DIR: upstream's release tarball, checked against its known SHA-256.
fetch_upstream() {
	local dir=$1 url="https://github.com/PurpleI2P/i2pd/archive/refs/tags/$VERSION.tar.gz"
	local want=${I2PD_TARBALL_SHA256:-${KNOWN_SHA256[$VERSION]:-}} got
	command -v curl >/dev/null || return 1
	log "downloading $url"
	curl -fsSL --max-time 300 -o "$dir/upstream.tar.gz" "$url" >&2 || return 1
	got=$(sha256sum "$dir/upstream.tar.gz" | cut -d' ' -f1)
	[[ -n $want ]] || die "no known SHA-256 for i2pd $VERSION's tarball (got $got): check it and set I2PD_TARBALL_SHA256"
	[[ $got == "$want" ]] || die "i2pd $VERSION tarball from $url has SHA-256 $got, expected $want"
	mv "$dir/upstream.tar.gz" "$dir/i2pd_$VERSION.orig.tar.gz"
}

# source_tarball: path of i2pd_VERSION.orig.tar.gz in $CACHE/src, fetched if needed.
source_tarball() {
	local src="$CACHE/src" tmp
	local tarball="$src/i2pd_$VERSION.orig.tar.gz"
	if [[ -s $tarball ]]; then
		printf '%s\n' "$tarball"
		return 0
	fi
	mkdir -p "$src"
	tmp=$(mktemp -d "$src/.fetch-$VERSION.XXXXXX")
	if fetch_debian_source "$tmp" || fetch_upstream "$tmp"; then
		mv "$tmp"/* "$src/"
		rmdir "$tmp"
		printf '%s\n' "$tarball"
		return 0
	fi
	rm -rf -- "$tmp"
	unavailable "i2pd $VERSION: no source reachable (Debian source package i2pd=$VERSION-$DEBIAN_REVISION on $DEBIAN_MIRROR, nor upstream's release tarball); put i2pd_$VERSION.orig.tar.gz into $src or point I2PD= at a binary"
}

# build: compile VERSION from its tarball and install it as $CACHE/i2pd-VERSION/i2pd.
build() {
	local missing tarball started jobs work
	missing=$(missing_build_deps | tr '\n' ' ')
	[[ -z ${missing// /} ]] || die "cannot build i2pd $VERSION: missing packages: $missing(apt-get install $missing, or run contrib/install-deps.sh)"
	tarball=$(source_tarball | tail -n 1)
	work=$(mktemp -d "$CACHE/.build-$VERSION.XXXXXX")
	# Removed on any exit (a global: the trap runs after this function returned).
	BUILD_WORK=$work
	trap 'rm -rf -- "$BUILD_WORK"' EXIT
	tar -xzf "$tarball" -C "$work" --strip-components=1
	jobs=$(nproc 2>/dev/null || echo 2)
	started=$SECONDS
	log "building i2pd $VERSION in $work (make -j$jobs USE_UPNP=no; log: $work/make.log)"
	if ! make -C "$work" -j"$jobs" USE_UPNP=no >"$work/make.log" 2>&1; then
		tail -n 30 "$work/make.log" >&2
		die "building i2pd $VERSION failed"
	fi
	[[ $(version_of "$work/i2pd") == "$VERSION" ]] || die "the build of $VERSION does not report that version"
	mkdir -p "$CACHE/.i2pd-$VERSION.new"
	cp "$work/i2pd" "$CACHE/.i2pd-$VERSION.new/i2pd"
	cp "$work/make.log" "$CACHE/.i2pd-$VERSION.new/make.log"
	echo "$((SECONDS - started))" >"$CACHE/.i2pd-$VERSION.new/build-seconds"
	mv -T "$CACHE/.i2pd-$VERSION.new" "$CACHE/i2pd-$VERSION"
	log "built i2pd $VERSION in $((SECONDS - started)) s"
}

main() {
	local no_build=0
	if [[ ${1:-} == --no-build ]]; then
		no_build=1
		shift
	fi
	[[ $# -eq 1 ]] || usage
	if [[ $1 == */* ]]; then
		[[ -x $1 ]] || die "$1 is not an executable file"
		VERSION=$(version_of "$1")
		[[ -n $VERSION ]] || die "$1 does not answer --version like i2pd"
		found "$(readlink -f "$1")" "given as a path"
	fi
	VERSION=$1
	is_version "$VERSION" || die "'$VERSION' is neither a version (like 2.59.0) nor a path"
	try_explicit
	try_system
	try_cache
	[[ $no_build == 0 ]] || unavailable "i2pd $VERSION is not built yet (run contrib/routers/i2pd.sh $VERSION)"
	mkdir -p "$CACHE"
	# One build per version at a time; whoever waited finds the cached binary.
	exec 9>"$CACHE/.lock-i2pd-$VERSION"
	flock 9
	try_cache
	build
	flock -u 9
	try_cache
	die "i2pd $VERSION: built, but $CACHE/i2pd-$VERSION/i2pd is missing"
}

main "$@"
