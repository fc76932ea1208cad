"""``~/.testcontainers.properties``: ``tc.host``, then ``docker.host`` (Java properties syntax)."""

from __future__ import annotations

from ...messages import sources as say_
from .base import Candidate, SourceContext, url_candidate

KEYS = ("tc.host", "docker.host")


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text: escapes, continuations, ``=``/``:``/space separators."""
    result: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].lstrip()
        index += 1
        if not line or line[0] in "#!":
            continue
        # A line ending in an odd number of backslashes continues on the next one.
        while _continues(line) and index < len(lines):
            line = line[:-1] + lines[index].lstrip()
            index += 1
        if _continues(line):
            line = line[:-1]
        key, value = _split(line)
        result[_unescape(key)] = _unescape(value)
    return result


def _continues(line: str) -> bool:
    count = len(line) - len(line.rstrip("\\"))
    return count % 2 == 1


def _split(line: str) -> tuple[str, str]:
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=: \t\f":
            key = line[:index]
            rest = line[index:].lstrip(" \t\f")
            if rest[:1] in ("=", ":") and char in " \t\f":
                rest = rest[1:].lstrip(" \t\f")
            elif char in "=:":
                rest = line[index + 1 :].lstrip(" \t\f")
            return key, rest
        index += 1
    return line, ""


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1]
        if nxt == "u" and index + 6 <= len(text):
            try:
                out.append(chr(int(text[index + 2 : index + 6], 16)))
                index += 6
                continue
            except ValueError:
                pass
        out.append(_ESCAPES.get(nxt, nxt))
        index += 2
    return "".join(out)


def testcontainers_properties(ctx: SourceContext) -> list[Candidate]:
    path = ctx.home / ".testcontainers.properties"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        what, fix = say_.unreadable_properties(ctx.show(path), exc.strerror or exc)
        return [Candidate.broken(ctx.show(path), "", what, fix, pinned_by=None)]
    props = parse_properties(text)
    verify_raw = props.get("docker.tls.verify", "").strip()
    cert_path = props.get("docker.cert.path", "").strip() or None
    found: list[Candidate] = []
    for key in KEYS:
        value = props.get(key, "").strip()
        if not value:
            continue
        found.append(
            url_candidate(
                f"{ctx.show(path)} {key}",
                value,
                ctx=ctx,
                pinned_by=None,
                tls_verify=verify_raw.lower() in ("1", "true", "yes") if verify_raw else None,
                tls_verify_source=f"{ctx.show(path)} docker.tls.verify",
                cert_path=cert_path,
                cert_path_source=f"{ctx.show(path)} docker.cert.path",
            )
        )
    return found
