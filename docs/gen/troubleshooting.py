"""Placeholder for the troubleshooting page, generated from the message catalogue; the real
generator is written in parallel and replaces this file."""

from __future__ import annotations


def render() -> str:
    return "# Troubleshooting\n\nThe catalogue of failures is generated here at merge.\n"
