"""The labels on everything a run creates: a leaf, so that every layer can name them
(discovery's probe images, cleanup's sweeps, the sidecar's containers)."""

from __future__ import annotations

LABEL = "org.pytest-dockerhost"
L_RUN = f"{LABEL}.run"
L_ROLE = f"{LABEL}.role"  # sidecar, volume, network, cache, run, lease
L_OWNER_PID = f"{LABEL}.owner-pid"
L_OWNER_START = f"{LABEL}.owner-start"  # the pid's start time, so a recycled pid is not "alive"
L_OWNER_PLACE = f"{LABEL}.owner-place"  # boot id and pid namespace: where owner-pid means it
L_OWNER_HOST = f"{LABEL}.owner-host"  # for people reading labels; never a proof
L_OWNER_CONTAINER = f"{LABEL}.owner-container"  # likewise
L_LEASE = f"{LABEL}.lease"  # the term, in seconds, of the owner's lease on this daemon
L_USES = f"{LABEL}.uses"  # on a lease: the kept sidecar the run is using
L_CREATED = f"{LABEL}.created"
L_CONFIG = f"{LABEL}.config-hash"
L_REUSE = f"{LABEL}.reuse"
L_REUSE_KEY = f"{LABEL}.reuse-key"
L_KEEP_FOR = f"{LABEL}.keep-for"  # seconds a kept sidecar lives after it was made
L_CACHE = f"{LABEL}.cache"
# testcontainers' own label: its session id, which the run sets (cleanup/reaper.py).
TC_SESSION = "org.testcontainers.session-id"
