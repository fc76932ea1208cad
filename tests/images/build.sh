#!/usr/bin/env bash
# Build the local images that pytest-dockerhost's tests use.  No registry is
# ever contacted: every image is `docker import`ed from a rootfs made here from
# Debian packages (apt mirror as configured on this machine) and PyPI wheels
# (pip as configured).
#
#   pytest-dockerhost-test/busybox:local  static busybox, httpd on :80 serving
#                                         /www/index.html = "pytest-dockerhost-test ok"
#   pytest-dockerhost-test/dind:local     local stand-in for docker:dind
#                                         (bookworm + docker.io 20.10, dind-entrypoint.sh)
#   pytest-dockerhost-test/agent:local    Jenkins-like CI agent: python3 venv /opt/venv,
#                                         wheelhouse /opt/wheelhouse, user jenkins 1000,
#                                         group docker 1999
#   pytest-dockerhost-test/dind:28        the same dind contract on Debian sid: docker.io
#                                         28.x (API 1.51), docker-cli, containerd 2.x, runc
#   pytest-dockerhost-test/podman:5       Debian sid's podman 5.x serving the Docker API:
#                                         podman system service on /run/outer/podman.sock
#   pytest-dockerhost-test/registry:local Debian's docker-registry (distribution v2.8) on :5000,
#                                         filesystem storage in /var/lib/docker-registry, one
#                                         access-log line per request on stdout (docker logs)
#   pytest-dockerhost-test/remote:local   an engine on another machine: dind:local's rootfs
#                                         plus openssh-server; sshd, then the dind entrypoint
#                                         with --ip=127.0.0.1 (remote-entrypoint.sh)
#   pytest-dockerhost-test/podman-remote:5  podman:5's rootfs plus openssh-server, no docker
#                                         CLI; sshd, then podman system service on
#                                         /run/podman/podman.sock
#   pytest-dockerhost-test/remote-python:local  remote:local plus the agent's venv /opt/venv
#                                         (pytest, pytest-xdist, testcontainers, docker) and
#                                         wheelhouse /opt/wheelhouse: a host that xdist's
#                                         --tx ssh=... runs workers on (tests copy the plugin's
#                                         wheel in at run time)
#
# Usage: tests/images/build.sh [--force] [--verify] [-v] [busybox|dind|agent|dind28|podman|registry|remote|podman-remote|remote-python ...]
#   (no names: all nine)  --force   rebuild even when cached
#   --verify  afterwards, smoke-test the images against the local engine
#             (non-privileged nested dockerd, see /work/shared/docker-on-ci.md §3)
#   -v        stream the build log to stderr (it always goes to $CACHE/build.log)
#
# Cache: each image carries the label org.pytest-dockerhost.build-hash, the
# sha256 of what defines it (the shell functions that build it, the package
# list, the entrypoint, the pinned wheel list, the busybox binary).  An image
# whose tag exists with the same label value is not rebuilt.  The debootstrap
# rootfs shared by dind and agent (and the sid, podman and registry ones), the
# .deb cache and the wheelhouse live under $CACHE (default
# /var/cache/pytest-dockerhost-test), keyed the same way, so only the first run
# on a machine pays for debootstrap.  The remotes' rootfs are copies of the base
# and podman ones with openssh-server added by apt-get in a chroot, keyed by the
# rootfs they copy: the other images' hashes do not depend on them.
#
# Measured on the 2-core CI machine (Debian 12, dockerd 20.10, one run each):
#   cold (no images, empty cache, busybox-static/debootstrap not installed)
#     ~100 s: apt-get install 6 s, debootstrap 55-63 s, dind import 5 s,
#     wheelhouse download 8 s, agent (copy, venv, pip, import) 16 s
#   registry alone, cold (no image, empty cache)  34 s: debootstrap of its own small
#     bookworm minbase + docker-registry 31 s, import 3 s (image 137 MB)
#   rebuild of dind alone with the rootfs cached   ~5 s
#   rebuild of registry alone with its rootfs cached  2.3 s
#   remote, podman-remote with dind's and podman's rootfs cached (openssh-server layered
#     by apt-get in a chroot, then import)         19 s, 13 s
#   the same, cold (empty cache: debootstrap first)  68 s (debootstrap 55 s, layering 6.5 s),
#     59 s (debootstrap of sid 46 s, layering 8.5 s)
#   rebuild of either with its layered rootfs cached (an entrypoint edit)  9-13 s (import)
#   warm (everything cached)                       ~0.13 s (all eight: 0.36 s)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PDH_TEST_CACHE:-/var/cache/pytest-dockerhost-test}
LOG=$CACHE/build.log
LABEL=org.pytest-dockerhost.build-hash
SUITE=bookworm
PY_VERSION=3.11 # bookworm's python3

BUSYBOX_TAG=pytest-dockerhost-test/busybox:local
DIND_TAG=pytest-dockerhost-test/dind:local
AGENT_TAG=pytest-dockerhost-test/agent:local
DIND28_TAG=pytest-dockerhost-test/dind:28
PODMAN_TAG=pytest-dockerhost-test/podman:5
REGISTRY_TAG=pytest-dockerhost-test/registry:local
REMOTE_TAG=pytest-dockerhost-test/remote:local
PODMAN_REMOTE_TAG=pytest-dockerhost-test/podman-remote:5
REMOTE_PYTHON_TAG=pytest-dockerhost-test/remote-python:local

