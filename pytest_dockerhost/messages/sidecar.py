"""What the sidecar says: its errors with their fixes, and the notes in the header."""

from __future__ import annotations

from .names import flag, option, twins

IMAGE_CONTRACT = "any image that follows the docker:dind contract works"


def unknown_capabilities(source: str, unknown: list[str], known: tuple[str, ...]) -> str:
    return (
        f"{source} names unknown capabilities: {', '.join(unknown)}. Use names such as "
        f"SYS_RESOURCE or SYS_MODULE (known: {' '.join(known)})."
    )


def unreachable(outer_url: str, outer_source: str) -> str:
    return (
        f"sidecar mode cannot reach a sidecar started on {outer_url} (via {outer_source}): that "
        "daemon runs on another machine or container, so a port published on its loopback is "
        "out of reach, and this process is not a container on it that could share a network. "
        f"If that daemon is a dind service, use it directly with {flag('mode', 'dind')}; "
        "otherwise run pytest on the daemon's host, or in a container with its socket mounted "
        "(-v /var/run/docker.sock:/var/run/docker.sock)."
    )


def pulling(image: str, outer_url: str) -> str:
    return f"docker: pulling sidecar image {image} (not on {outer_url} yet)"


def pull_failed(image: str, source: str, outer_url: str, why: str) -> str:
    return (
        f"the sidecar image {image} (from {source}) is not on {outer_url} and pulling it "
        f"failed: {why}. Pull or build it there first, check the name, or choose another "
        f"image with {option('sidecar_image')}; {IMAGE_CONTRACT}."
    )


def preload_missing(image: str, source: str, where: str) -> str:
    return (
        f"cannot preload {image} (from {source}): it is not on the outer daemon {where}. Pull "
        f"or build it there first, or remove it from {option('preload')}."
    )


def preload_unreadable(image: str, source: str, where: str, why: str) -> str:
    return f"cannot preload {image} (from {source}) from {where}: {why}"


def preload_failed(image: str, why: str) -> str:
    return f"copying {image} into the sidecar failed: {why}"


def preload_unnamed(image: str, loaded: list[str]) -> str:
    got = ", ".join(loaded) or "nothing it named"
    return f"the sidecar loaded {got}, but no image answers to {image} there"


def preloaded(image: str, seconds: float) -> str:
    return f"docker: preloaded {image} into the sidecar in {seconds:.2f} s"


def cache_in_use(volume: str, user: str, run: str, pid: str, host: str) -> str:
    return (
        f"the sidecar cache volume {volume} is in use by {user} (run {run}, pid {pid} on "
        f"{host}); two daemons must not share one /var/lib/docker. Give each concurrent run "
        f"its own {flag('sidecar_cache')}, or wait for that run to end."
    )


CREATE = "create the sidecar container"


def inspect_image(image: str) -> str:
    return f"inspect the image {image}"


def connect_self(container: str, network: str) -> str:
    return f"connect this container ({container[:12]}) to {network}"


def api_failed(what: str, outer_url: str, why: str) -> str:
    return f"could not {what} on {outer_url}: {why}"


def no_certificates(why: str) -> str:
    return f"could not make the sidecar's TLS certificates{why}"


def privileged_refused(outer_url: str, why: str, source: str) -> str:
    return (
        f"the engine at {outer_url} refused to start the privileged sidecar: {why}. This "
        "engine cannot grant every capability that --privileged asks for (moby#42906: Docker "
        "20.10 on hardened or nested hosts, Talos). Run the sidecar with an explicit "
        f"capability set instead: {option('sidecar_privileged', 'false')} (privileged is now "
        f"on from {source}), or use {flag('sidecar_runtime', 'sysbox-runc')}, or upgrade the "
        "engine (23.0 and later grant only what they have)."
    )


def capabilities_refused(outer_url: str, why: str) -> str:
    return (
        f"the engine at {outer_url} refused the sidecar's capabilities: {why}. Leave out the "
        f"ones this engine lacks with {flag('sidecar_cap_drop', 'SYS_RESOURCE,...')} "
        f"({twins('sidecar_cap_drop')}; names as in docker run --cap-add)."
    )


