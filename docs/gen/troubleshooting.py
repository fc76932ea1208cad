"""The Troubleshooting page, generated from the failure catalogue at docs build time.

Contract with the MkDocs hook: a module-level ``render() -> str`` returning the page's
Markdown. Every section is titled by the error text users paste into a search box; its
what-happened and fix are the plugin's own words, rendered with example facts by
``pytest_dockerhost.messages.catalogue``. The page links nowhere, so it builds under
``mkdocs build --strict`` whatever other pages exist.
"""

from __future__ import annotations

from pytest_dockerhost.messages.catalogue import catalogue
from pytest_dockerhost.messages.catalogue_transport import CatalogueEntry

INTRO = (
    "Each section below is titled by an error text as docker-py, testcontainers, the docker "
    "CLI or the daemon prints it, or as pytest-dockerhost says it: search this page for the "
    "text you see. Under it: what it means, what pytest-dockerhost says when it meets it "
    "(shown here with example values: yours name your own paths, hosts and groups), and the "
    "fix. `python -m pytest_dockerhost` prints the same diagnosis for the machine it runs on."
)


def _code(text: str) -> str:
    """An inline code span that holds ``text`` whatever backticks it contains."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _quoted(text: str) -> list[str]:
    """The plugin's words: a quote for one line, a text block for an indented paragraph."""
    if "\n" in text:
        return ["```text", text, "```"]
    return [f"> {text}"]


def section(entry: CatalogueEntry) -> str:
    """One failure's section of the page."""
    lines = [f"## {_code(entry.title)}", ""]
    if entry.searched[1:]:
        lines += ["Also seen as: " + ", ".join(_code(text) for text in entry.searched[1:]), ""]
    lines += [f"**What it means:** {entry.means}.", "", "**pytest-dockerhost says:**", ""]
    lines += [*_quoted(entry.says), ""]
    if len(entry.fixes) == 1 and not entry.fixes[0].when:
        lines += [f"**Fix:** {entry.fixes[0].text}", ""]
    elif entry.fixes:
        lines += ["**Fix:**", ""]
        lines += [
            f"- *{fix.when}*: {fix.text}" if fix.when else f"- {fix.text}" for fix in entry.fixes
        ]
        lines.append("")
    lines += ["Failure kind: " + ", ".join(_code(kind) for kind in entry.kinds), ""]
    return "\n".join(lines)


def render() -> str:
    """The whole page, one section per catalogue entry."""
    return "\n".join(["# Troubleshooting", "", INTRO, ""] + [section(e) for e in catalogue()])


if __name__ == "__main__":  # a preview: python docs/gen/troubleshooting.py > page.md
    print(render())
