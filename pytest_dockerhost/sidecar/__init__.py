"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

One room per job:

- ``spec``: what to start (image, privilege profiles in order, capabilities);
- ``payload``: the container's create body and the certificate tar (pure);
- ``certs``: the CA, server and client certificates it is started with;
- ``lifecycle``: create, start, wait, preload, stop (``Sidecar``), with ``base`` (its
  state), ``reach`` (where it answers), ``readiness`` (is it up) and ``reuse`` (kept ones);
- ``preload``: host images copied in;
- ``sharing``: one sidecar per run across pytest-xdist workers.

Sweeps and removal live in ``..cleanup`` (``janitor``, ``ownership``).
"""