# One debootstrap for dind and agent: the union of what both need.
BASE_PACKAGES=(
	docker.io iptables ca-certificates openssl procps iproute2 # dind
	xz-utils pigz e2fsprogs                                    # like docker:dind
	python3 python3-venv                                       # agent
)
# Debian sid: today's engine (docker.io 28.x, with the CLI in its own package).
SID_PACKAGES=(
	docker.io docker-cli containerd runc tini iptables ca-certificates openssl procps
	iproute2 kmod hostname util-linux mount xz-utils pigz e2fsprogs
)
# Podman's Docker-compatible API (docker-on-ci.md section 7: runc and cgroupfs on this
# cgroup v1 host, nftables for netavark).
PODMAN_PACKAGES=(
	podman runc conmon netavark aardvark-dns nftables iptables catatonit ca-certificates
	procps iproute2 util-linux mount
)
# A registry for mirror tests: its own small bookworm minbase, not the 550 MB base.
REGISTRY_PACKAGES=(docker-registry)
# What an engine on another machine adds, layered on the dind and podman rootfs (a copy
# plus apt-get in a chroot) so that neither their debootstrap nor their images change.
REMOTE_PACKAGES=(openssh-server)

FORCE=0
VERIFY=0
VERBOSE=0
CURRENT=

die() {
	printf 'build.sh: %s\n' "$*" >&2
	exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sha256() { sha256sum | cut -d' ' -f1; }

# --- host helpers ----------------------------------------------------------

APT_UPDATED=0
ensure_host_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}"
	if ((!APT_UPDATED)); then
		apt-get update -q
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Debian mirror apt is configured with (for $SUITE), else deb.debian.org.
debian_mirror() {
	local m=
	if [[ -n ${PDH_DEBIAN_MIRROR:-} ]]; then
		echo "$PDH_DEBIAN_MIRROR"
		return
	fi
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
	m=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v s="$SUITE" '$2 == s { print $1; exit }') || true
	echo "${m:-http://deb.debian.org/debian/}"
}

# Unmount whatever is still mounted below $1 (debootstrap mounts proc/sys).
unmount_under() {
	local root m
	root=$(realpath -m -- "$1")
	awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m" || true; done
}

# rm -rf that never follows a leftover mount into the host's /proc or /sys.
safe_rmtree() {
	[[ -e $1 ]] || return 0
	unmount_under "$1"
	rm -rf --one-file-system -- "$1"
}

