"""Amounts as the header and the failures write them: one home for memory sizes."""

from __future__ import annotations


def memory(size: int) -> str:
    """Bytes in the binary units ``docker info`` and ``docker stats`` use: "7.8 GiB",
    "512 MiB"; "" when unknown (an engine that did not say)."""
    if size <= 0:
        return ""
    gib = size / 1024**3
    if gib >= 1:
        return f"{gib:.1f}".removesuffix(".0") + " GiB"
    return f"{size // 1024**2} MiB"
