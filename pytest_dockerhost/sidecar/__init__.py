"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

One room per job:

- ``spec``: what to start (image, privilege profiles in order, capabilities);
- ``payload``: the container's create body and the certificate tar (pure);
- ``lifecycle``: create, start, wait, preload, stop (``Sidecar``), with ``base`` (its
  state), ``reach`` (where it answers), ``readiness`` (is it up) and ``reuse`` (kept ones);
- ``preload``: host images copied in;
- ``janitor``: sweeps and ``cleanup`` (who owns what: ``..ownership``);
- ``sharing``: one sidecar per run across pytest-xdist workers.
"""

from __future__ import annotations

from ..ownership import Judge
from ..tempdirs import private_dir
from .base import Started
from .janitor import Owner, cleanup, remove_run, sweep
from .lifecycle import Sidecar
from .preload import preload
from .reuse import reuse_key
from .spec import CAPABILITIES, OFTEN_MISSING, Profile, Say, Spec

__all__ = [
    "CAPABILITIES",
    "OFTEN_MISSING",
    "Judge",
    "Owner",
    "Profile",
    "Say",
    "Sidecar",
    "Spec",
    "Started",
    "cleanup",
    "preload",
    "private_dir",
    "remove_run",
    "reuse_key",
    "sweep",
]
