#!/bin/sh
# /usr/local/bin/dockerd-entrypoint.sh of pytest-dockerhost-test/dind:local.
#
# A local stand-in for the official docker:dind entrypoint
# (docker-library/docker, dockerd-entrypoint.sh + moby's hack/dind), written
# for a Debian bookworm rootfs with Debian's docker.io (dockerd 20.10).
# The contract it keeps:
#
#   * DOCKER_TLS_CERTDIR set and non-empty (the image sets /certs):
#       $DOCKER_TLS_CERTDIR/ca/{key,cert}.pem
#       $DOCKER_TLS_CERTDIR/server/{ca,cert,key}.pem   (+ csr.pem, openssl.cnf)
#       $DOCKER_TLS_CERTDIR/client/{ca,cert,key}.pem   (+ csr.pem, openssl.cnf)
#     The CA carries keyUsage=critical,digitalSignature,keyCertSign and the
#     server certificate keyUsage + extendedKeyUsage=serverAuth, as the
#     official script does since docker-library/docker#536 (2025): without
#     them Python >= 3.13 (VERIFY_X509_STRICT) rejects the CA with "CA cert
#     does not include key usage extension".  To reproduce older docker:dind
#     certificates, pre-seed server/{ca,cert,key}.pem (see below).
#     Keys (4096-bit RSA) are generated only when missing; certificates are
#     re-signed at every start (SANs and expiry may change).  If
#     server/{ca,cert,key}.pem exist and there is no ca/key.pem, the material
#     is used as it is and nothing at all is generated.  Then:
#       dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376
#               --tlsverify --tlscacert .../server/ca.pem
#               --tlscert .../server/cert.pem --tlskey .../server/key.pem
#     A generation failure stops the container (set -e), as in the official
#     image since 20.10.
#   * DOCKER_TLS_CERTDIR empty or unset:
#       dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375
#     without --tls=false, so dockerd delays its start (~15 s) on purpose, as
#     the real 20.10 image does.  Pass --tls=false yourself to skip the delay.
#   * No arguments, or a first argument starting with "-": the arguments are
#     appended to dockerd's.  A first argument "dockerd" runs dockerd with the
#     dind preparation but without the default arguments.  Anything else is
#     exec'd as a command.
#   * A stale /var/run/docker.pid (and containerd.pid) is removed before
#     dockerd starts.
set -eu

_tls_ensure_private() {
	f="$1"
	[ -s "$f" ] || openssl genrsa -out "$f" 4096
}

# Subject alternative names of the server certificate: every IP of the
# container, its hostname, docker, localhost, and $DOCKER_TLS_SAN (a comma-
# or space-separated list such as "DNS:foo,IP:1.2.3.4").
_tls_san() {
	{
		ip -oneline address | awk '{ gsub(/\/.+$/, "", $4); print "IP:" $4 }'
		{
			cat /etc/hostname
			echo 'docker'
			echo 'localhost'
			hostname -f 2>/dev/null || :
			hostname -s 2>/dev/null || :
		} | sed -e '/^$/d' -e 's/^/DNS:/'
		# shellcheck disable=SC2020 # comma and space both become newlines
		[ -z "${DOCKER_TLS_SAN:-}" ] || printf '%s\n' "$DOCKER_TLS_SAN" | tr ', ' '\n\n' | sed '/^$/d'
	} | sort -u | xargs printf '%s,' | sed 's/,$//'
}

