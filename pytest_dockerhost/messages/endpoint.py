"""What the endpoint says about itself: the header line, a lost daemon, bind mounts."""

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


def docker_py_too_old(client_api: str, min_api: str) -> str:
    return (
        f"docker-py here speaks API {client_api} by default, and this engine accepts "
        f"{min_api} and later: docker.from_env() and testcontainers will be refused "
        "('client version ... is too old'). Fix: pip install --upgrade docker"
    )


def cli_too_old(cli: str, client_api: str, min_api: str) -> str:
    return (
        f"the docker CLI at {cli} speaks API {client_api}, and this engine accepts {min_api} "
        "and later: `docker` commands in tests will be refused. Fix: install a newer docker "
        "CLI (or put one first in PATH)"
    )


TLS_OFF = ", TLS off"
TLS_UNVERIFIED = ", TLS without verification"
TLS_VERIFIED = ", TLS verified"
UNVERIFIED = " (unverified)"


def on_sidecar(privileged: bool, outer_mode: str, outer_url: str) -> str:
    what = "privileged" if privileged else "unprivileged"
    return f"; sidecar ({what}) on {outer_mode} {outer_url}"


SHARED_FOLDER = (
    "the docker_tmp_path fixture finds one; in a pod, an emptyDir mounted at the same path "
    "in the job's and the dind container"
)


def daemon_elsewhere(local: str, url: str) -> str:
    return (
        f"{local} is on this machine, but the daemon at {url} runs in another container or "
        "host and cannot see it there. Copy files into the container instead: create it, "
        "then container.put_archive(path, tar_bytes), then start it; or work in a folder "
        f"both see at the same path ({SHARED_FOLDER})."
    )


UNSEEN = "the daemon at {url} does not see it at that path"


def no_mountable_folder(tried: list[tuple[str, str]]) -> str:
    lines = ["docker_tmp_path: the daemon can bind-mount none of these folders:"]
    lines += [f"  {folder}: {why}" for folder, why in tried]
    lines.append(
        "  fix: share a folder with the daemon at the same path (in a pod, an emptyDir "
        "mounted at the same mountPath in the job's and the dind container, such as the "
        "checkout; under DooD, mount a host folder into this container at its host path) "
        "and run pytest below it; or copy files in with put_archive"
    )
    return "\n".join(lines)


def mapping_unseen(local: str, why: str) -> str:
    return (
        f"with_volume_mapping({local!r}, ...): the daemon cannot bind-mount it, so the "
        f"container would get an empty folder there. {why}"
    )


def only_in_this_container(local: str, container_id: str) -> str:
    return (
        f"{local} exists only inside this container ({container_id or 'id unknown'}), so the "
        "daemon, which resolves bind-mount sources on its host, cannot mount it. Mount a host "
        "folder into this container (docker run -v HOST_DIR:DIR) and work below DIR, or copy "
        f"files in with put_archive; or work in a folder both see ({SHARED_FOLDER})."
    )


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
