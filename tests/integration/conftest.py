from __future__ import annotations

from collections.abc import Iterator

import pytest

from .daemons import TLSDaemon, make_tls_material


@pytest.fixture(scope="session")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[TLSDaemon]:
    """A dockerd on 127.0.0.1 with --tlsverify: what a dind service looks like to a job."""
    root = tmp_path_factory.mktemp("tlsd")
    daemon = TLSDaemon(root, make_tls_material(root / "certs"))
    daemon.start()
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()
