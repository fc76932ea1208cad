"""A registry-free demo: what pytest-dockerhost hands to tests.

Run: python -m pytest -p dockerhost examples/demo -v
"""

from __future__ import annotations

import subprocess

import pytest


def test_docker_client_talks_to_the_resolved_engine(docker_client, docker_host):
    assert docker_client.ping()
    assert docker_client.version()["ApiVersion"] == docker_host.api_version


def test_docker_cli_uses_the_same_endpoint(docker_env, docker_host):
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=docker_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == docker_host.engine_version


@pytest.mark.docker
def test_marked_tests_are_skipped_without_docker():
    pass


def test_tests_without_docker_pay_nothing():
    pass
