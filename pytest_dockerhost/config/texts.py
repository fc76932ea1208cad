"""What is wrong with a setting: named by its source, with the values it takes."""

from __future__ import annotations

from collections.abc import Iterable


def one_of(choices: Iterable[str]) -> str:
    return f"must be one of {', '.join(choices)}"


SECONDS = "must be a number of seconds, such as 30 or 2.5"
POSITIVE_SECONDS = "must be a positive number of seconds"
DURATION = "must be a positive duration: seconds, or a number with s, m, h or d (90, 30m, 24h)"
BOOLEAN = "must be true or false (1/0, yes/no, on/off)"
SSH_TARGET = (
    "must be an SSH target: a host or ~/.ssh/config alias, user@host, or user@host:port "
    "(such as remote-docker or ci@build-host:2222)"
)


def not_capabilities(bad: Iterable[str]) -> str:
    return f"{', '.join(bad)} are not capability names such as SYS_RESOURCE"


def tls_verify_zero(value: str) -> str:
    return (
        f"DOCKER_TLS_VERIFY={value} turns TLS verification ON: as in the docker CLI, any "
        "non-empty value does. Unset DOCKER_TLS_VERIFY to turn it off."
    )


def docker_host_blank(state: str) -> str:
    return (
        f"DOCKER_HOST is set but {state}. Unset it to let pytest-dockerhost discover the "
        "daemon, or set it to unix:///var/run/docker.sock or tcp://HOST:2376."
    )


BLANK_EMPTY = "empty"
BLANK_SPACES = "blank (only whitespace)"


# Where a setting came from, as every message names it: the flag or the variable itself,
# ``ini docker_mode``, or ``default``.
DEFAULT_SOURCE = "default"


def ini_source(key: str) -> str:
    return f"ini {key}"


def invalid(source: str, shown: str | None, why: str) -> str:
    if shown is None:
        return f"{source} is not valid: {why}."
    return f"{source}={shown!r} is not valid: {why}."


def marker(required: str) -> str:
    """The ``docker`` marker's line in ``pytest --markers``, registered on every run: here,
    in a module Docker-free runs import anyway. ``required``: that option's flag, from the
    option table (which imports this module, so it cannot be imported here)."""
    return (
        "docker: the test needs a Docker engine; skipped without one (failed with "
        f"{required} or on CI). Tests using docker_host or docker_client count as "
        "marked, and so do tests in (or with fixtures from) modules that import docker or "
        "testcontainers."
    )


# --docker-pool's entries (config/pool.py).
def pool_twice(entry: str) -> str:
    return f"{entry} is listed twice; list each engine once"


def pool_sidecar_count(entry: str, most: int) -> str:
    return (
        f"{entry}: write sidecar for one sidecar or sidecar*N for N of them, N a whole "
        f"number from 1 to {most} (each is a Docker daemon of its own), e.g. sidecar*2"
    )


def pool_sidecars_in_all(entries: Iterable[str], most: int) -> str:
    return (
        f"{', '.join(entries)}: more than {most} sidecars in all (each is a Docker daemon "
        f"of its own); list at most {most}, e.g. sidecar*{most}"
    )


def pool_sidecar_mode(pool_source: str, entries: Iterable[str], mode_source: str) -> str:
    return (
        f"{pool_source} lists {', '.join(entries)} while {mode_source} is sidecar: sidecar "
        "mode starts its one sidecar on the pool's first engine, so a pool of sidecars "
        f"has nothing to do there. Drop the sidecar entries from {pool_source}, or the "
        f"sidecar mode from {mode_source} (the pool then starts its sidecars itself)."
    )


def pool_scheme(entry: str, schemes: Iterable[str]) -> str:
    return f"{entry} is not an engine URL: it must start with {', '.join(schemes)}"


def pool_no_address(entry: str) -> str:
    return f"{entry} names no address: write it as tcp://HOST:PORT, unix:///PATH or ssh://HOST"


def pool_not_an_entry(entry: str, schemes: Iterable[str]) -> str:
    return (
        f"{entry!r} is neither an engine URL ({', '.join(schemes)}) nor a docker context "
        "name (letters, digits, _ . + -)"
    )
