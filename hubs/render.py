"""jinja2 rendering of pages and widget fragments (always autoescaped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from hubs.markup import render_markdown

TEMPLATES_DIR = Path(__file__).parent / "templates"
WIDGETS_DIR = Path(__file__).parent / "widgets"


def _json_script(value: Any) -> Markup:
    """JSON safe to embed inside a <script> element."""
    text = json.dumps(value, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            jinja2.FileSystemLoader(str(WIDGETS_DIR)),
        ]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["markdown"] = render_markdown
    env.filters["json_script"] = _json_script
    return env
