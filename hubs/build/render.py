"""jinja2 rendering of pages and widget fragments (always autoescaped)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from hubs.build.markup import render_markdown

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
WIDGETS_DIR = Path(__file__).parent.parent / "widgets"


def _json_script(value: Any) -> Markup:
    """JSON safe to embed inside a <script> element."""
    text = json.dumps(value, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _datetime(epoch: float) -> str:
    """An absolute UTC time, shown until the page script makes it relative."""
    try:
        return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _date(epoch: float) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%a %d %b")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _clock(epoch: float) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            jinja2.FileSystemLoader(str(WIDGETS_DIR)),
        ]),
        autoescape=True,
        auto_reload=False,  # compiled once (warmed up at start): no stat() of the file at every render
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["markdown"] = render_markdown
    env.filters["json_script"] = _json_script
    env.filters["datetime"] = _datetime
    env.filters["date"] = _date
    env.filters["clock"] = _clock
    return env
