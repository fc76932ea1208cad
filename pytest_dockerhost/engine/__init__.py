"""The Engine API and the road to it: URLs, the transport (unix, TCP, TLS), the probe,
a small client that needs no docker-py, and version skew between engine and tools."""
