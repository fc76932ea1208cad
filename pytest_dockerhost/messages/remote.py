"""What the run's SSH tunnel to a remote engine says: its header note, a dropped
connection, a port it could not forward."""

from __future__ import annotations

import time

MUX_SILENT = "the SSH connection's control socket did not answer within 5 s"
DEFAULT_SOCKET = "/var/run/docker.sock"


def ssh_ended(code: int | None) -> str:
    return f"ssh ended (exit status {code}) without saying why"


def ssh_silent(target: str, seconds: float) -> str:
    return f"ssh to {target} established nothing within {seconds:.0f} s"


def socket_not_there(socket: str, said: str) -> str:
    last = said.rsplit("channel", 1)[-1] if said else ""
    return f"the remote host could not open the engine's socket {socket} (ssh: channel{last})"


def tunnel_note(target: str, remote_socket: str, local: str) -> str:
    what = f"the engine's socket {remote_socket} and " if remote_socket else ""
    return (
        f"remote engine: {what}every port a container publishes are forwarded through one "
        f"SSH connection to {target}" + (f" (API here at {local})" if local else "")
    )


def ports_through(target: str) -> str:
    return f"127.0.0.1, forwarded through SSH to {target}"


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else "an unknown time"


def connection_closed(target: str, at: str, said: str) -> str:
    why = f": ssh said {said!r}" if said else ""
    return (
        f"the SSH connection to {target} that carries it closed at {at}{why}.\n  fix: check "
        f"that {target} is up and that sshd there keeps connections (ClientAliveInterval, "
        "MaxSessions); a restart of sshd or of the host drops them. The next run connects anew."
    )


def port_not_forwarded(name: str, port: int, why: str) -> str:
    return (
        f"port {port} of container {name} is published on the remote engine, and could not "
        f"be forwarded to 127.0.0.1:{port} here: {why}. Fix: free that port on this machine "
        "(another process or run holds it), or let the engine choose the host port "
        "(publish without a fixed host port)"
    )


def port_in_use(port: int) -> str:
    return f"127.0.0.1:{port} is already in use on this machine"


def no_path(setting: str) -> str:
    return (
        "the engine is on another machine and its published ports do not answer from here. "
        f"Fix: name an SSH target that reaches that machine in {setting} (a host, user@host "
        "or an alias of ~/.ssh/config; on CircleCI, remote-docker): every published port "
        "is then forwarded to 127.0.0.1"
    )
