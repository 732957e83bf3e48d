"""A griffe extension for the API pages: our docstrings are written for Sphinx-style readers (reST roles,
bare ``>>>`` doctests), the site renders Markdown. It turns ``:role:`target``` into ``target`` in code
style and wraps each bare doctest block into a fenced ``pycon`` block, so both read as intended."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj|ref|doc):`~?([^`]+)`")
DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def to_markdown(text: str) -> str:
    """reST roles and double backticks to Markdown code; bare doctest blocks to fenced ``pycon`` blocks."""
    text = DOUBLE_BACKTICKS.sub(r"`\1`", ROLE.sub(r"`\1`", text))
    out: list[str] = []
    in_doctest = in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_doctest and stripped.startswith(">>>"):
            out.append("```pycon")
            in_doctest = True
        elif in_doctest and not stripped:
            out.append("```")
            in_doctest = False
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out)


class RstToMarkdown(Extension):
    """Rewrite every docstring griffe reads (see the module docstring)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Rewrite the object's docstring in place."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
