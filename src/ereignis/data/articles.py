"""The structure of a news article as users have it, and the one text the models read.

Plain articles are a title line and body paragraphs. Structured ones (the common German
online-news layout) add a lead, an optional photo caption and a "Das Wichtigste in Kürze" box
with bullets in either the `•` or the `-` style, before the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEY_POINTS_MARKER = re.compile(r"^\s*das wichtigste in k(ü|ue|u)rze\s*:?\s*$", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[•·▪●*]|[-–—](?=\s))\s*(.+?)\s*$")


@dataclass(frozen=True)
class Article:
    title: str
    lead: str
    caption: str
    bullets: tuple[str, ...]
    body: str

    @property
    def text(self) -> str:
        """Title, lead, key points, body: the most informative parts first, so truncation
        at the model's max length cuts the body's tail rather than the summary."""
        parts = [self.title, self.lead, "\n".join(self.bullets), self.body]
        return "\n\n".join(part for part in parts if part)


def _paragraphs(lines: list[str]) -> list[str]:
    """Non-empty lines: news text puts one paragraph (or sub-heading) on each line."""
    return [line.strip() for line in lines if line.strip()]


def parse_article(raw: str) -> Article:
    """Split raw article text into title, lead, caption, bullets and body."""
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    marker = next((i for i, line in enumerate(lines) if KEY_POINTS_MARKER.match(line)), None)
    if marker is None:
        paragraphs = _paragraphs(lines)
        if len(paragraphs) < 2:  # a single block (e.g. JSONL text) has no separable title
            return Article("", "", "", (), paragraphs[0] if paragraphs else "")
        return Article(paragraphs[0], "", "", (), "\n\n".join(paragraphs[1:]))

    head = _paragraphs(lines[:marker])
    title = head[0] if head else ""
    lead = head[1] if len(head) > 1 else ""
    caption = " ".join(head[2:])  # what sits between lead and key points is a photo caption

    bullets: list[str] = []
    index = marker + 1
    while index < len(lines):
        match = BULLET.match(lines[index])
        if match:
            bullets.append(match.group(1))
        elif lines[index].strip():
            break  # the first line that is no bullet starts the body
        index += 1
    body = "\n\n".join(_paragraphs(lines[index:]))
    return Article(title, lead, caption, tuple(bullets), body)
