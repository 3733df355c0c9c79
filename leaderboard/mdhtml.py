"""The little Markdown the board's generated sections use, as HTML: ``##``/``###``
headings, pipe tables, ``-`` lists, ``**bold**``, ```code```, images with a relative path
(``![alt](plots/x.png)``) and paragraphs (everything escaped; no raw HTML passes
through)."""

from __future__ import annotations

import re
from html import escape


def _inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"!\[([^\]]*)\]\(([\w./-]+)\)", r'<img alt="\1" src="\2">', text)
    return re.sub(r"(?<![\w*])_(.+?)_(?![\w*])", r"<em>\1</em>", text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_html(markdown: str) -> str:
    """HTML of ``markdown`` (see the module docstring)."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", markdown.strip())
    for block in blocks:
        lines = block.splitlines()
        head = lines[0]
        if head.startswith("#"):
            level = len(head) - len(head.lstrip("#"))
            out.append(f"<h{level}>{_inline(head.lstrip('#').strip())}</h{level}>")
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith("|") and len(lines) > 1 and set(lines[1]) <= set("|-: "):
            header = "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0]))
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(ln)) + "</tr>"
                for ln in lines[2:]
            )
            out.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
        elif all(ln.lstrip().startswith("- ") for ln in lines):
            items = "".join(f"<li>{_inline(ln.lstrip()[2:])}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(ln.strip() for ln in lines))}</p>")
    return "".join(out)
