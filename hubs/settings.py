"""How a setting is declared, read, checked, mapped from the environment and documented.

The table itself (``SETTINGS``) is in ``hubs/config.py``. This module and that one use
the standard library alone: ``fedmsg.d/hubs.py`` imports them each time fedmsg loads
its configuration (``fedmsg-hub``, ``populate.py``, ``hubs-token``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

# A check takes a value that has the setting's kind and says what is wrong with it (None: nothing).
Check = Callable[[Any], "str | None"]


class Invalid(ValueError):
    """A value that a setting's kind cannot take; ``problems`` says why, one line each."""

    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Kind:
    """What a setting holds: how a fedmsg config value and an environment variable's text are read."""

    name: str  # the README's Type column
    parse: Callable[[Any], Any]  # the fedmsg config value -> the attribute's value; raises Invalid
    from_env: Callable[[str, Any], Any] = lambda text, default: text  # the variable's text -> the config value
    empty_is_unset: bool = False  # "", [], 0 count as "not set" (the default applies)
    annotation: str = "Any"  # the HubsConfig attribute's type, for help() and readers


def _converted(kind: type) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise Invalid(f"expected {kind.__name__}, got {value!r}") from None
    return parse


def _number_from_env(kind: type) -> Callable[[str, Any], Any]:
    def from_env(text: str, default: Any) -> Any:
        try:
            return kind(text)
        except ValueError:
            return text  # left as written: HubsConfig says what is wrong with it
    return from_env


def _switch(text: str, default: Any) -> bool:
    """A variable turns a switch around only with the opposite digit: ``=1`` when off by default, ``=0`` when on."""
    return text != "0" if default else text == "1"


def _strings(noun: str) -> Callable[[Any], tuple[str, ...]]:
    def parse(value: Any) -> tuple[str, ...]:
        try:
            if not isinstance(value, str) and all(isinstance(item, str) for item in value):
                return tuple(value)
        except TypeError:  # not iterable
            pass
        raise Invalid(f"must be a list of {noun}")
    return parse


def _host_ports(value: Any) -> tuple[tuple[str, int], ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    servers, problems = [], []
    for item in items:
        host, sep, port = str(item).strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            problems.append(f"{item!r} is not host:port")
        else:
            servers.append((host, int(port)))
    if problems:
        raise Invalid(*problems)
    return tuple(servers)


DEFAULT_BINDINGS = ({"exchange": "amq.topic", "routing_keys": ["#"]},)


def _bindings(value: Any) -> tuple[dict[str, Any], ...]:
    """fedora-messaging's bindings: one ``{"exchange": str, "routing_keys": [str, ...]}`` or a list of them."""
    if isinstance(value, Mapping):
        value = [value]
    clean, problems = [], []
    for n, b in enumerate(value if isinstance(value, (list, tuple)) else [None], start=1):
        keys = b.get("routing_keys") if isinstance(b, Mapping) else None
        if not isinstance(b, Mapping) or not isinstance(b.get("exchange", "amq.topic"), str) \
                or not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) for k in keys):
            problems.append(f"binding {n} must be {{'exchange': str, 'routing_keys': [str, ...]}}")
            continue
        clean.append({"exchange": b.get("exchange", "amq.topic"), "routing_keys": list(keys)})
    if problems:
        raise Invalid(*problems)
    return tuple(clean)


TEXT = Kind("text", _converted(str), annotation="str")
# Text where "" (or no value) means the default: optional secrets, URLs and file names.
OPTIONAL_TEXT = Kind("text", _converted(str), lambda text, default: text or default, empty_is_unset=True,
                     annotation="str | None")
# Kept exactly as given (its check says what it must be); "" means unset.
SECRET = Kind("text", lambda value: value, lambda text, default: text or default, empty_is_unset=True,
              annotation="str | None")
