"""What the endpoint says about itself: the header line, a lost daemon, bind mounts and
the copies that stand in for them."""

from __future__ import annotations


def summary(
    mode: str, url: str, *, engine: str, api: str, tls: str, source: str, ports: str
) -> str:
    return (
        f"docker: {mode} {url} (engine {engine}, API {api}{tls}) via {source}; "
        f"published ports on {ports}"
    )


def engine_facts(
    kind: str, version: str, api: str, *, min_api: str, image_store: str, cgroup: str
) -> str:
    facts = [f"API {min_api}-{api}" if min_api else f"API {api}"]
    if image_store == "containerd":
        facts.append("containerd image store")
    elif image_store:
        facts.append(f"graph driver {image_store}")
    if cgroup:
        facts.append(f"cgroup v{cgroup}")
    return f"docker: engine {kind} {version}: " + ", ".join(facts)


# --- client tools the engine's minimum API refuses (engine/skew.py) ----------------------

_TOOL = {
    "cli": "the docker CLI",
    "compose-plugin": "the docker compose plugin",
    "compose": "docker-compose",
}
_USED_AS = {
    "cli": "`docker` commands in tests",
    "compose-plugin": "`docker compose` in tests",
    "compose": "`docker-compose` in tests",
}


def lower_the_floor(client_api: str, floor_29_3: str) -> str:
    """Where the engine is yours: its minimum, set by its environment or daemon.json;
    ``floor_29_3``: Docker 29.3's own minimum when this client speaks it, else ""."""
    newer = (
        f", or upgrade it to Docker 29.3 or later, whose minimum is {floor_29_3}"
        if floor_29_3
        else ""
    )
    return (
        f"where the engine is yours, lower its minimum: DOCKER_MIN_API_VERSION={client_api} "
        f'in the daemon\'s environment or "min-api-version": "{client_api}" in its '
        f"daemon.json{newer}"
    )


def tool_too_old(kind: str, path: str, client_api: str, min_api: str, floor_29_3: str) -> str:
    return (
        f"{_TOOL.get(kind, kind)} at {path} speaks API {client_api}, and this engine accepts "
        f"{min_api} and later: {_USED_AS.get(kind, 'it')} will be refused ('client version "
        f"{client_api} is too old'). Fix: upgrade it to a version that speaks API {min_api} "
        f"or later (or put one first in PATH); or, {lower_the_floor(client_api, floor_29_3)}"
    )


def compose_v1_pinned(path: str, client_api: str, min_api: str, floor_29_3: str) -> str:
    return (
        f"docker-compose (Compose v1) at {path} speaks API {client_api}, set by "
        f"COMPOSE_API_VERSION, and this engine accepts {min_api} and later: `docker-compose` "
        f"in tests will be refused ('client version {client_api} is too old'). Fix: unset "
        "COMPOSE_API_VERSION (Compose v1 then speaks the engine's own version) or set it to "
        f"{min_api} or later; or, {lower_the_floor(client_api, floor_29_3)}"
    )


def podman_as_docker(path: str, podman_version: str, min_api: str) -> str:
    return (
        f"`docker` at {path} is Podman's docker-compatible command (podman "
        f"{podman_version or 'of unknown version'}), which speaks Podman's own API, not the "
        f"Docker Engine API this engine serves ({min_api} and later): `docker` commands in "
        "tests will not reach this engine. Fix: install a docker CLI that speaks API "
        f"{min_api} or later and put it first in PATH"
    )


TLS_OFF = ", TLS off"
TLS_UNVERIFIED = ", TLS without verification"
TLS_VERIFIED = ", TLS verified"
UNVERIFIED = " (unverified)"


def on_sidecar(privileged: bool, outer_mode: str, outer_url: str) -> str:
    what = "privileged" if privileged else "unprivileged"
    return f"; sidecar ({what}) on {outer_mode} {outer_url}"


SHARED_FOLDER = (
    "the docker_tmp_path fixture finds one where there is one; in a pod, an emptyDir "
    "mounted at the same path in the job's and the dind container"
)


