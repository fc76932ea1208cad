#!/bin/sh
# /usr/local/bin/remote-entrypoint.sh of pytest-dockerhost-test/remote:local and
# pytest-dockerhost-test/podman-remote:5: an engine on another machine, which only SSH
# reaches (issue 21; /work/shared/docker-on-ci.md section 10).
#
#   * sshd on port 22, started as a daemon before the engine: it is not pid 1, so killing
#     its processes drops every connection and leaves the engine running.
#     `remote-entrypoint.sh start-sshd` (docker exec) starts it again.
#       - /root/.ssh/authorized_keys is $SSH_AUTHORIZED_KEY (one key a line);
#       - host keys: $SSH_HOST_ED25519_KEY, $SSH_HOST_ECDSA_KEY and $SSH_HOST_RSA_KEY
#         (private keys, OpenSSH format), those given and no others; none given: the
#         three that `ssh-keygen -A` makes;
#       - sshd logs to /var/log/sshd.log.
#   * REMOTE_ENGINE=docker (remote:local): the dind entrypoint (dockerd-entrypoint.sh),
#     with --ip=127.0.0.1 added, so that every published port binds to this container's
#     own loopback:
#       - DOCKER_TLS_CERTDIR set and non-empty: as docker:dind, TLS on tcp 2376 (and the
#         unix socket), certificates under $DOCKER_TLS_CERTDIR;
#       - unset or empty (the image's default): the unix socket /var/run/docker.sock only.
#     Arguments starting with "-" go to dockerd.
#   * REMOTE_ENGINE=podman (podman-remote:5): rootful `podman system service` on
#     /run/podman/podman.sock, under catatonit (it reaps what sshd leaves). Podman has no
#     --ip, so an nftables table refuses new connections that arrive on eth0 for any port
#     but 22: published ports answer inside, not from the network. Arguments starting with
#     "-" go to `podman system service`.
#   * Any other command is exec'd, after sshd started.
set -eu

start_sshd() {
	umask 077
	mkdir -p /root/.ssh
	if [ -n "${SSH_AUTHORIZED_KEY:-}" ]; then
		printf '%s\n' "$SSH_AUTHORIZED_KEY" > /root/.ssh/authorized_keys
	fi
	mkdir -p /run/sshd /etc/ssh/sshd_config.d
	chmod 0755 /run/sshd
	conf=/etc/ssh/sshd_config.d/pytest-dockerhost.conf
	: > "$conf"
	for type in ed25519 ecdsa rsa; do
		case "$type" in
			ed25519) key=${SSH_HOST_ED25519_KEY:-} ;;
			ecdsa) key=${SSH_HOST_ECDSA_KEY:-} ;;
			rsa) key=${SSH_HOST_RSA_KEY:-} ;;
		esac
		[ -n "$key" ] || continue
		file=/etc/ssh/ssh_host_${type}_key
		printf '%s\n' "$key" > "$file"
		ssh-keygen -y -f "$file" > "$file.pub"
		echo "HostKey $file" >> "$conf"
	done
	[ -s "$conf" ] || ssh-keygen -A
	umask 022
	/usr/sbin/sshd -E /var/log/sshd.log
}

firewall() {
	nft -f - <<-'EOF'
		table inet pytest_dockerhost_remote {
			chain input {
				type filter hook input priority 0; policy accept;
				iifname "eth0" ct state established,related accept
				iifname "eth0" tcp dport 22 accept
				iifname "eth0" meta l4proto tcp reject with tcp reset
				iifname "eth0" meta l4proto udp reject
			}
			chain forward {
				type filter hook forward priority 0; policy accept;
				iifname "eth0" ct state new meta l4proto tcp reject with tcp reset
				iifname "eth0" ct state new drop
			}
		}
	EOF
}

if [ "${1:-}" = start-sshd ]; then
	start_sshd
	exit 0
fi

case "${REMOTE_ENGINE:-docker}" in
	docker)
		if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
			if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
				set -- /usr/local/bin/dockerd-entrypoint.sh --ip=127.0.0.1 "$@"
			else
				set -- /usr/local/bin/dockerd-entrypoint.sh dockerd \
					--host=unix:///var/run/docker.sock --ip=127.0.0.1 "$@"
			fi
		fi
		;;
	podman)
		if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
			firewall
			mkdir -p /run/podman
			set -- catatonit -- podman system service --time=0 "$@" \
				unix:///run/podman/podman.sock
		fi
		;;
	*)
		echo "remote-entrypoint.sh: REMOTE_ENGINE must be docker or podman" >&2
		exit 1
		;;
esac

start_sshd
exec "$@"
