"""An engine's authorization plugin, and Bitbucket Pipelines' docker service behind one.

Docker answers a request its authorization plugin refuses with 403 ``authorization denied
by plugin NAME: MSG``. The text here says which request, which plugin, what it refused and
the fix, in the words of the policy users meet most: Bitbucket's ``pipelines`` plugin.
"""

from __future__ import annotations

from typing import Literal

BITBUCKET_PLUGIN = "pipelines"
# Bitbucket's docker service, as its documentation words its limits.
SERVICE_MEMORY = "1 GB"
MEMORY_SETTING = "definitions: services: docker: memory: 2048"  # MB; `size: 2x` steps allow more

# What an authorization plugin refused, told from its message.
Refused = Literal["privileged", "socket", "outside", "mounts", "body", "other"]

_FIXES: dict[Refused, str] = {
    "privileged": (
        "leave privileged out (testcontainers: no with_kwargs(privileged=True); docker-py: no "
        "privileged=True), or ask the engine's administrator for an engine that allows it"
    ),
    "socket": (
        "no container may mount the engine's socket here; testcontainers' Ryuk does, and the "
        "plugin turns it off on this engine and removes what the run leaves itself (set "
        "TESTCONTAINERS_RYUK_DISABLED=true where you start containers without the plugin)"
    ),
    "outside": (
        "bind only folders under $BITBUCKET_CLONE_DIR: keep test data in the repository, or "
        "ask for the docker_tmp_path fixture, which gives a folder there; the plugin copies "
        "other local folders into the container in place of a bind"
    ),
    "mounts": (
        "use a volume bind (docker-py volumes={...}, testcontainers with_volume_mapping) of "
        "a folder under $BITBUCKET_CLONE_DIR in place of mounts=[Mount(...)]"
    ),
    "body": (
        "the plugin reads only bodies sent with a Content-Length: pass bytes or an open file, "
        "not a generator (chunked), e.g. put_archive(id, path, data=open(tar, 'rb'))"
    ),
    "other": "ask the engine's administrator what its policy allows",
}

# Where Bitbucket's own way out is the one left.
_ON_BITBUCKET: dict[Refused, str] = {
    "privileged": ": on Bitbucket, run the step on runtime v3, which allows privileged containers",
}

# The words each kind of refusal is recognised by, in Bitbucket's and other plugins' texts.
SIGNS: dict[Refused, tuple[str, ...]] = {
    "privileged": ("privileged",),
    "socket": ("docker.sock", "docker socket"),
    "outside": ("BITBUCKET_CLONE_DIR", "-v only supports"),
    "mounts": ("--mounts", "mounts is not allowed"),
    "body": ("content length", "content-length", "chunked"),
}


def refused_kind(message: str) -> Refused:
    lowered = message.lower()
    for kind, signs in SIGNS.items():
        if any(sign.lower() in lowered for sign in signs):
            return kind
    return "other"


def denied(method: str, path: str, plugin: str, message: str) -> str:
    """The failing test's report for a request the engine's authorization plugin refused."""
    request = f"{method} {path}" if method else f"a request to {path}" if path else "a request"
    kind = refused_kind(message)
    on_bitbucket = plugin == BITBUCKET_PLUGIN
    where = " (Bitbucket Pipelines' docker service)" if on_bitbucket else ""
    fix = _FIXES[kind] + (_ON_BITBUCKET.get(kind, "") if on_bitbucket else "")
    return (
        f"the engine's authorization plugin {plugin!r}{where} refused {request}: "
        f"{message.strip() or 'no reason given'}. It refused the request itself; the engine "
        f"is reachable. Fix: {fix}."
    )


def bind_refused(folder: str, plugin: str, message: str) -> str:
    """The bind-mount probe of ``folder`` was refused by the engine's policy."""
    said = (
        f"{folder} cannot be bind-mounted: the engine's authorization plugin {plugin!r} "
        f"refuses binds of it ({message.strip()}), whether or not the engine sees it. The "
        "plugin copies it into containers instead."
    )
    if refused_kind(message) == "outside":
        said += f" To bind a folder, {_FIXES['outside']}."
    return said


def killed_for_memory(
    container: str, limit: str | None, engine_memory: str, on_bitbucket: bool
) -> str:
    """A container of the failed test was killed for memory (OOMKilled). ``limit``: its own,
    "" when it had none, None when it is gone and cannot tell."""
    if limit is None:
        own = "it is gone, so its own limit (if it had one) cannot be read"
    elif limit:
        own = f"its own limit was {limit} (docker-py mem_limit, testcontainers with_kwargs)"
    else:
        own = "it had no limit of its own"
    line = (
        f"container {container} was killed for memory (OOMKilled): {own}; the engine reports "
        f"{engine_memory or 'no figure for its memory'} (its machine's: a limit on the "
        "engine's own container is not counted there)."
    )
    if on_bitbucket:
        line += (
            f" Bitbucket's docker service has {SERVICE_MEMORY} by default: give it more with "
            f"`{MEMORY_SETTING}` (in MB; a step with `size: 2x` can give it more)."
        )
    else:
        line += " Give the container (or the engine) more memory, or let it use less."
    return line
