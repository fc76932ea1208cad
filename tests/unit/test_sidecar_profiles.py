"""The sidecar's attempts when the engine refuses privilege: each has less than the one
before, and a setting given explicitly is honoured exactly."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.sidecar.spec import CAPABILITIES, OFTEN_MISSING, Spec


def _spec(env: dict[str, str] | None = None, cli: dict[str, Any] | None = None) -> Spec:
    return Spec.from_settings(Settings.from_sources(cli or {}, env or {}, {}))


def test_the_default_falls_back_twice_each_time_with_less() -> None:
    first, second, third = _spec().profiles(same_machine=False)
    assert first.privileged
    assert not first.fallback
    assert not second.privileged
    assert second.caps == CAPABILITIES
    assert "refused --privileged (moby#42906)" in second.fallback
    assert not third.privileged
    assert set(third.caps) < set(second.caps)
    assert set(second.caps) - set(third.caps) == set(OFTEN_MISSING)
    assert third.fallback.endswith("runs without " + ", ".join(OFTEN_MISSING))


@pytest.mark.parametrize("source", ["env", "cli"])
def test_privileged_asked_for_is_the_only_attempt(source: str) -> None:
    if source == "env":
        spec = _spec({"PYTEST_DOCKER_SIDECAR_PRIVILEGED": "1"})
    else:
        spec = _spec(cli={"sidecar_privileged": "true"})
    (only,) = spec.profiles(same_machine=False)
    assert only.privileged


@pytest.mark.parametrize("source", ["env", "cli"])
def test_unprivileged_asked_for_is_lowered_as_the_default_is(source: str) -> None:
    """Issue 22, item 7: the capabilities an engine refuses are left out whether the
    unprivileged set was asked for or fallen back to; privilege is never raised."""
    if source == "env":
        spec = _spec({"PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false"})
    else:
        spec = _spec(cli={"sidecar_privileged": "false"})
    first, fewer = spec.profiles(same_machine=False)
    assert not first.privileged
    assert first.caps == CAPABILITIES
    assert not first.fallback
    assert not fewer.privileged
    assert set(first.caps) - set(fewer.caps) == set(OFTEN_MISSING)
    assert fewer.fallback.endswith("runs without " + ", ".join(OFTEN_MISSING))
    assert [name.split()[0] for name in fewer.left_out] == list(OFTEN_MISSING)
    # The same last attempt as the default path's.
    assert fewer == _spec().profiles(same_machine=False)[-1]


def test_an_explicit_cap_drop_is_honoured_exactly() -> None:
    attempts = _spec({"PYTEST_DOCKER_SIDECAR_CAP_DROP": "SYS_MODULE"}).profiles(same_machine=False)
    assert [a.privileged for a in attempts] == [True, False]
    assert "SYS_MODULE" not in attempts[1].caps
    assert "SYS_RESOURCE" in attempts[1].caps  # nothing left out beyond what was asked


def test_on_the_daemons_machine_the_bounding_set_is_left_out_first() -> None:
    # This process's bounding set stands for the daemon's when both are on one machine.
    from pytest_dockerhost.sidecar.spec import _missing_from_bounding_set

    missing = _missing_from_bounding_set()
    attempts = _spec().profiles(same_machine=True)
    assert attempts[0].privileged
    assert not set(attempts[1].caps) & missing
    assert [name.split()[0] for name in attempts[1].left_out] == sorted(missing)
    for later, earlier in zip(attempts[2:], attempts[1:], strict=False):
        assert set(later.caps) < set(earlier.caps)


@pytest.mark.parametrize(
    "said",
    [
        # Docker 20.10, at start (moby#42906).
        "OCI runtime create failed: runc create failed: unable to start container process: "
        "unable to apply caps: operation not permitted: unknown",
        # Docker 28 (measured nested here, without CAP_SYS_RESOURCE), at create.
        "invalid CapAdd: capability not supported by your kernel or not available in the "
        'current environment: "CAP_SYS_RESOURCE"',
        'invalid CapAdd: unknown capability: "CAP_BPF"',
    ],
)
def test_each_engines_words_for_a_refused_capability_lead_to_the_next_attempt(said: str) -> None:
    from pytest_dockerhost.sidecar.spec import refused_capabilities

    assert refused_capabilities(said)
    assert not refused_capabilities("No such image: pytest-dockerhost-test/dind:local")
