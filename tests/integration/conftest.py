from __future__ import annotations

from collections.abc import Iterator

import pytest

from .daemons import TLSDaemon, running_tls_daemon


@pytest.fixture(scope="session")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[TLSDaemon]:
    """A dockerd on 127.0.0.1 with --tlsverify: what a dind service looks like to a job."""
    with running_tls_daemon(tmp_path_factory.mktemp("tlsd")) as daemon:
        yield daemon