# Where the engine cannot see a folder, a bind of it through docker-py or testcontainers
# becomes a copy (wiring/copies.py): said wherever daemon_path refuses a folder.
COPIED = (
    "bind it as it is through docker-py or testcontainers, and the plugin copies it into "
    "the container before it starts (and a read-write mapping back when the container "
    "stops); or copy files in yourself: create the container, then "
    "container.put_archive(path, tar_bytes), then start it"
)


def daemon_elsewhere(local: str, url: str) -> str:
    return (
        f"{local} is on this machine, but the daemon at {url} runs in another container or "
        f"host and cannot see it there. Instead, {COPIED}; or work in a folder both see at "
        f"the same path ({SHARED_FOLDER})."
    )


def mapping_unseen(local: str, why: str) -> str:
    return (
        f"with_volume_mapping({local!r}, ...): the daemon cannot bind-mount it, and it is no "
        "file or folder the plugin copies in instead, so the container would get an empty "
        f"folder there. {why}"
    )


def ruled_out(local: str, why: str) -> str:
    return f"{local} cannot be bind-mounted: {why}. Instead, {COPIED}."


def only_in_this_container(local: str, container_id: str) -> str:
    return (
        f"{local} exists only inside this container ({container_id or 'id unknown'}), so the "
        "daemon, which resolves bind-mount sources on its host, cannot mount it. Mount a host "
        f"folder into this container (docker run -v HOST_DIR:DIR) and work below DIR; or "
        f"{COPIED}; or work in a folder both see ({SHARED_FOLDER})."
    )


# --- copies in place of bind mounts ------------------------------------------------------


def copy_in_failed(local: str, target: str, why: str) -> str:
    return (
        f"{local} could not be copied into the container at {target}: {why}. The engine "
        "cannot bind-mount it, so the plugin copies it in before the container starts. Fix: "
        "make the files readable here and the target writable in the container (no "
        f"read-only root filesystem there, or a volume at {target}); or share the folder "
        f"with the engine ({SHARED_FOLDER})."
    )


def not_copied_back(local: str, target: str, why: str) -> str:
    return (
        f"{local}: what the container wrote at {target} could not be copied back here "
        f"({why}). The engine cannot bind-mount this folder, so it was copied into the "
        "container, and a read-write mapping is copied back when the container stops, ends "
        "(wait) or is removed through docker-py. Fix: stop or remove the container before "
        f"it is gone; or share the folder with the engine ({SHARED_FOLDER})."
    )


def auto_removed(local: str, target: str) -> str:
    return (
        f"{local} is copied into the container at {target}, since the engine cannot "
        "bind-mount it, but the engine removes the container as soon as it exits "
        "(auto_remove), so what the container writes there is not copied back. Fix: leave "
        "auto_remove off (remove=True with detach=True sets it) and remove the container "
        "after it stops; or read the files with get_archive before it exits."
    )


def outside_folder(name: str) -> str:
    return f"the container's archive holds {name!r}, which leads outside the folder"


def gone(url: str, mode: str, source: str, detail: str, fix: str) -> str:
    return (
        f"the Docker endpoint {url} ({mode}, via {source}) stopped answering during the "
        f"session: {detail}.\n  fix: {fix}"
    )


def lost_through_ssh(url: str, mode: str, source: str, closed: str) -> str:
    return (
        f"the Docker endpoint {url} ({mode}, via {source}) stopped answering during the "
        f"session: {closed}"
    )


def outer_unreachable(url: str, exc: object) -> str:
    return f"\n  the daemon hosting the sidecar ({url}) cannot be reached: {exc}"


def outer_silent(url: str, exc: object) -> str:
    return f"\n  the daemon hosting the sidecar ({url}) did not answer: {exc}"


def sidecar_removed(ident: str) -> str:
    return f"\n  the sidecar container {ident[:12]} no longer exists (removed)"


def sidecar_state(ident: str, status: str, code: str, oom: bool, logs: str) -> str:
    killed = ", killed for lack of memory" if oom else ""
    shown = logs or "    (no output)"
    return (
        f"\n  the sidecar container {ident[:12]} is {status} (exit status {code}{killed}); "
        f"its last log lines:\n{shown}"
    )
