"""Which local folders the daemon sees at the same path, proven with a marker.

A bind mount's source is resolved where the daemon runs. In a pod, dind is a container
beside ours: there is no container of ours for it to inspect, and only the folders the
pod shares (an ``emptyDir`` mounted at the same path in both) are the same there. So:
write a random marker into the folder, bind-mount the folder into a container that never
starts (of an empty image imported for the purpose), read the marker back through the
archive API, and remove all three. A folder the daemon lacks fails the create; one it has
but is another folder holds no such marker.

The bind is a ``HostConfig.Mounts`` entry (a missing source fails it, where ``-v`` would
make an empty folder on the daemon's side). An authorization plugin may refuse those
outright (Bitbucket's: "--mounts is not allowed"): then it is asked again as
``HostConfig.Binds`` (``-v``), which such policies allow under the folders they allow. A
refusal by such a plugin is no answer about the folder: it is raised as the policy's,
never read as "the daemon does not see it".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import tarfile
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BindMountError
from ..labels import L_ROLE
from ..messages import authz as say_authz

ROLE_PROBE = "probe"
TARGET = "/pytest-dockerhost-probe"
IMAGE = "pytest-dockerhost-probe"
MARKER = ".pytest-dockerhost-probe-"
_seen: dict[tuple[str, str], bool] = {}  # (daemon URL, folder) -> seen at the same path
_refused: dict[tuple[str, str], str] = {}  # (daemon URL, folder) -> why a policy refuses it
_no_mounts: set[str] = set()  # daemon URLs whose policy refused the probe's mount: ask -v
_labels: dict[str, str] = {L_ROLE: ROLE_PROBE}


def label_with(labels: Mapping[str, str]) -> None:
    """The run's owner labels, so that a probe a crash interrupted is swept later."""
    _labels.clear()
    _labels.update(labels)
    _labels[L_ROLE] = ROLE_PROBE


def sees(
    url: str, open_client: Callable[[], Any], folder: str, *, binds: bool = False
) -> bool | None:
    """Does the daemon at ``url`` (``open_client()``: a docker-py client of it, closed here)
    see ``folder`` at the same path? None when that cannot be told: the folder is not
    writable here, or the daemon failed the probe. Raises BindMountError when the engine's
    authorization plugin refuses a bind of it. ``binds``: ask as ``-v`` from the start (an
    engine behind an authorization plugin, which such policies allow; never a refusal)."""
    folder = os.path.abspath(folder)
    key = (url, folder)
    if key in _refused:
        raise BindMountError(_refused[key])
    if key in _seen:
        return _seen[key]
    token = secrets.token_hex(16)
    name = MARKER + token[:12]
    marker = os.path.join(folder, name)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        found = _read_back(open_client, folder, name, token, binds=binds)
    except _Refused as refused:
        _refused[key] = str(refused)
        raise BindMountError(str(refused)) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(marker)
    if found is not None:
        _seen[key] = found
    return found


class _Refused(Exception):
    """The engine's authorization plugin refused the probe: its message, for users."""


def _read_back(
    open_client: Callable[[], Any], folder: str, name: str, token: str, *, binds: bool
) -> bool | None:
    import docker.errors
    import requests.exceptions

    failed = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
    client = open_client()
    api = client.api
    image = f"{IMAGE}:{token[:12]}"
    container = ""
    try:
        changes = [f"LABEL {key}={json.dumps(value)}" for key, value in _labels.items()]
        api.import_image_from_data(_empty_tar(), repository=IMAGE, tag=token[:12], changes=changes)
        try:
            mounts = not binds and str(api.base_url) not in _no_mounts
            created = _create(api, image, folder, mounts=mounts)
        except docker.errors.APIError as exc:
            if "does not exist" in str(exc.explanation or exc):
                return False  # "bind source path does not exist": not on the daemon's side
            raise
        container = str(created["Id"])
        try:
            stream, _ = api.get_archive(container, f"{TARGET}/{name}")
        except docker.errors.NotFound:
            return False  # there, but another folder of the same name
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(name)
            return member is not None and member.read().decode(errors="replace") == token
    except (*failed, tarfile.TarError):
        return None
    finally:
        if container:
            with contextlib.suppress(*failed):
                api.remove_container(container, force=True)
        with contextlib.suppress(*failed):
            api.remove_image(image, force=True)
        client.close()


def _create(api: Any, image: str, folder: str, *, mounts: bool) -> Any:
    """The probe's container, its bind a mount (``mounts``) or, where a policy refuses
    mounts, a -v bind; an authorization plugin's refusal of that too is raised as _Refused."""
    import docker.errors
    from docker.types import Mount

    from .authz import denial

    mount = Mount(TARGET, folder, type="bind", read_only=True)
    asks: list[dict[str, Any]] = [{"mounts": [mount]}] if mounts or ":" in folder else []
    if ":" not in folder:  # a -v bind cannot name such a folder
        asks.append({"binds": [f"{folder}:{TARGET}:ro"]})
    refused = None
    for ask in asks:
        try:
            return api.create_container(
                image,
                command=["never-started"],
                labels=dict(_labels),
                host_config=api.create_host_config(**ask),
            )
        except docker.errors.APIError as exc:
            refused = denial(exc)
            if refused is None:
                raise
            if "mounts" in ask:
                _no_mounts.add(str(api.base_url))
    assert refused is not None
    raise _Refused(say_authz.bind_refused(folder, refused.plugin, refused.message))


def _empty_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w"):
        pass
    return out.getvalue()