_tls_generate_certs() {
	dir="$1"

	# if server/{ca,key,cert}.pem && !ca/key.pem, do NOTHING except verify
	# (the user manages the CA, for example a pre-seeded certs volume)
	if [ -s "$dir/server/ca.pem" ] \
		&& [ -s "$dir/server/cert.pem" ] \
		&& [ -s "$dir/server/key.pem" ] \
		&& [ ! -s "$dir/ca/key.pem" ]; then
		openssl verify -CAfile "$dir/server/ca.pem" "$dir/server/cert.pem"
		return 0
	fi

	# https://github.com/FiloSottile/mkcert/issues/174
	certValidDays='825'

	if [ -s "$dir/ca/key.pem" ] || [ ! -s "$dir/ca/cert.pem" ]; then
		# we either have the CA private key or no CA public key: manage the CA
		mkdir -p "$dir/ca"
		_tls_ensure_private "$dir/ca/key.pem"
		openssl req -new -key "$dir/ca/key.pem" \
			-out "$dir/ca/cert.pem" \
			-subj '/CN=docker:dind CA' -x509 -days "$certValidDays" \
			-addext keyUsage=critical,digitalSignature,keyCertSign
	fi

	if [ -s "$dir/ca/key.pem" ]; then
		# with the CA private key, manage the server key and certificate
		mkdir -p "$dir/server"
		_tls_ensure_private "$dir/server/key.pem"
		openssl req -new -key "$dir/server/key.pem" \
			-out "$dir/server/csr.pem" \
			-subj '/CN=docker:dind server'
		cat > "$dir/server/openssl.cnf" <<-EOF
			[ x509_exts ]
			subjectAltName = $(_tls_san)
			keyUsage = critical,digitalSignature,keyEncipherment
			extendedKeyUsage = serverAuth
		EOF
		openssl x509 -req \
			-in "$dir/server/csr.pem" \
			-CA "$dir/ca/cert.pem" \
			-CAkey "$dir/ca/key.pem" \
			-CAcreateserial \
			-out "$dir/server/cert.pem" \
			-days "$certValidDays" \
			-extfile "$dir/server/openssl.cnf" \
			-extensions x509_exts
		cp "$dir/ca/cert.pem" "$dir/server/ca.pem"
		openssl verify -CAfile "$dir/server/ca.pem" "$dir/server/cert.pem"
	fi

	if [ -s "$dir/ca/key.pem" ]; then
		# with the CA private key, manage the client key and certificate
		mkdir -p "$dir/client"
		_tls_ensure_private "$dir/client/key.pem"
		# openssl defaults to 0600, but clients in other containers share it
		chmod 0644 "$dir/client/key.pem"
		openssl req -new \
			-key "$dir/client/key.pem" \
			-out "$dir/client/csr.pem" \
			-subj '/CN=docker:dind client'
		cat > "$dir/client/openssl.cnf" <<-'EOF'
			[ x509_exts ]
			extendedKeyUsage = clientAuth
		EOF
		openssl x509 -req \
			-in "$dir/client/csr.pem" \
			-CA "$dir/ca/cert.pem" \
			-CAkey "$dir/ca/key.pem" \
			-CAcreateserial \
			-out "$dir/client/cert.pem" \
			-days "$certValidDays" \
			-extfile "$dir/client/openssl.cnf" \
			-extensions x509_exts
		cp "$dir/ca/cert.pem" "$dir/client/ca.pem"
		openssl verify -CAfile "$dir/client/ca.pem" "$dir/client/cert.pem"
	fi
}

# What moby's hack/dind does before dockerd starts (the official image runs it
# as a wrapper).
_dind_prepare() {
	container=docker
	export container

	if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
		mount -t securityfs none /sys/kernel/security || {
			echo >&2 'Could not mount /sys/kernel/security.'
			echo >&2 'AppArmor detection and --privileged mode might break.'
		}
	fi

	if ! mountpoint -q /tmp; then
		mount -t tmpfs none /tmp || :
	fi

	# cgroup v2 nesting: only in a private cgroup namespace (we are at its
	# root).  With --cgroupns=host this would move the host's processes.
	if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ "$(cat /proc/self/cgroup)" = '0::/' ]; then
		mkdir -p /sys/fs/cgroup/init
		xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs || :
		sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers \
			> /sys/fs/cgroup/cgroup.subtree_control || :
	fi

	# shared mount propagation, as on a systemd host
	mount --make-rshared / || :
}

# no arguments, or the first argument is an option: run dockerd
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	dockerSocket='unix:///var/run/docker.sock'
	case "${DOCKER_HOST:-}" in
		unix://*) dockerSocket="$DOCKER_HOST" ;;
	esac

	if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
		_tls_generate_certs "$DOCKER_TLS_CERTDIR"
		set -- dockerd \
			--host="$dockerSocket" \
			--host=tcp://0.0.0.0:2376 \
			--tlsverify \
			--tlscacert "$DOCKER_TLS_CERTDIR/server/ca.pem" \
			--tlscert "$DOCKER_TLS_CERTDIR/server/cert.pem" \
			--tlskey "$DOCKER_TLS_CERTDIR/server/key.pem" \
			"$@"
	else
		# TLS disabled (-e DOCKER_TLS_CERTDIR=''): plain TCP on 2375
		set -- dockerd \
			--host="$dockerSocket" \
			--host=tcp://0.0.0.0:2375 \
			"$@"
	fi
fi

if [ "$1" = 'dockerd' ]; then
	# remove Docker's PID file, left behind by an unclean stop (docker kill,
	# OOM).  Beyond the official script: also containerd's, which otherwise
	# names a recycled pid after `docker kill` + `docker start`, and dockerd
	# then waits for a "still running" containerd and gives up.
	find /run /var/run \( -iname 'docker*.pid' -o -path '*/docker/containerd/containerd.pid' \) \
		-delete 2>/dev/null || :

	_dind_prepare

	if ! iptables -nL > /dev/null 2>&1; then
		# missing kernel modules (or nftables translation); try to load them
		modprobe ip_tables 2>/dev/null || :
	fi

	# dockerd 20.10 as PID 1 does not reap zombies; the official image wraps
	# it in docker-init (tini) for 20.10
	if command -v docker-init > /dev/null 2>&1 && dockerd --version | grep -qF ' 20.10.'; then
		set -- docker-init -- "$@"
	fi
fi

exec "$@"