# tar a rootfs (plus extra `-C dir path` arguments) into `docker import`.
import_rootfs() {
	local root=$1 tag=$2
	shift 2
	local changes=() extra=()
	while (($#)); do
		case $1 in
		--change) changes+=(--change "$2"); shift 2 ;;
		--) shift; extra=("$@"); break ;;
		*) die "import_rootfs: $1" ;;
		esac
	done
	tar --numeric-owner --xattrs --xattrs-include='security.capability' \
		--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./tmp/*' \
		-C "$root" -cf - . "${extra[@]}" |
		docker import "${changes[@]}" - "$tag" >/dev/null
}

image_label() {
	docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# --- shared pieces -----------------------------------------------------------

base_hash() { rootfs_hash "$SUITE" "${BASE_PACKAGES[@]}"; }
sid_hash() { rootfs_hash sid "${SID_PACKAGES[@]}"; }

rootfs_hash() {
	{
		declare -f make_rootfs
		echo "$*"
	} | sha256
}

make_base_rootfs() { make_rootfs base "$SUITE" "${BASE_PACKAGES[@]}"; }
make_sid_rootfs() { make_rootfs sid sid "${SID_PACKAGES[@]}"; }
make_podman_rootfs() { make_rootfs podman sid "${PODMAN_PACKAGES[@]}"; }
make_registry_rootfs() { make_rootfs registry "$SUITE" "${REGISTRY_PACKAGES[@]}"; }

# debootstrap --variant=minbase SUITE with PACKAGES into $CACHE/rootfs/NAME.
make_rootfs() {
	local name=$1 suite=$2
	shift 2
	local dir=$CACHE/rootfs/$name want mirror
	want=$(rootfs_hash "$suite" "$@")
	if [[ -f $dir.hash && $(<"$dir.hash") == "$want" && -d $dir/usr/bin ]]; then
		return 0
	fi
	[[ $(id -u) == 0 ]] || die "debootstrap needs root"
	ensure_host_pkgs debootstrap debian-archive-keyring
	mirror=$(debian_mirror) # the same mirror serves every suite
	echo "== debootstrap $suite from $mirror"
	safe_rmtree "$dir.tmp"
	mkdir -p "$CACHE/debs-$suite" "$CACHE/rootfs"
	local t0 rc=0
	t0=$(now)
	debootstrap --variant=minbase --cache-dir="$CACHE/debs-$suite" \
		--include="$(IFS=,; echo "$*")" \
		"$suite" "$dir.tmp" "$mirror" || rc=$?
	unmount_under "$dir.tmp"
	((rc == 0)) || die "debootstrap failed ($rc); see $dir.tmp/debootstrap/debootstrap.log"
	echo "== debootstrap took $(since "$t0") s"
	# nothing a container needs: package lists, logs, caches
	rm -rf "$dir.tmp"/var/lib/apt/lists/* "$dir.tmp"/var/cache/apt/*.bin \
		"$dir.tmp"/var/cache/apt/archives/*.deb "$dir.tmp"/var/cache/debconf/*-old \
		"$dir.tmp"/var/log/*.log "$dir.tmp"/var/log/apt/* "$dir.tmp"/tmp/* \
		"$dir.tmp"/etc/hostname "$dir.tmp"/etc/resolv.conf
	safe_rmtree "$dir"
	mv "$dir.tmp" "$dir"
	echo "$want" >"$dir.hash"
}

# $CACHE/rootfs/NAME: a copy of the cached rootfs FROM (whose hash is FROM_HASH) with
# PACKAGES installed by apt-get in a chroot, from FROM's own sources.list.
layered_rootfs_hash() {
	{
		declare -f make_layered_rootfs
		echo "$*"
	} | sha256
}

make_layered_rootfs() {
	local name=$1 from=$2 from_hash=$3
	shift 3
	local dir=$CACHE/rootfs/$name want rc=0 t0
	want=$(layered_rootfs_hash "$from" "$from_hash" "$@")
	if [[ -f $dir.hash && $(<"$dir.hash") == "$want" && -d $dir/usr/bin ]]; then
		return 0
	fi
	[[ $(id -u) == 0 ]] || die "chroot needs root"
	echo "== layering $* on $from"
	t0=$(now)
	safe_rmtree "$dir.tmp"
	cp -a "$CACHE/rootfs/$from" "$dir.tmp"
	# no service may start in the chroot: sshd would listen on this machine's port 22.
	# The mirror may serve a sid whose Release is past its Valid-Until (debootstrap does
	# not check it; apt does).
	printf '#!/bin/sh\nexit 101\n' >"$dir.tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$dir.tmp/usr/sbin/policy-rc.d"
	cp -L /etc/resolv.conf "$dir.tmp/etc/resolv.conf"
	chroot "$dir.tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -euxc '
			apt-get -o Acquire::Check-Valid-Until=false update -q
			apt-get install -y -q --no-install-recommends "$@"
		' sh "$@" || rc=$?
	unmount_under "$dir.tmp"
	((rc == 0)) || die "apt-get install $* in a copy of $from failed ($rc)"
	# host keys made at install time would be every container's: each makes its own
	rm -rf "$dir.tmp"/var/lib/apt/lists/* "$dir.tmp"/var/cache/apt/*.bin \
		"$dir.tmp"/var/cache/apt/archives/*.deb "$dir.tmp"/var/cache/debconf/*-old \
		"$dir.tmp"/var/log/*.log "$dir.tmp"/var/log/apt/* "$dir.tmp"/tmp/* \
		"$dir.tmp"/etc/resolv.conf "$dir.tmp"/usr/sbin/policy-rc.d "$dir.tmp"/etc/ssh/ssh_host_*
	echo "== layering took $(since "$t0") s"
	safe_rmtree "$dir"
	mv "$dir.tmp" "$dir"
	echo "$want" >"$dir.hash"
}

# --- busybox -------------------------------------------------------------------

busybox_hash() {
	{
		declare -f build_busybox import_rootfs
		sha256 </bin/busybox
	} | sha256
}

build_busybox() {
	local root=$CACHE/rootfs/busybox a
	safe_rmtree "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,www,root,tmp,proc,sys,dev}
	install -m 0755 /bin/busybox "$root/bin/busybox"
	# every applet in /bin (so /bin/httpd exists) and at its usual place
	while read -r a; do
		[[ $a == busybox ]] || ln -sfn busybox "$root/bin/$a"
	done < <("$root/bin/busybox" --list)
	while read -r a; do
		[[ $a == bin/* ]] || ln -sfn /bin/busybox "$root/$a"
	done < <("$root/bin/busybox" --list-full)
	printf '%s' 'pytest-dockerhost-test ok' >"$root/www/index.html"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
	chmod 1777 "$root/tmp"
	chmod 0700 "$root/root"
	import_rootfs "$root" "$BUSYBOX_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'EXPOSE 80' \
		--change 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' \
		--change "LABEL $LABEL=$1"
	safe_rmtree "$root"
}

# --- dind --------------------------------------------------------------------

dind_hash() { dind_image_hash base_hash; }
dind28_hash() { dind_image_hash sid_hash; }

dind_image_hash() {
	{
		"$1"
		declare -f build_dind_from import_rootfs
		sha256 <"$HERE/dind-entrypoint.sh"
	} | sha256
}

build_dind() { make_base_rootfs && build_dind_from base "$DIND_TAG" "$1"; }
build_dind28() { make_sid_rootfs && build_dind_from sid "$DIND28_TAG" "$1"; }

build_dind_from() {
	local rootfs=$CACHE/rootfs/$1 tag=$2 ov=$CACHE/rootfs/dind-overlay
	safe_rmtree "$ov"
	mkdir -p "$ov/usr/local/bin" "$ov/certs/client"
	install -m 0755 "$HERE/dind-entrypoint.sh" "$ov/usr/local/bin/dockerd-entrypoint.sh"
	# like docker:dind: pre-created, wide enough for any user to create subdirs
	chmod 1777 "$ov/certs" "$ov/certs/client"
	# docker:dind declares its engine's version; the package's upstream part here.
	local version
	version=$(awk '/^Package: docker.io$/ { p = 1 } p && /^Version:/ { print $2; exit }' \
		"$rootfs/var/lib/dpkg/status" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//')
	[ -n "$version" ] || { echo "no docker.io version in $rootfs" >&2; return 1; }
	import_rootfs "$rootfs" "$tag" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change "ENV DOCKER_VERSION=$version" \
		--change 'ENV DOCKER_TLS_CERTDIR=/certs' \
		--change 'VOLUME /var/lib/docker' \
		--change 'EXPOSE 2375 2376' \
		--change 'ENTRYPOINT ["/usr/local/bin/dockerd-entrypoint.sh"]' \
		--change 'CMD []' \
		--change "LABEL $LABEL=$3" \
		-- -C "$ov" ./usr/local/bin/dockerd-entrypoint.sh ./certs
	safe_rmtree "$ov"
}

# --- podman --------------------------------------------------------------------

podman_hash() {
	{
		rootfs_hash sid "${PODMAN_PACKAGES[@]}"
		declare -f build_podman import_rootfs
	} | sha256
}

build_podman() {
	local ov=$CACHE/rootfs/podman-overlay
	make_podman_rootfs
	safe_rmtree "$ov"
	mkdir -p "$ov/etc/containers"
	cat >"$ov/etc/containers/containers.conf" <<-'EOF'
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		[containers]
		netns = "bridge"
	EOF
	import_rootfs "$CACHE/rootfs/podman" "$PODMAN_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'VOLUME /var/lib/containers' \
		--change 'ENTRYPOINT ["podman", "system", "service", "--time=0"]' \
		--change 'CMD ["unix:///run/outer/podman.sock"]' \
		--change "LABEL $LABEL=$1" \
		-- -C "$ov" ./etc/containers/containers.conf
	safe_rmtree "$ov"
}

# --- registry ------------------------------------------------------------------

registry_hash() {
	{
		rootfs_hash "$SUITE" "${REGISTRY_PACKAGES[@]}"
		declare -f build_registry import_rootfs
	} | sha256
}

build_registry() {
	local ov=$CACHE/rootfs/registry-overlay
	make_registry_rootfs
	safe_rmtree "$ov"
	mkdir -p "$ov/etc/docker/registry"
	# Beside Debian's config.yml (which asks for htpasswd auth; docker import refuses a
	# second copy of a path). No auth; the access log (Apache combined format, one line
	# per request) on stdout, the app's "response completed" lines (level info) on stderr.
	cat >"$ov/etc/docker/registry/pytest-dockerhost.yml" <<-'EOF'
		version: 0.1
		log:
		  level: info
		  formatter: text
		  accesslog:
		    disabled: false
		storage:
		  filesystem:
		    rootdirectory: /var/lib/docker-registry
		  delete:
		    enabled: true
		  maintenance:
		    uploadpurging:
		      enabled: false
		http:
		  addr: :5000
		  headers:
		    X-Content-Type-Options: [nosniff]
	EOF
	import_rootfs "$CACHE/rootfs/registry" "$REGISTRY_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'EXPOSE 5000' \
		--change 'ENTRYPOINT ["/usr/bin/docker-registry"]' \
		--change 'CMD ["serve", "/etc/docker/registry/pytest-dockerhost.yml"]' \
		--change "LABEL $LABEL=$1" \
		-- -C "$ov" ./etc/docker/registry/pytest-dockerhost.yml
	safe_rmtree "$ov"
}

# --- engines on another machine: sshd beside the engine --------------------------

remote_hash() {
	{
		base_hash
		echo "${REMOTE_PACKAGES[*]}"
		declare -f make_layered_rootfs build_remote import_rootfs
		sha256 <"$HERE/dind-entrypoint.sh"
		sha256 <"$HERE/remote-entrypoint.sh"
	} | sha256
}

# dind:local's rootfs plus sshd; the dind entrypoint runs behind remote-entrypoint.sh.
build_remote() {
	local rootfs=$CACHE/rootfs/remote ov=$CACHE/rootfs/remote-overlay version
	make_base_rootfs
	make_layered_rootfs remote base "$(base_hash)" "${REMOTE_PACKAGES[@]}"
	safe_rmtree "$ov"
	mkdir -p "$ov/usr/local/bin" "$ov/certs/client"
	install -m 0755 "$HERE/dind-entrypoint.sh" "$ov/usr/local/bin/dockerd-entrypoint.sh"
	install -m 0755 "$HERE/remote-entrypoint.sh" "$ov/usr/local/bin/remote-entrypoint.sh"
	chmod 1777 "$ov/certs" "$ov/certs/client"
	version=$(awk '/^Package: docker.io$/ { p = 1 } p && /^Version:/ { print $2; exit }' \
		"$rootfs/var/lib/dpkg/status" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//')
	[ -n "$version" ] || { echo "no docker.io version in $rootfs" >&2; return 1; }
	# No DOCKER_TLS_CERTDIR: the unix socket only, unless a test asks for TLS.
	import_rootfs "$rootfs" "$REMOTE_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change "ENV DOCKER_VERSION=$version" \
		--change 'ENV REMOTE_ENGINE=docker' \
		--change 'VOLUME /var/lib/docker' \
		--change 'EXPOSE 22 2376' \
		--change 'ENTRYPOINT ["/usr/local/bin/remote-entrypoint.sh"]' \
		--change 'CMD []' \
		--change "LABEL $LABEL=$1" \
		-- -C "$ov" ./usr/local/bin/dockerd-entrypoint.sh ./usr/local/bin/remote-entrypoint.sh ./certs
	safe_rmtree "$ov"
}

podman_remote_hash() {
	{
		rootfs_hash sid "${PODMAN_PACKAGES[@]}"
		echo "${REMOTE_PACKAGES[*]}"
		declare -f make_layered_rootfs build_podman_remote import_rootfs
		sha256 <"$HERE/remote-entrypoint.sh"
	} | sha256
}

# podman:5's rootfs and containers.conf plus sshd; no docker CLI, as on a Podman host.
build_podman_remote() {
	local rootfs=$CACHE/rootfs/podman-remote ov=$CACHE/rootfs/podman-remote-overlay
	make_podman_rootfs
	make_layered_rootfs podman-remote podman "$(rootfs_hash sid "${PODMAN_PACKAGES[@]}")" \
		"${REMOTE_PACKAGES[@]}"
	[[ ! -e $rootfs/usr/bin/docker ]] || die "podman-remote: a docker CLI came in"
	safe_rmtree "$ov"
	mkdir -p "$ov/etc/containers" "$ov/usr/local/bin"
	install -m 0755 "$HERE/remote-entrypoint.sh" "$ov/usr/local/bin/remote-entrypoint.sh"
	# the same settings as podman:5's
	cat >"$ov/etc/containers/containers.conf" <<-'EOF'
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		[containers]
		netns = "bridge"
	EOF
	import_rootfs "$rootfs" "$PODMAN_REMOTE_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV REMOTE_ENGINE=podman' \
		--change 'VOLUME /var/lib/containers' \
		--change 'EXPOSE 22' \
		--change 'ENTRYPOINT ["/usr/local/bin/remote-entrypoint.sh"]' \
		--change 'CMD []' \
		--change "LABEL $LABEL=$1" \
		-- -C "$ov" ./etc/containers/containers.conf ./usr/local/bin/remote-entrypoint.sh
	safe_rmtree "$ov"
}

# --- agent -------------------------------------------------------------------

wheelhouse_hash() {
	{
		declare -f make_wheelhouse
		echo "$PY_VERSION"
		sha256 <"$HERE/agent-requirements.txt"
	} | sha256
}

# Wheels for bookworm's CPython $PY_VERSION, whatever python the host has.
make_wheelhouse() {
	local wh=$CACHE/wheelhouse want py arch v plat=()
	want=$(wheelhouse_hash)
	if [[ -f $wh/.hash && $(<"$wh/.hash") == "$want" ]]; then
		return 0
	fi
	py=$(command -v "python$PY_VERSION" || command -v python3) || die "no python3 on the host"
	"$py" -m pip --version >/dev/null 2>&1 || ensure_host_pkgs python3-pip
	arch=$(uname -m)
	# pip does not expand --platform to older manylinux tags by itself;
	# bookworm has glibc 2.36
	for v in $(seq 36 -1 5); do plat+=("--platform=manylinux_2_${v}_$arch"); done
	plat+=("--platform=manylinux2014_$arch" "--platform=manylinux2010_$arch" "--platform=manylinux1_$arch")
	rm -rf "$wh.tmp"
	"$py" -m pip download --disable-pip-version-check --only-binary=:all: \
		--python-version "$PY_VERSION" --implementation cp --abi "cp${PY_VERSION/./}" "${plat[@]}" \
		-d "$wh.tmp" -r "$HERE/agent-requirements.txt"
	echo "$want" >"$wh.tmp/.hash"
	rm -rf "$wh"
	mv "$wh.tmp" "$wh"
}

agent_hash() {
	{
		base_hash
		wheelhouse_hash
		declare -f build_agent import_rootfs
	} | sha256
}

build_agent() {
	local root=$CACHE/rootfs/agent
	make_base_rootfs
	make_wheelhouse
	safe_rmtree "$root"
	cp -a "$CACHE/rootfs/base" "$root"
	mkdir -p "$root/opt/wheelhouse"
	cp "$CACHE"/wheelhouse/*.whl "$root/opt/wheelhouse/"
	cp "$HERE/agent-requirements.txt" "$root/opt/agent-requirements.txt"
	chmod -R a+rX "$root/opt"
	# A clean environment: the host's PIP_* settings must not leak in.
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		/bin/sh -euxc '
			# docker.io created a system group "docker"; give it a gid that
			# deliberately differs from any host socket gid (DooD trap)
			if getent group docker >/dev/null; then groupmod -g 1999 docker; else groupadd -g 1999 docker; fi
			groupadd -g 1000 jenkins
			useradd -u 1000 -g 1000 -G docker -m -d /home/jenkins -s /bin/bash jenkins
			python3 -m venv /opt/venv
			/opt/venv/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
				--find-links /opt/wheelhouse -r /opt/agent-requirements.txt
			chown -R 1000:1000 /opt/venv
			/opt/venv/bin/python -c "import pytest, xdist, docker, testcontainers, filelock, requests, trustme, cryptography"
		'
	import_rootfs "$root" "$AGENT_TAG" \
		--change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV VIRTUAL_ENV=/opt/venv' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'ENV PIP_NO_INDEX=1' \
		--change 'ENV PIP_FIND_LINKS=/opt/wheelhouse' \
		--change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
		--change 'WORKDIR /home/jenkins' \
		--change 'CMD ["sleep","infinity"]' \
		--change "LABEL $LABEL=$1"
	safe_rmtree "$root"
}

# --- a host for xdist's ssh workers: the remote plus python ------------------------

remote_python_hash() {
	{
		remote_hash
		wheelhouse_hash
		declare -f build_remote_python import_rootfs
	} | sha256
}

# remote:local's layered rootfs and overlay, plus the agent's venv (from the wheelhouse).
build_remote_python() {
	local root=$CACHE/rootfs/remote-python ov=$CACHE/rootfs/remote-python-overlay version
	make_base_rootfs
	make_layered_rootfs remote base "$(base_hash)" "${REMOTE_PACKAGES[@]}"
	make_wheelhouse
	safe_rmtree "$root"
	cp -a "$CACHE/rootfs/remote" "$root"
	mkdir -p "$root/opt/wheelhouse"
	cp "$CACHE"/wheelhouse/*.whl "$root/opt/wheelhouse/"
	cp "$HERE/agent-requirements.txt" "$root/opt/agent-requirements.txt"
	chmod -R a+rX "$root/opt"
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		/bin/sh -euxc '
			python3 -m venv /opt/venv
			/opt/venv/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
				--find-links /opt/wheelhouse -r /opt/agent-requirements.txt
			/opt/venv/bin/python -c "import pytest, xdist, execnet, docker, testcontainers"
		'
	safe_rmtree "$ov"
	mkdir -p "$ov/usr/local/bin" "$ov/certs/client"
	install -m 0755 "$HERE/dind-entrypoint.sh" "$ov/usr/local/bin/dockerd-entrypoint.sh"
	install -m 0755 "$HERE/remote-entrypoint.sh" "$ov/usr/local/bin/remote-entrypoint.sh"
	chmod 1777 "$ov/certs" "$ov/certs/client"
	version=$(awk '/^Package: docker.io$/ { p = 1 } p && /^Version:/ { print $2; exit }' \
		"$root/var/lib/dpkg/status" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//')
	[ -n "$version" ] || { echo "no docker.io version in $root" >&2; return 1; }
	import_rootfs "$root" "$REMOTE_PYTHON_TAG" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change "ENV DOCKER_VERSION=$version" \
		--change 'ENV REMOTE_ENGINE=docker' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'VOLUME /var/lib/docker' \
		--change 'EXPOSE 22 2376' \
		--change 'ENTRYPOINT ["/usr/local/bin/remote-entrypoint.sh"]' \
		--change 'CMD []' \
		--change "LABEL $LABEL=$1" \
		-- -C "$ov" ./usr/local/bin/dockerd-entrypoint.sh ./usr/local/bin/remote-entrypoint.sh ./certs
	safe_rmtree "$ov"
	safe_rmtree "$root"
}

# --- driver --------------------------------------------------------------------

# Run a build step with its output in the log (and on stderr with -v).
logged() {
	if ((VERBOSE)); then
		"$@" 2>&1 | tee -a "$LOG" >&2
	else
		"$@" >>"$LOG" 2>&1
	fi
}

ensure_image() {
	local name=$1 tag hash old t0
	local var=${name^^}_TAG
	tag=${!var}
	CURRENT=$tag
	t0=$(now)
	if [[ $name == busybox ]]; then
		logged ensure_host_pkgs busybox-static
		ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is not static (install busybox-static)"
	fi
	hash=$("${name}_hash")
	if ((!FORCE)) && [[ $(image_label "$tag") == "$hash" ]]; then
		printf '%-38s cached  %5ss\n' "$tag" "$(since "$t0")"
		return 0
	fi
	old=$(image_id "$tag")
	echo "== $(date -Is) building $tag ($LABEL=$hash)" >>"$LOG"
	logged "build_$name" "$hash"
	# drop the image the tag pointed to, unless something still uses it
	if [[ -n $old && $old != "$(image_id "$tag")" ]]; then
		docker image rm "$old" >/dev/null 2>&1 || true
	fi
	printf '%-38s built   %5ss\n' "$tag" "$(since "$t0")"
}

on_exit() {
	local rc=$?
	verify_cleanup
	# fd 8 is the original stderr: an exit inside `logged` still has its
	# stderr pointing at the log
	if ((rc != 0)) && [[ -n $CURRENT ]]; then
		printf 'build.sh: building %s FAILED (exit %s); last lines of %s:\n' "$CURRENT" "$rc" "$LOG" >&8
		tail -n 25 "$LOG" >&8 || true
	fi
}

main() {
	local names=() n
	while (($#)); do
		case $1 in
		--force) FORCE=1 ;;
		--verify) VERIFY=1 ;;
		-v | --verbose) VERBOSE=1 ;;
		-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
		busybox | dind | agent | dind28 | podman | registry | remote) names+=("$1") ;;
		podman-remote) names+=(podman_remote) ;;
		remote-python) names+=(remote_python) ;;
		*) die "unknown argument: $1 (try --help)" ;;
		esac
		shift
	done
	((${#names[@]})) || names=(busybox dind agent dind28 podman registry remote podman_remote remote_python)

	docker version >/dev/null 2>&1 || die "no Docker engine answers (docker version failed)"
	if ! mkdir -p "$CACHE" 2>/dev/null || [[ ! -w $CACHE ]]; then
		die "cannot write $CACHE (run as root, or set PDH_TEST_CACHE to a writable directory)"
	fi
	exec 8>&2 9>"$CACHE/build.lock"
	flock -w 1800 9 || die "another build.sh holds $CACHE/build.lock"
	trap on_exit EXIT

	for n in "${names[@]}"; do
		ensure_image "$n"
	done
	CURRENT=
	if ((VERIFY)); then
		verify "${names[@]}"
	fi
}

# --- verification (--verify) ----------------------------------------------------

VERIFY_CONTAINERS=()
VERIFY_VOLUMES=()
VERIFY_PIDS=()
VERIFY_TMP=

verify_cleanup() {
	local c v p
	for p in "${VERIFY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in "${VERIFY_CONTAINERS[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
	for v in "${VERIFY_VOLUMES[@]}"; do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
	[[ -z $VERIFY_TMP ]] || rm -rf "$VERIFY_TMP"
	VERIFY_CONTAINERS=()
	VERIFY_VOLUMES=()
	VERIFY_PIDS=()
}

http_get() {
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

# wait up to $1 seconds for "$@" to succeed
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(date +%s) < deadline)) || return 1
		sleep 0.2
	done
}

# The non-privileged profile that runs a nested dockerd on this machine
# (docker-on-ci.md §3: --privileged fails, engine lacks CAP_SYS_RESOURCE).
DIND_RUN_ARGS=(
	--security-opt seccomp=unconfined --security-opt apparmor=unconfined
	--security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm'
	-v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host
)
for _cap in CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP \
	LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER \
	SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_TIME \
	SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG \
	WAKE_ALARM BLOCK_SUSPEND AUDIT_READ; do
	DIND_RUN_ARGS+=(--cap-add "$_cap")
done
unset _cap

verify_busybox() {
	local c=pdh-verify-busybox-$$ port
	VERIFY_CONTAINERS+=("$c")
	docker run -d --name "$c" -p 127.0.0.1::80 "$BUSYBOX_TAG" >/dev/null
	port=$(docker port "$c" 80/tcp | head -n1 | sed 's/.*://')
	wait_for 10 http_get "http://127.0.0.1:$port/" || die "busybox: no HTTP answer on 127.0.0.1:$port"
	[[ $(http_get "http://127.0.0.1:$port/") == 'pytest-dockerhost-test ok' ]] || die "busybox: wrong page"
	echo "verify busybox: httpd answers on 127.0.0.1:$port"
}

verify_dind() {
	local c=pdh-verify-dind-$$ vol=pdh-verify-dind-$$ port ip inner nport t0 i certs
	VERIFY_TMP=$(mktemp -d)
	VERIFY_VOLUMES+=("$vol")
	VERIFY_CONTAINERS+=("$c")
	docker volume create "$vol" >/dev/null
	t0=$(now)
	docker run -d --name "$c" "${DIND_RUN_ARGS[@]}" -v "$vol:/var/lib/docker" -p 127.0.0.1::2376 "$DIND_TAG" >/dev/null
	port=$(docker port "$c" 2376/tcp | head -n1 | sed 's/.*://')
	# client/ca.pem is the last file the entrypoint writes (3 x 4096-bit RSA
	# keys first: tens of seconds on 2 cores)
	for ((i = 0; ; i++)); do
		docker exec "$c" test -s /certs/client/ca.pem 2>/dev/null && break
		[[ $(docker inspect -f '{{.State.Running}}' "$c") == true ]] ||
			die "dind: container stopped; logs: $(docker logs --tail 20 "$c" 2>&1)"
		((i < 900)) || die "dind: no client certs after 180 s"
		sleep 0.2
	done
	docker cp "$c:/certs/client" "$VERIFY_TMP/client"
	certs=(--tlsverify --tlscacert "$VERIFY_TMP/client/ca.pem" --tlscert "$VERIFY_TMP/client/cert.pem"
		--tlskey "$VERIFY_TMP/client/key.pem" -H "tcp://127.0.0.1:$port")
	wait_for 60 docker "${certs[@]}" version ||
		die "dind: no TLS answer on 127.0.0.1:$port; logs: $(docker logs --tail 20 "$c" 2>&1)"
	echo "verify dind: TLS daemon on 127.0.0.1:$port after $(since "$t0") s" \
		"(engine $(docker "${certs[@]}" version -f '{{.Server.Version}}'), storage $(docker "${certs[@]}" info -f '{{.Driver}}'))"
	docker save "$BUSYBOX_TAG" | docker "${certs[@]}" load >/dev/null
	inner=$(docker "${certs[@]}" run -d -p 8080:80 "$BUSYBOX_TAG")
	ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
	wait_for 10 http_get "http://$ip:8080/" || die "dind: nested container does not answer on $ip:8080"
	[[ $(http_get "http://$ip:8080/") == 'pytest-dockerhost-test ok' ]] || die "dind: wrong page"
	nport=$(docker "${certs[@]}" port "$inner" 80/tcp | head -n1)
	echo "verify dind: nested busybox answers on $ip:8080 (inner mapping $nport)"
	docker "${certs[@]}" rm -f "$inner" >/dev/null
}

verify_agent() {
	local sock gid out
	out=$(docker run --rm --user jenkins "$AGENT_TAG" sh -c \
		'id; echo "$PATH"; test -w /opt/venv && python -c "import docker, testcontainers, pytest, xdist, filelock, requests, trustme, cryptography; print(docker.__version__, pytest.__version__)"')
	grep -q 'uid=1000(jenkins) gid=1000(jenkins) groups=1000(jenkins),1999(docker)' <<<"$out" || die "agent: unexpected identity: $out"
	echo "verify agent: $(tr '\n' ' ' <<<"$out")"
	sock=/var/run/docker.sock
	if [[ -S $sock ]]; then
		gid=$(stat -c %g "$sock")
		docker run --rm --user jenkins -v "$sock:$sock" --group-add "$gid" "$AGENT_TAG" \
			python -c 'import docker; print("DooD ping", docker.from_env().ping())'
	fi
}

verify_registry() {
	local c=pdh-verify-registry-$$ port
	VERIFY_CONTAINERS+=("$c")
	docker run -d --name "$c" -p 127.0.0.1::5000 "$REGISTRY_TAG" >/dev/null
	port=$(docker port "$c" 5000/tcp | head -n1 | sed 's/.*://')
	wait_for 10 http_get "http://127.0.0.1:$port/v2/" || die "registry: no answer on 127.0.0.1:$port/v2/"
	[[ $(http_get "http://127.0.0.1:$port/v2/_catalog") == '{"repositories":[]}' ]] || die "registry: catalog not empty"
	docker logs "$c" 2>/dev/null | grep -q '"GET /v2/_catalog HTTP/1.1" 200' ||
		die "registry: no access-log line for GET /v2/_catalog; logs: $(docker logs --tail 20 "$c" 2>&1)"
	echo "verify registry: v2 API and access log on 127.0.0.1:$port"
}

verify_remote() { verify_remote_image remote "$REMOTE_TAG" /var/lib/docker docker; }
verify_podman_remote() {
	verify_remote_image podman-remote "$PODMAN_REMOTE_TAG" /var/lib/containers podman --remote
}

# sshd answers with the given host key and lets the given user key in; the engine's CLI
# works over ssh; what it publishes answers through ssh -L and not on the remote's address.
verify_remote_image() {
	local kind=$1 tag=$2 store=$3 c=pdh-verify-$1-$$ vol=pdh-verify-$1-$$ ip lport t0
	shift 3
	local cli=("$@") ssh
	ensure_host_pkgs openssh-client
	VERIFY_TMP=$(mktemp -d)
	VERIFY_VOLUMES+=("$vol")
	VERIFY_CONTAINERS+=("$c")
	ssh-keygen -q -t ed25519 -N '' -C user -f "$VERIFY_TMP/id"
	ssh-keygen -q -t ed25519 -N '' -C host -f "$VERIFY_TMP/host"
	docker volume create "$vol" >/dev/null
	t0=$(now)
	docker run -d --name "$c" "${DIND_RUN_ARGS[@]}" -v "$vol:$store" \
		-e SSH_AUTHORIZED_KEY="$(<"$VERIFY_TMP/id.pub")" -e SSH_HOST_ED25519_KEY="$(<"$VERIFY_TMP/host")" \
		"$tag" >/dev/null
	ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$c")
	echo "$ip $(cut -d' ' -f1,2 "$VERIFY_TMP/host.pub")" >"$VERIFY_TMP/known_hosts"
	ssh=(ssh -F /dev/null -i "$VERIFY_TMP/id" -o IdentitiesOnly=yes -o BatchMode=yes
		-o UserKnownHostsFile="$VERIFY_TMP/known_hosts" -o StrictHostKeyChecking=yes
		-o ConnectTimeout=5 -l root)
	wait_for 60 "${ssh[@]}" "$ip" "${cli[@]}" version ||
		die "$kind: no ${cli[*]} version over ssh to $ip; logs: $(docker logs --tail 20 "$c" 2>&1)"
	echo "verify $kind: ssh root@$ip runs ${cli[*]} $("${ssh[@]}" "$ip" "${cli[@]}" version -f '{{.Server.Version}}') after $(since "$t0") s"
	docker save "$BUSYBOX_TAG" | "${ssh[@]}" "$ip" "${cli[@]}" load >/dev/null
	"${ssh[@]}" "$ip" "${cli[@]}" run -d -p 8080:80 "$BUSYBOX_TAG" >/dev/null
	lport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"${ssh[@]}" -N -o ExitOnForwardFailure=yes -L "127.0.0.1:$lport:127.0.0.1:8080" "$ip" &
	VERIFY_PIDS+=($!)
	wait_for 10 http_get "http://127.0.0.1:$lport/" || die "$kind: no answer through ssh -L to :8080"
	[[ $(http_get "http://127.0.0.1:$lport/") == 'pytest-dockerhost-test ok' ]] || die "$kind: wrong page"
	! http_get "http://$ip:8080/" >/dev/null 2>&1 || die "$kind: its published port answers on $ip:8080"
	if [[ $kind == podman-remote ]] && "${ssh[@]}" "$ip" docker version >/dev/null 2>&1; then
		die "$kind: a docker CLI answers on the remote"
	fi
	echo "verify $kind: published :8080 answers through ssh -L only, not on $ip:8080"
}

verify() {
	local n
	for n in "$@"; do
		[[ $n == dind || $n == remote || $n == podman_remote ]] &&
			! [[ " $* " == *" busybox "* ]] && ensure_image busybox
		if declare -F "verify_$n" >/dev/null; then
			"verify_$n"
		else
			echo "verify $n: no smoke test"
		fi
		verify_cleanup
	done
}

main "$@"