def start_failed(image: str, outer_url: str, why: str) -> str:
    return f"could not start the sidecar ({image}) on {outer_url}: {why}"


def after_fallbacks(why: str, fallbacks: list[str]) -> str:
    return why + (" (after: " + "; ".join(fallbacks) + ")" if fallbacks else "")


FALLBACK_PRIVILEGED = (
    "the engine refused --privileged (moby#42906), so the sidecar runs with an explicit "
    "capability set instead"
)


def fallback_fewer(dropped: list[str]) -> str:
    return "the engine refused a capability of that set, so the sidecar runs without " + ", ".join(
        dropped
    )


def left_out_missing(name: str) -> str:
    return f"{name} (not in this machine's bounding set)"


def left_out_asked(name: str) -> str:
    return f"{name} (from {flag('sidecar_cap_drop')})"


def left_out_refused(name: str) -> str:
    return f"{name} (after the engine refused the full set)"


def no_published_port(name: str, port: int) -> str:
    return f"the sidecar {name} has no published port for {port}"


def certificates_late(certdir: str, timeout: float, source: str, logs: str) -> str:
    return (
        f"the sidecar did not write {certdir}/client/{{ca,cert,key}}.pem within {timeout:.0f} "
        f"s ({flag('timeout')}, from {source}).{logs}"
    )


def not_usable(url: str, detail: str, logs: str) -> str:
    return f"the sidecar's daemon at {url} answered, but not usably: {detail}.{logs}"


def not_ready(image: str, timeout: float, source: str, detail: str, logs: str) -> str:
    return (
        f"the sidecar's daemon ({image}) was not ready within {timeout:.0f} s "
        f"({flag('timeout')}, from {source}); last attempt: {detail}. Raise {flag('timeout')} "
        f"if the image is slow to start, or check that it follows the docker:dind "
        f"contract.{logs}"
    )


def exited(image: str, source: str, *, status: str, code: str, error: str, logs: str) -> str:
    return (
        f"the sidecar ({image}, from {source}) stopped before its daemon was ready: {status} "
        f"with exit status {code}{error}. Check that the image follows the docker:dind "
        f"contract.{logs}"
    )


def log_lines(count: int, lines: str) -> str:
    return f"\n  last {count} log lines of the sidecar:\n{lines}"


NO_LOG_LINES = " The sidecar wrote no log lines."


def published_unverified(published: str, port: int) -> str:
    return (
        f"ports published inside the sidecar should answer on {published}, but a test "
        f"connection to {published}:{port} failed from here; set "
        f"{flag('published_host')} if you know a better address"
    )


def started(name: str, image: str, seconds: float, outer_url: str) -> str:
    return f"sidecar {name} from {image} started in {seconds:.2f} s on {outer_url}"


def registries_passed_on(mirrors: tuple[str, ...], insecure: tuple[str, ...], outer: str) -> str:
    parts = []
    if mirrors:
        parts.append(f"registry mirrors {', '.join(mirrors)}")
    if insecure:
        parts.append(f"insecure registries {', '.join(insecure)}")
    return f"the sidecar's daemon pulls like {outer}'s: {'; '.join(parts)}"


TLS_BY_IMAGE = "TLS material generated by the image (cryptography is not installed)"


def fallback_note(why: str) -> str:
    return f"sidecar fallback: {why}"


def left_out(names: tuple[str, ...]) -> str:
    return "capabilities left out: " + ", ".join(names)


def reattached(name: str, seconds: float, created: str) -> str:
    return f"reattached to kept sidecar {name} in {seconds:.2f} s (created {created})"


CANCELLED = "the sidecar's start was cancelled: no selected test needs Docker."


def start_crashed(outer_url: str, kind: str, exc: object) -> str:
    return f"starting the sidecar on {outer_url} failed: {kind}: {exc}"


def not_removed_run(run_id: str, why: object) -> str:
    return (
        f"the sidecar's containers, networks and volumes "
        f"(org.pytest-dockerhost.run={run_id}): {why}"
    )
