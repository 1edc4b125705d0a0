"""The widget registry. To add a widget, write its module and template here
and list it in ``WIDGETS``; the registry is checked when the hub starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from hubs.widgets import (
    about,
    avatar,
    badges,
    cobwebs,
    dummy,
    fedmsgs,
    fedmsgstats,
    feed,
    meetings,
    pagure,
    rules,
    stats,
    sticky,
    subscriptions,
    updates2stable,
)
from hubs.widgets.base import WidgetSpec, contract_problems, make_spec

WIDGETS_DIR = Path(__file__).parent

WIDGETS: dict[str, ModuleType] = {
    "about": about,
    "avatar": avatar,
    "badges": badges,
    "cobwebs": cobwebs,
    "dummy": dummy,
    "fedmsgs": fedmsgs,
    "fedmsgstats": fedmsgstats,
    "feed": feed,
    "meetings": meetings,
    "pagure": pagure,
    "rules": rules,
    "stats": stats,
    "sticky": sticky,
    "subscriptions": subscriptions,
    "updates2stable": updates2stable,
}


class RegistryError(RuntimeError):
    """A registered widget breaks the contract; the message names it and why."""


def _template_beside(module: ModuleType):
    folder = Path(module.__file__).parent if getattr(module, "__file__", None) else WIDGETS_DIR
    return lambda name: (folder / name).is_file()


def load_registry(modules: Mapping[str, ModuleType] = WIDGETS) -> dict[str, WidgetSpec]:
    """Check every widget and return their specs, or raise naming each broken one."""
    report = []
    for name, module in sorted(modules.items()):
        problems = contract_problems(name, module, _template_beside(module))
        report.extend(f"widget {name!r}: {problem}" for problem in problems)
    if report:
        raise RegistryError("the widget registry is broken:\n  " + "\n  ".join(report))
    return {name: make_spec(name, module) for name, module in sorted(modules.items())}
