"""Engines on other machines: the run's SSH connection, its forwards and its tunnels."""
