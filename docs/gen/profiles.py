"""The engine profiles page, generated from the plugin's profile table
(``discovery.profile.policy_for``): each profile, how it is told, and what the plugin does
on it. A profile added to the table reaches the page, with its policy as the code has it."""

from __future__ import annotations

from typing import get_args

from pytest_dockerhost.discovery.profile import Policy, ProfileName, policy_for
from pytest_dockerhost.messages.profile import RECOGNISED_BY

TITLE = "Engine profiles"

INTRO = """\
At session start the plugin decides, once, what kind of engine answered: from what the
engine says about itself (`/version`, and `/info`: its name, operating system,
authorization plugins) and from the CI's variables. The profile is named in the header
(`docker: profile ...`, for engines that are not plain Docker or Podman) and in the JSON
report (`endpoint.engine.profile`). What the plugin does follows from it, in one table:

- **Ryuk**: whether testcontainers' Ryuk is left on (off: the wiring sets
  `TESTCONTAINERS_RYUK_DISABLED=true` unless you set it).
- **reaper**: whether the plugin's own reaper removes what the run leaves (off: the engine
  removes what it ran).
- **folders**: binds as they are, binds only under one folder (others are copied in and
  back), or copies for every folder.
- **sidecar**: whether sidecar mode can run there; where it cannot, it fails at once,
  saying why and what to do.
- **request bodies**: whether the plugin's own requests must carry a Content-Length (an
  authorization plugin cannot read a chunked body).

This page is generated from the plugin's profile table when the docs are built.
"""

BITBUCKET_ENV = {"BITBUCKET_CLONE_DIR": "$BITBUCKET_CLONE_DIR"}


def _folders(policy: Policy) -> str:
    if policy.copies:
        return "copies"
    if policy.bind_root:
        return f"binds under `{policy.bind_root}`, others copied"
    return "binds (copies where the engine cannot see a folder)"


def _row(name: str, policy: Policy) -> str:
    cells = [
        f"`{name}`",
        RECOGNISED_BY[name],
        "on" if policy.ryuk else "off",
        "on" if policy.reaper else "off (the engine reaps)",
        _folders(policy),
        "yes" if not policy.sidecar else "no: " + policy.sidecar,
        "chunked allowed" if policy.bodies == "any" else "Content-Length only",
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render() -> str:
    rows = [_row(name, policy_for(name, {}, BITBUCKET_ENV)) for name in get_args(ProfileName)]
    table = [
        "| profile | recognised by | Ryuk | reaper | folders | sidecar | request bodies |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    return f"# {TITLE}\n\n{INTRO}\n" + "\n".join(table) + "\n"
