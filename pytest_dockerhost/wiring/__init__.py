"""Wiring user code to the endpoint: testcontainers and docker-py through the
environment, which tests may use Docker, and bind mounts the engine cannot see, which
become copies."""
