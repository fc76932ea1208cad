"""No plugin fixture here: plain docker-py, the way most suites are written.

The plugin resolved the endpoint when this module imported docker, before the
module-level client below was made, so it reaches the daemon the header names.
"""

from __future__ import annotations

import os

import docker

CLIENT = docker.from_env()  # at import time, while pytest collects


def test_a_module_level_client_reaches_the_resolved_endpoint():
    assert CLIENT.ping()
    assert CLIENT.api.base_url  # tcp://..., http+docker://... for a unix socket
    assert os.environ["DOCKER_HOST"]  # set by the plugin, restored at the end


def test_from_env_in_a_test_body():
    client = docker.from_env()
    try:
        assert client.version()["ApiVersion"]
    finally:
        client.close()
