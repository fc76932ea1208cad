"""What the candidate sources say: a broken setting (what, fix) and how TLS was found."""

from __future__ import annotations


def bad_url(source: str, shown: str, why: str, fix: str) -> tuple[str, str]:
    return f"{source}={shown} is not a valid Docker URL: {why}", f"in {source}, {fix}"


def dind_certs_found(folder: str) -> str:
    return f"TLS from {folder} (found; DOCKER_CERT_PATH is not set)"


def dind_certs_pending(folder: str) -> str:
    return (
        f"TLS from {folder} (the folder exists, its certificates are not written yet; "
        "DOCKER_CERT_PATH is not set)"
    )


def certs_default(folder: str) -> str:
    return f"{folder} (default)"


def certs_found(folder: str) -> str:
    return f"{folder} (found)"


def certs_implied(folder: str) -> str:
    return f"{folder} (the default, since DOCKER_CERT_PATH is not set)"


def tls_verified(where: str, source: str) -> str:
    return f"TLS verified with {where} ({source})"


def tls_unverified(where: str) -> str:
    return f"TLS without server verification, certificates from {where}"


def unreadable_config(shown: str, why: object) -> tuple[str, str]:
    return (
        f"{shown} cannot be read: {why}",
        "make it readable, or set DOCKER_CONFIG to another folder",
    )


NOT_AN_OBJECT = "the top level is not a JSON object"


def config_not_json(shown: str, why: object) -> tuple[str, str]:
    return (
        f"{shown} is not valid JSON ({why})",
        f"repair or remove {shown}; docker login rewrites it",
    )


def current_context(name: str, shown: str) -> str:
    return f"context {name} (currentContext in {shown})"


def context_missing(name: str, meta: str, *, pinned: bool) -> tuple[str, str]:
    fix = "run `docker context ls` to see the contexts that exist; " + (
        "unset DOCKER_CONTEXT" if pinned else "run `docker context use default`"
    )
    return f"the docker context {name!r} does not exist (no {meta})", fix


def context_unreadable(name: str, why: object) -> tuple[str, str]:
    return (
        f"the docker context {name!r} has an unreadable meta.json ({why})",
        f"recreate it with `docker context rm {name}` and `docker context create {name} ...`",
    )


def context_no_endpoint(name: str) -> tuple[str, str]:
    return (
        f"the docker context {name!r} has no docker endpoint in its meta.json",
        f"recreate it: docker context create {name} --docker host=...",
    )


def context_tls(folder: str) -> str:
    return f"TLS material from the context's {folder}"


def context_bad_host(name: str, host: str, why: object, fix: str) -> tuple[str, str]:
    return (
        f"the docker context {name!r} has a bad host {host!r}: {why}",
        f"{fix}: docker context update {name} --docker host=...",
    )


def unreadable_properties(shown: str, why: object) -> tuple[str, str]:
    return f"{shown} cannot be read: {why}", "make it readable or remove it"