URL = Kind("URL", lambda value: _converted(str)(value).rstrip("/"), annotation="str")
INT = Kind("int", _converted(int), _number_from_env(int), annotation="int")
FLOAT = Kind("float", _converted(float), _number_from_env(float), annotation="float")
BOOL = Kind("bool", bool, _switch, annotation="bool")
HOST_PORTS = Kind("host:port list", _host_ports, empty_is_unset=True, annotation="tuple[tuple[str, int], ...]")
BINDINGS = Kind("bindings", _bindings, empty_is_unset=True, annotation="tuple[dict[str, Any], ...]")


def strings(noun: str) -> Kind:
    """A list of strings (``noun`` names them in the error); its variable is comma separated."""
    return Kind("list of text", _strings(noun), lambda text, default: [s for s in text.split(",") if s],
                annotation="tuple[str, ...]")


# Checks: each returns the problem, or None.
def check(holds: Callable[[Any], Any], problem: str) -> Check:
    """A check from a predicate; ``{value}`` in ``problem`` is replaced by the value."""
    return lambda value: None if holds(value) else problem.format(value=value)


POSITIVE = check(lambda v: v > 0, "must be positive")
HTTP_URL = check(lambda v: v.startswith(("http://", "https://")), "must be an http(s) URL")


def at_least(low: int) -> Check:
    return check(lambda v: v >= low, f"must be at least {low}")


def between(low: int, high: int) -> Check:
    return check(lambda v: low <= v <= high, f"must be between {low} and {high}")


SAME = object()  # Setting.shipped: fedmsg.d/hubs.py ships the default


