"""A local TCP forward through paramiko, as the ssh-implementations row runs it: in a scratch
venv that has paramiko (not a dependency of the project), the same shape as paramiko's
own demos/forward.py (a listener here, one ``direct-tcpip`` channel per connection, a
select loop per connection), with reads of 32 KiB, paramiko's largest packet.

    python paramiko_forward.py ADDRESS USER KEY KNOWN_HOSTS LOCAL_PORT REMOTE_HOST REMOTE_PORT

Prints ``imported`` once paramiko is imported, then waits for a line on stdin before it
connects (so the benchmark times the connection, not the interpreter), prints ``ready``
(with the key exchange, cipher and MAC it agreed on) once it listens, and runs until stdin closes.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading

import paramiko

CHUNK = 32768


class _Agreed(logging.Handler):
    """paramiko says the key exchange it agreed on only in a debug line ("Kex: NAME")."""

    kex = "-"

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Kex: "):
            self.kex = message[5:]


def pump(client: socket.socket, channel: paramiko.Channel) -> None:
    try:
        while True:
            readable, _, _ = select.select([client, channel], [], [])
            if client in readable:
                data = client.recv(CHUNK)
                if not data:
                    break
                channel.sendall(data)
            if channel in readable:
                data = channel.recv(CHUNK)
                if not data:
                    break
                client.sendall(data)
    except OSError:
        pass
    finally:
        channel.close()
        client.close()


def main(argv: list[str]) -> None:
    address, user, key, known_hosts, local, remote_host, remote_port = argv
    print("imported", flush=True)
    sys.stdin.readline()
    agreed = _Agreed()
    log = logging.getLogger("paramiko.transport")
    log.addHandler(agreed)
    log.setLevel(logging.DEBUG)
    ssh = paramiko.SSHClient()
    ssh.load_host_keys(known_hosts)  # what ssh's StrictHostKeyChecking=yes accepts
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    ssh.connect(
        address,
        username=user,
        key_filename=key,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    log.removeHandler(agreed)  # nothing else of paramiko's is logged while it forwards
    log.setLevel(logging.WARNING)
    transport = ssh.get_transport()
    assert transport is not None
    listener = socket.create_server(("127.0.0.1", int(local)))

    def accept() -> None:
        while True:
            client, peer = listener.accept()
            try:
                channel = transport.open_channel(
                    "direct-tcpip", (remote_host, int(remote_port)), peer
                )
            except paramiko.SSHException:
                client.close()
                continue
            threading.Thread(target=pump, args=(client, channel), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print(f"ready {agreed.kex} {transport.remote_cipher} {transport.remote_mac}", flush=True)
    sys.stdin.read()  # until the benchmark closes it
    ssh.close()


if __name__ == "__main__":
    main(sys.argv[1:])
