"""Finding the endpoint: the chain of sources, resolution, the endpoint it yields, and
the facts about this machine (network, pod, MTU, what the daemon can see) that explain
why a candidate failed (``diagnosis``)."""
