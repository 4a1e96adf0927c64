"""A griffe extension for the API pages: the docstrings' RST touches become Markdown.

The docstrings are written to read well in a terminal and in ``help()``; on the site:

- ``:math:`x``` becomes ``\\(x\\)`` and a ``.. math::`` directive (its first line and the
  lines indented under it) a ``\\[ … \\]`` block, which ``pymdownx.arithmatex`` hands to MathJax;
- ``:func:`f```, ``:class:`C``` and the other Python roles become code spans;
- an argument line naming several parameters (``in_features, out_features, bias: as
  nn.Linear.``) becomes one line a parameter, so each is matched against the signature;
- a doctest outside an ``Example:`` section becomes a ``pycon`` code block.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

MATH_ROLE = re.compile(r":math:`([^`]+)`")
PYTHON_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`<]+?)\s*(?:<[^`>]+>)?`"
)
DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
ARGUMENT_SECTION = re.compile(r"^\s*(Arguments|Args|Parameters|Params):\s*$")
GROUPED = re.compile(r"^(\s+)(\w+(?:\s*,\s*\w+)+)\s*:(\s.*|)$")


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def math_blocks(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        pad, first = match.group(1), match.group(2).strip()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or indent(lines[i]) > len(pad)):
            if not lines[i].strip() and (body or i + 1 >= len(lines)):
                break
            if lines[i].strip():
                body.append(lines[i].strip())
            i += 1
        out += ["", f"{pad}\\[", *(pad + line for line in body), f"{pad}\\]", ""]
    return out


def grouped_arguments(lines: list[str]) -> list[str]:
    out, i, in_arguments = [], 0, False
    while i < len(lines):
        line = lines[i]
        if ARGUMENT_SECTION.match(line):
            in_arguments = True
        elif line.strip() and indent(line) == 0:
            in_arguments = False
        match = GROUPED.match(line) if in_arguments else None
        if not match:
            out.append(line)
            i += 1
            continue
        pad, names, rest = match.group(1), match.group(2).split(","), match.group(3)
        i += 1
        continuation = []
        while i < len(lines) and lines[i].strip() and indent(lines[i]) > len(pad):
            continuation.append(lines[i])
            i += 1
        for name in names:
            out += [f"{pad}{name.strip()}:{rest}", *continuation]
    return out


def doctests(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        if not lines[i].startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        out += ["```pycon", *block, "```"]
    return out


def convert(text: str) -> str:
    """``text`` written for the site (see the module docstring).

    >>> convert("so :math:`a^2` holds, see :func:`~reparam.expect`")
    'so \\\\(a^2\\\\) holds, see `reparam.expect`'
    >>> convert(":meth:`Auto.resolve <reparam.estimators.auto.Auto.resolve>`")
    '`Auto.resolve`'
    >>> convert("Arguments:\\n    a, b: as before.\\n    c: new.").splitlines()
    ['Arguments:', '    a: as before.', '    b: as before.', '    c: new.']
    """
    lines = doctests(grouped_arguments(math_blocks(text.splitlines())))
    text = "\n".join(lines)
    text = MATH_ROLE.sub(lambda m: f"\\({m.group(1)}\\)", text)
    return PYTHON_ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class RstMath(griffe.Extension):
    """Rewrites every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