@dataclass(frozen=True)
class Setting:
    """One configuration key: what it holds, its default, its variable, what it means and what it must be.

    ``attr`` names the ``HubsConfig`` attribute (None: Hubs does not keep it; moksha reads it).
    ``owner`` is "hubs", or "moksha" / "fedmsg" for keys of those libraries that Hubs relies on;
    fedmsg's are set in ``fedmsg.d/base.py``, every other one in ``fedmsg.d/hubs.py``.
    """

    attr: str | None
    key: str
    kind: Kind
    default: Any
    meaning: str
    env: str | None = None  # HUBS_* variable that sets it in fedmsg.d
    check: Check | None = None
    required: bool = False  # no default: unset is an error
    floor: float | None = None  # lower values are silently raised to this
    needs: str | None = None  # read only when this (earlier) key is set; otherwise the default
    shipped: Any = SAME  # what fedmsg.d/hubs.py sets when the variable is unset, if not the default
    shown: str | None = None  # the README's Default cell, when the value itself would not read well
    env_value: Callable[[str, Any], Any] | None = None  # instead of kind.from_env
    owner: str = "hubs"

    @property
    def shipped_value(self) -> Any:
        return self.default if self.shipped is SAME else self.shipped

    def read(self, config: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """This setting's value in ``config`` (``values``: the earlier settings'), and what is wrong with it."""
        if self.needs is not None and not values.get(self.needs):
            return self.default, []
        raw = config.get(self.key)
        if raw is None or (self.kind.empty_is_unset and not raw):
            return self.default, [f"{self.key}: missing"] if self.required else []
        try:
            value = self.kind.parse(raw)
        except Invalid as e:
            return self.default, [f"{self.key}: {problem}" for problem in e.problems]
        problem = self.check(value) if self.check is not None and value is not None else None
        if problem:
            return value, [f"{self.key}: {problem}"]
        if self.floor is not None:
            value = max(self.floor, value)
        return value, []

    def from_env(self, environ: Mapping[str, str]) -> Any:
        """The value fedmsg.d/hubs.py gives this key: the shipped one unless the variable is set."""
        value = copy.deepcopy(self.shipped_value)
        if self.env is not None and self.env in environ:
            value = (self.env_value or self.kind.from_env)(environ[self.env], value)
        return value


@dataclass(frozen=True)
class Rule:
    """A problem that involves several settings: ``holds`` takes the values by attribute name."""

    problem: str
    holds: Callable[[Any], Any]


def read_settings(settings: Iterable[Setting], rules: Iterable[Rule],
                  config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every setting's value (by attribute) and every problem, in table order then the rules'."""
    by_key: dict[str, Any] = {}
    problems: list[str] = []
    for setting in settings:
        value, wrong = setting.read(config, by_key)
        by_key[setting.key] = value
        problems += wrong
    values = {s.attr: by_key[s.key] for s in settings if s.attr is not None}
    facts = SimpleNamespace(**values)
    problems += [rule.problem for rule in rules if not rule.holds(facts)]
    return values, problems


def fedmsg_dict(settings: Iterable[Setting], environ: Mapping[str, str]) -> dict[str, Any]:
    """The dict ``fedmsg.d/hubs.py`` hands to fedmsg: every key it owns, with the variables applied."""
    return {s.key: s.from_env(environ) for s in settings if s.owner != "fedmsg"}


def frozen_settings(settings: Iterable[Setting]) -> Callable[[type], type]:
    """Class decorator: a frozen, keyword-only dataclass with one field per setting that has an attribute."""
    settings = tuple(settings)

    def decorate(cls: type) -> type:
        own = dict(cls.__dict__.get("__annotations__", {}))
        fields = {}
        for s in settings:
            if s.attr is not None:
                fields[s.attr] = s.kind.annotation
                if not s.required:
                    setattr(cls, s.attr, s.default)
        cls.__annotations__ = {**fields, **own}
        return dataclass(frozen=True, kw_only=True)(cls)
    return decorate


@dataclass(frozen=True)
class Variable:
    """An environment variable read outside fedmsg.d (tools/dev.sh, the tests, the benchmarks)."""

    name: str
    read_by: tuple[str, ...]  # files or folders of the repository that read it
    meaning: str


# The README's tables.
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if value is None:
        return "unset"
    if value == "":
        return '`""`'
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`" if isinstance(value, (list, dict)) else f"`{value}`"


def _number(n: float) -> str:
    mib = 1024 * 1024
    return f"{n // mib:g} MiB" if n >= mib and n % mib == 0 else f"{n:g}"


def _key_cell(s: Setting) -> str:
    where = {"hubs": "", "moksha": " (moksha's)", "fedmsg": " (fedmsg's, in base.py)"}[s.owner]
    return f"`{s.key}`{where}"


def _env_cell(s: Setting) -> str:
    if s.env is None:
        return ""
    if s.kind.from_env is _switch and s.env_value is None:
        return f"`{s.env}={'0' if s.shipped_value else '1'}`"
    if s.kind.name == "list of text":
        return f"`{s.env}` (comma separated)"
    return f"`{s.env}`"


def _meaning_cell(s: Setting) -> str:
    text = s.meaning
    if s.floor is not None:
        text += f"; less counts as {_number(s.floor)}"
    return text


def markdown(settings: Iterable[Setting], variables: Iterable[Variable]) -> str:
    """The README's two tables: every key, then the variables that only tools and tests read."""
    lines = ["| Key | Type | Default | Variable | Meaning |", "|---|---|---|---|---|"]
    for s in settings:
        default = s.shown if s.shown is not None else _code(s.shipped_value)
        lines.append(f"| {_key_cell(s)} | {s.kind.name} | {_cell(default)} | {_cell(_env_cell(s))} "
                     f"| {_cell(_meaning_cell(s))} |")
    lines += ["", "Variables read outside fedmsg.d:", "", "| Variable | Read by | Meaning |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {', '.join(f'`{place}`' for place in v.read_by)} | {_cell(v.meaning)} |"
              for v in variables]
    return "\n".join(lines) + "\n"


BEGIN = "<!-- settings: generated by `python -m hubs.config --markdown` from hubs/config.py; do not edit -->"
END = "<!-- end of settings -->"


def replace_section(text: str, section: str) -> str:
    """``text`` with what lies between the BEGIN and END markers replaced by ``section``."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return f"{head}{BEGIN}\n{section}{END}{tail}"


def section(text: str) -> str:
    """What lies between the markers in ``text`` ("" without them)."""
    _, begin, rest = text.partition(BEGIN + "\n")
    return rest.partition(END)[0] if begin else ""

