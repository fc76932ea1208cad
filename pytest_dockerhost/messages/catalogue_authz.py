"""The catalogue's entries for engines behind an authorization plugin (Bitbucket
Pipelines' docker service first), and for a test container killed for memory."""

from __future__ import annotations

from . import authz
from . import profile as say_profile
from .catalogue_transport import CatalogueEntry, Fix

_CREATE = ("POST", "/containers/create", authz.BITBUCKET_PLUGIN)
# Bitbucket's own words for each refusal.
PRIVILEGED = "--privileged=true is not allowed"
OUTSIDE = "-v only supports $BITBUCKET_CLONE_DIR and its subdirectories"
MOUNTS = "--mounts is not allowed"
BODY = "Invalid content length"


def authz_entries() -> list[CatalogueEntry]:
    return [
        CatalogueEntry(
            ("authz-denied",),
            (
                f"authorization denied by plugin {authz.BITBUCKET_PLUGIN}:",
                "403 Client Error ... Forbidden",
                OUTSIDE,
                MOUNTS,
            ),
            "the engine's authorization plugin refused a request of the test's own code: "
            "Bitbucket Pipelines' docker service refuses privileged containers, binds of the "
            "docker socket, binds outside the clone dir, --mounts, and bodies sent chunked",
            authz.denied(*_CREATE, PRIVILEGED),
            (
                Fix(authz.denied(*_CREATE, OUTSIDE), "a bind outside $BITBUCKET_CLONE_DIR"),
                Fix(authz.denied(*_CREATE, MOUNTS), "a mount (HostConfig.Mounts)"),
                Fix(
                    authz.denied("PUT", "/containers/3f2a9c1b7d4e/archive", "pipelines", BODY),
                    "a body sent chunked",
                ),
            ),
        ),
        CatalogueEntry(
            ("bind-refused-by-policy",),
            ("cannot be bind-mounted: the engine's authorization plugin",),
            "a folder outside the clone dir cannot be bound on Bitbucket Pipelines, whether "
            "or not its docker service sees it: the plugin copies it into containers, and "
            "docker_tmp_path gives a folder under the clone dir",
            authz.bind_refused("/tmp/pytest-of-ci/pytest-0/test_data0", "pipelines", OUTSIDE),
        ),
        CatalogueEntry(
            ("sidecar-refused-by-policy",),
            ("--docker-mode=sidecar cannot run on this engine (bitbucket pipelines)",),
            "a sidecar needs a privileged container, which Bitbucket's docker service refuses",
            say_profile.sidecar_refused(
                "bitbucket pipelines",
                say_profile.SIDECAR_DENIED_BY_POLICY.format(plugin=authz.BITBUCKET_PLUGIN),
            ),
        ),
        CatalogueEntry(
            ("killed-for-memory",),
            ("was killed for memory (OOMKilled)", "returned non-zero exit status 137"),
            "a container of the failed test used more memory than its limit, or than the "
            "engine has: Bitbucket's docker service has 1 GB unless the pipeline gives it more",
            authz.killed_for_memory("web-1", None, "1 GiB", on_bitbucket=True),
            (Fix(authz.killed_for_memory("web-1", "256 MiB", "16 GiB", False), "elsewhere"),),
        ),
    ]
