"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

One room per job, each step a collaborator called with what it needs and returning a result:

- ``spec``: what to start (image, privilege profiles in order, capabilities);
- ``payload``: the container's create body and the certificate tar (pure);
- ``certs``: the CA, server and client certificates it is started with;
- ``preflight``: what a fresh start looks up first (the image, the registries, the cache);
- ``reach``: where it answers from here (``Located``, then ``Reached``);
- ``readiness``: is its daemon up (the engine's answer, or a ``SidecarError``);
- ``reuse``: a kept sidecar to reattach to (``Reattached``, or None);
- ``preload``: host images copied in;
- ``started``: what a started sidecar is (``Started``) and the endpoint it hands out;
- ``lifecycle``: ``Sidecar`` composes them, and keeps what ``stop`` removes;
- ``sharing``: one sidecar per run across pytest-xdist workers.

Sweeps and removal live in ``..cleanup`` (``janitor``, ``ownership``).
"""
