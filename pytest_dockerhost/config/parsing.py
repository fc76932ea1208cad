"""How raw option values (a flag's word, a variable, an ini line) become typed values.

Each parser raises ValueError with what the value must be; ``settings`` adds where the
value came from. One parser per kind of value, for the CLI, the environment and ini alike.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from . import texts as say_

Mode = Literal["auto", "dood", "dind", "sidecar"]
MODES: tuple[Mode, ...] = ("auto", "dood", "dind", "sidecar")
# What resolution searches with: a sidecar's outer daemon is found as ``auto`` finds one.
SearchMode = Literal["auto", "dood", "dind"]
Resolve = Literal["auto", "always", "marked"]
RESOLVE_WHEN: tuple[Resolve, ...] = ("auto", "always", "marked")
DEFAULT_TIMEOUT = 30.0
DEFAULT_SIDECAR_IMAGE = "docker:dind"
DEFAULT_LEASE = 60.0  # seconds a run's claim on the daemon lasts unrenewed
DEFAULT_KEEP_FOR = 24 * 3600.0  # seconds a kept sidecar lives after it was made
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
CI_VARIABLES = (
    "CI",
    "JENKINS_URL",
    "GITLAB_CI",
    "GITHUB_ACTIONS",
    "BUILDKITE",
    "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER",
    "CIRCLECI",
    # ARC's Kubernetes mode: its job pods may lack GITHUB_ACTIONS
    "ACTIONS_RUNNER_CONTAINER_HOOKS",
)

TRUE_WORDS = ("1", "true", "yes", "on", "y", "t")
FALSE_WORDS = ("0", "false", "no", "off", "n", "f", "")


def parse_mode(raw: str) -> Mode:
    value = raw.strip().lower()
    for mode in MODES:
        if value == mode:
            return mode
    raise ValueError(say_.one_of(MODES))


def parse_resolve(raw: str) -> Resolve:
    value = raw.strip().lower()
    for when in RESOLVE_WHEN:
        if value == when:
            return when
    raise ValueError(say_.one_of(RESOLVE_WHEN))


def search_mode(mode: Mode) -> SearchMode:
    """The mode resolution works with: a sidecar's host daemon is found like any other."""
    return "auto" if mode == "sidecar" else mode


# How the endpoint comes to be: found among the candidates, or a sidecar started on the
# daemon found (a pool comes next).
Strategy = Literal["discovered", "sidecar"]


def strategy_for(mode: Mode) -> Strategy:
    """The one place that decides whether this run starts a sidecar."""
    return "sidecar" if mode == "sidecar" else "discovered"


def parse_timeout(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(say_.SECONDS) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(say_.POSITIVE_SECONDS)
    return value


def parse_duration(raw: str) -> float:
    """Seconds, or a number with a unit: 90, 90s, 30m, 24h, 7d."""
    text = raw.strip().lower()
    factor = _UNITS.get(text[-1:], 0.0) if text else 0.0
    number = text[:-1] if factor else text
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        raise ValueError(say_.DURATION) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(say_.DURATION)
    return value


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(say_.BOOLEAN)


def parse_text(raw: str) -> str | None:
    value = raw.strip()
    return value or None


_SSH_TARGET = re.compile(
    r"^(?:ssh://)?(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9_][A-Za-z0-9._-]*(?::[0-9]{1,5})?/?$"
)


def parse_ssh_target(raw: str) -> str | None:
    """An SSH target as ssh takes it; never an option (a leading dash)."""
    value = raw.strip()
    if not value:
        return None
    if not _SSH_TARGET.match(value):
        raise ValueError(say_.SSH_TARGET)
    return value


def parse_lines(raw: str) -> tuple[str, ...]:
    """Lines, spaces or commas between items: no image reference holds either."""
    return tuple(part for part in raw.replace(",", " ").split() if part)


def parse_capabilities(raw: str) -> tuple[str, ...]:
    names = tuple(
        word.strip().upper().removeprefix("CAP_") for word in raw.replace(",", " ").split()
    )
    bad = [name for name in names if not name.replace("_", "").isalpha()]
    if bad:
        raise ValueError(say_.not_capabilities(bad))
    return names


def parse_tls_verify_env(raw: str) -> bool:
    # The docker CLI turns verification on for any non-empty value, "0" included.
    return raw != ""
