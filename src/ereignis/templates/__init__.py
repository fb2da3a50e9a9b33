"""The Jinja2 templates of everything ereignis writes for people, and the two ways to render them.

One template renders both Markdown and HTML: `blocks.j2` holds the primitives (headings,
paragraphs, tables, figures, which check the global `html`) and the shared tables (summary,
per-label, decision rule, labels, glossary) that the model card, report.md/report.html and
ereignis-compare all import, so every number is formatted in one place.

Text from users and data (article ids and excerpts, label names and definitions, set names)
is escaped on output, by default, in both formats: the HTML environment autoescapes, and the
Markdown environment passes every `{{ value }}` through `markdown_text`, which neutralises table
pipes, line breaks, HTML tags, links and images and emphasis. Template text itself and
deliberate markup (macro output, `| safe`, `| literal` in code blocks) are left alone.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

TEMPLATE_DIR = Path(__file__).parent

_ANYWHERE = re.compile(r"([\\`*\[\]<>|~$])")  # Markdown meaning anywhere in a line ($: math on GitHub)
_EMPHASIS_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # `_` not between two letters/digits
_ENTITY = re.compile(r"&(?=#?\w+;)")  # `&amp;` would be shown as `&`
_LINE_START = re.compile(r"^(\s*\d*)([#+=.)-])(?=\s|$)")  # heading, list, setext marks; `1.` ordered list
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")


def markdown_text(value: str) -> str:
    """`value` as literal inline Markdown text: safe in a table cell, a heading or a paragraph."""
    text = _LINE_BREAKS.sub(" ", value)
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _EMPHASIS_UNDERSCORE.sub(r"\\_", text)
    text = _ENTITY.sub(r"\\&", text)
    return _LINE_START.sub(r"\1\\\2", text)


def _is_markup(value: Any) -> bool:
    return hasattr(value, "__html__")


def _markdown_finalize(value: Any) -> Any:
    if value is None:
        return ""
    return value if _is_markup(value) else Markup(markdown_text(str(value)))


def _html_finalize(value: Any) -> Any:
    return "" if value is None else value


def _join(html: bool):
    """`join` that escapes each item for the format (the built-in one escapes for HTML only)."""
    def join(values, separator: str = "") -> Markup:
        items = [item if _is_markup(item) else (escape(item) if html else markdown_text(str(item))) for item in values]
        return Markup(separator.join(items))
    return join


def _code(html: bool):
    """Inline code: `<code>` in HTML; in Markdown a backtick span fenced longer than any run inside."""
    def code(value: Any) -> Markup:
        text = _LINE_BREAKS.sub(" ", str(value))
        if html:
            return Markup("<code>{}</code>").format(text)
        if "|" in text:  # a pipe would end a table cell even inside backticks
            return Markup(markdown_text(text))
        fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
        padding = " " if text.startswith("`") or text.endswith("`") else ""
        return Markup(f"{fence}{padding}{text}{padding}{fence}")
    return code


def _literal(html: bool):
    """A value as a JSON (and Python) literal for code blocks: quotes and escapes handled by JSON;
    in HTML also entity-escaped, in Markdown verbatim (a code block shows it as it is)."""
    def literal(value: Any) -> Markup:
        text = json.dumps(value, ensure_ascii=False)
        return escape(text) if html else Markup(text)
    return literal


def _fence(text: str) -> Markup:
    """A Markdown code fence longer than any backtick run in `text`, so nothing inside can close it."""
    return Markup("`" * max(3, max((len(run) + 1 for run in re.findall(r"`+", str(text))), default=0)))


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(interval: dict[str, float] | None, digits: int = 3) -> Markup:
    """[low, high]: numbers only, so no escaping (which would show `\\[` in the Markdown source)."""
    return Markup("" if not interval else f"[{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]")


@lru_cache(maxsize=2)
def environment(html: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
                      finalize=_html_finalize if html else _markdown_finalize, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals["html"] = html
    env.filters.update(join=_join(html), code=_code(html), literal=_literal(html), fence=_fence, num=_number,
                       interval=_interval)
    return env


def render(template: str, html: bool, **context: Any) -> str:
    """Render `template` (a file in this folder) as Markdown or, with `html`, as an HTML fragment."""
    return environment(html).get_template(template).render(**context)
