"""The widget contract: arguments, hints, and the checks the registry runs.

A widget is a module under ``hubs/widgets`` with its jinja2 template beside
it. See the README ("Writing a widget") for a worked example.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

Validator = Callable[[Any], Any]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class InvalidConfig(ValueError):
    """A widget config failed validation; ``errors`` maps field to message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())))


@dataclass(frozen=True)
class Argument:
    """One configurable argument of a widget (drives validation and the edit form)."""

    name: str
    default: Any
    validator: Validator
    help: str
    label: str = ""
    kind: str = "text"  # text, textarea, integer, boolean, links, username, choice
    choices: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "help": self.help, "choices": list(self.choices),
                "label": self.label or self.name.replace("_", " ").capitalize(), "kind": self.kind}


@dataclass(frozen=True)
class Hints:
    """What bus messages may concern a widget, so the consumer asks few widgets.

    ``topics`` are short topics (the part after ``<prefix>.<env>.``, e.g.
    ``fas.group.member.sponsor``); ``categories`` are ``topic.split('.')[3]``
    (e.g. ``badges``); ``usernames(widget, ctx)`` gives the people the widget is
    about and ``widget_topics(widget)`` short topics taken from its config.
    A message is a candidate for the widget if any of them matches.
    """

    topics: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    usernames: Callable[[Any, Any], Iterable[str]] | None = None  # (widget, ctx) -> usernames
    widget_topics: Callable[[Any], Iterable[str]] | None = None

    @property
    def empty(self) -> bool:
        return not (self.topics or self.categories or self.usernames or self.widget_topics)


# --- validators: plain functions that return the cleaned value or raise ValueError


def text(max_length: int = 2000, required: bool = False) -> Validator:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        value = value.strip()
        if required and not value:
            raise ValueError("must not be empty")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value
    return check


def integer(minimum: int, maximum: int) -> Validator:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("must be a whole number")
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return number
    return check


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


def username(value: Any) -> str:
    if not isinstance(value, str) or not _USERNAME.match(value.strip()):
        raise ValueError("must be a Fedora account name (lowercase letters, digits, - _ .)")
    return value.strip()


def optional_username(value: Any) -> str:
    """A Fedora account name, or empty for "the hub's own person"."""
    if value == "" or value is None:
        return ""
    return username(value)


def optional_url(value: Any) -> str:
    if value == "" or value is None:
        return ""
    return url(value)


def project_name(value: Any) -> str:
    """A Pagure project path such as 'design' or 'fedora-infra/ansible'."""
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$", value.strip()):
        raise ValueError("must be a project name such as 'design' or 'fedora-infra/ansible'")
    return value.strip()


def url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a URL")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        raise ValueError("must be an http(s) URL")
    return value


def links(max_items: int = 20) -> Validator:
    """A list of ``{"title": ..., "url": ...}`` objects."""
    title = text(200, required=True)

    def check(value: Any) -> list[dict[str, str]]:
        if not isinstance(value, list):
            raise ValueError("must be a list of {title, url}")
        if len(value) > max_items:
            raise ValueError(f"must have at most {max_items} links")
        cleaned = []
        for n, item in enumerate(value, start=1):
            if not isinstance(item, dict) or set(item) != {"title", "url"}:
                raise ValueError(f"link {n} must have exactly a title and a url")
            try:
                cleaned.append({"title": title(item["title"]), "url": url(item["url"])})
            except ValueError as e:
                raise ValueError(f"link {n}: {e}") from None
        return cleaned
    return check


def validate_config(arguments: Iterable[Argument], raw: Any, fill_defaults: bool = True) -> dict[str, Any]:
    """Check ``raw`` against the declared arguments; return the cleaned config.

    Unknown keys and bad values are errors, all reported together.
    """
    if not isinstance(raw, dict):
        raise InvalidConfig({"config": "must be a JSON object"})
    arguments = list(arguments)
    known = {a.name for a in arguments}
    errors = {key: "unknown argument" for key in raw if key not in known}
    cleaned: dict[str, Any] = {}
    for argument in arguments:
        if argument.name in raw:
            try:
                cleaned[argument.name] = argument.validator(raw[argument.name])
            except ValueError as e:
                errors[argument.name] = str(e)
        elif fill_defaults:
            cleaned[argument.name] = argument.default
    if errors:
        raise InvalidConfig(errors)
    return cleaned


# --- the contract check


