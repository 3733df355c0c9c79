"""Headless Debian chromium for the HTML tests: the DOM a page builds, and its console.

Where ``/usr/bin/chromium`` is missing the browser tests skip, unless ``BENCH_REQUIRE``
names ``chromium`` (as ``.ci/run`` does): then they fail.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from tests.requirements import missing

CHROMIUM = Path("/usr/bin/chromium")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def require_chromium() -> Path:
    """The browser; skips the test where it is missing, fails it where it is required."""
    if not CHROMIUM.exists():
        missing("chromium", f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@dataclass
class Element:
    """A node of the dumped DOM: tag, attributes, children and its own text."""

    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def find_all(self, tag: str, cls: str | None = None) -> list[Element]:
        """Descendants with this tag (and class), in document order."""
        found = []
        for child in self.children:
            if child.tag == tag and (cls is None or cls in child.attrs.get("class", "").split()):
                found.append(child)
            found.extend(child.find_all(tag, cls))
        return found

    def all_text(self) -> str:
        """The text of this element and its descendants."""
        return self.text + "".join(child.all_text() for child in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


@dataclass
class Loaded:
    """What chromium made of a page: the serialised DOM, its tree and its log."""

    html: str
    dom: Element
    log: str

    @property
    def console(self) -> list[str]:
        """Console messages and uncaught errors the page produced (chromium's log lines)."""
        return [line for line in self.log.splitlines() if re.search(r"CONSOLE|Uncaught", line)]


def load(page: Path, profile: Path, query: str = "") -> Loaded:
    """Load ``page`` in headless chromium (no network, fresh profile) and dump its DOM."""
    command = [
        str(require_chromium()), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
        f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + query,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return Loaded(done.stdout, parse_html(done.stdout), done.stderr)


def parse_html(text: str) -> Element:
    """The element tree of an HTML document (a page as written, or as chromium dumped it)."""
    builder = _TreeBuilder()
    builder.feed(text)
    return builder.root