@dataclass(frozen=True)
class WidgetSpec:
    """A registered widget, checked at start."""

    name: str
    module: ModuleType
    title: str
    arguments: tuple[Argument, ...]
    hints: Hints
    template: str
    chrome: bool
    data: Callable[..., Any]
    should_invalidate: Callable[..., bool]
    source_file: str = field(default="", compare=False)
    code_hash: str = field(default="", compare=False)
    reads_messages: bool = False
    refresh: float | None = None
    more: Callable[..., Any] | None = None
    more_template: str | None = None
    service: Callable[[Any, dict[str, Any]], str | None] | None = None  # the URL data() fetches from, if any

    def validate(self, raw: Any) -> dict[str, Any]:
        return validate_config(self.arguments, raw)

    @property
    def description(self) -> str:
        """The first line of the widget module's docstring."""
        doc = (getattr(self.module, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "arguments": [a.as_json() for a in self.arguments]}


def contract_problems(name: str, module: ModuleType, template_exists: Callable[[str], bool]) -> list[str]:
    """Everything wrong with a widget module, as readable sentences (pure)."""
    problems = []
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        problems.append(f"name {name!r} must be lowercase letters, digits and _")
    for attr in ("title", "ARGUMENTS", "HINTS", "template", "data", "should_invalidate"):
        if not hasattr(module, attr):
            problems.append(f"missing {attr!r}")
    if problems:
        return problems
    if not isinstance(module.title, str) or not module.title:
        problems.append("'title' must be a non-empty string")
    if not callable(module.data):
        problems.append("'data' must be callable")
    else:
        params = list(inspect.signature(module.data).parameters.values())
        if len(params) < 2:
            problems.append("'data' must accept (ctx, widget, **config)")
    if not callable(module.should_invalidate):
        problems.append("'should_invalidate' must be callable")
    elif len(inspect.signature(module.should_invalidate).parameters) != 3:
        problems.append("'should_invalidate' must accept (message, ctx, widget)")
    if not isinstance(module.HINTS, Hints):
        problems.append("'HINTS' must be a Hints instance")
    else:
        hints = module.HINTS
        if any(not isinstance(t, str) or not t or t.count(".") < 1 for t in hints.topics):
            problems.append("'HINTS.topics' must be short topics such as 'badges.badge.award'")
        if any(not isinstance(c, str) or not c or "." in c for c in hints.categories):
            problems.append("'HINTS.categories' must be single words such as 'badges'")
        for attr in ("usernames", "widget_topics"):
            if getattr(hints, attr) is not None and not callable(getattr(hints, attr)):
                problems.append(f"'HINTS.{attr}' must be callable")
    arguments = module.ARGUMENTS
    if not isinstance(arguments, (list, tuple)) or not all(isinstance(a, Argument) for a in arguments):
        problems.append("'ARGUMENTS' must be a list of Argument")
    else:
        names = [a.name for a in arguments]
        if len(set(names)) != len(names):
            problems.append("'ARGUMENTS' has duplicate names")
        for argument in arguments:
            if not argument.help:
                problems.append(f"argument {argument.name!r} has no help text")
            if not callable(argument.validator):
                problems.append(f"argument {argument.name!r} has no validator")
                continue
            try:
                argument.validator(argument.default)
            except ValueError as e:
                problems.append(f"argument {argument.name!r}: default {argument.default!r} is invalid ({e})")
    refresh = getattr(module, "REFRESH", None)
    if refresh is not None and (isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or refresh < 10):
        problems.append("'REFRESH' must be a number of seconds >= 10")
    service = getattr(module, "service", None)
    if service is not None and (not callable(service) or len(inspect.signature(service).parameters) != 2):
        problems.append("'service' must accept (config, arguments) and answer the URL data() fetches from")
    more = getattr(module, "more", None)
    if more is not None and (not callable(more) or len(inspect.signature(more).parameters) < 3):
        problems.append("'more' must accept (ctx, widget, cursor, **config)")
    if more is not None and not template_exists(getattr(module, "more_template", "") or ""):
        problems.append("'more' needs a 'more_template' beside the module")
    if not isinstance(module.template, str) or not template_exists(module.template):
        problems.append(f"template {getattr(module, 'template', None)!r} not found beside the module")
    return problems


def code_hash(module: ModuleType) -> str:
    """Hash of a widget's module and template: part of its cache keys."""
    digest = hashlib.sha256()
    source = getattr(module, "__file__", None)
    if source:
        folder = Path(source).parent
        digest.update(Path(source).read_bytes())
        template = folder / getattr(module, "template", "")
        if template.is_file():
            digest.update(template.read_bytes())
    return digest.hexdigest()[:16]


def make_spec(name: str, module: ModuleType) -> WidgetSpec:
    return WidgetSpec(
        name=name,
        module=module,
        title=module.title,
        arguments=tuple(module.ARGUMENTS),
        hints=module.HINTS,
        template=module.template,
        chrome=bool(getattr(module, "chrome", True)),
        data=module.data,
        should_invalidate=module.should_invalidate,
        source_file=getattr(module, "__file__", "") or "",
        code_hash=code_hash(module),
        reads_messages=bool(getattr(module, "READS_MESSAGES", False)),
        refresh=getattr(module, "REFRESH", None),
        more=getattr(module, "more", None),
        more_template=getattr(module, "more_template", None),
        service=getattr(module, "service", None),
    )
