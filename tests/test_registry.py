"""The widget registry: every widget honours the contract; broken ones stop the start."""

import json
import types

import pytest

from hubs.build.render import make_environment
from hubs.widgets import WIDGETS, RegistryError, load_registry
from hubs.widgets.base import Argument, Hints, contract_problems, text

REGISTRY = load_registry()


def _module(**attrs):
    base = dict(
        title="T", template="t.html", ARGUMENTS=[Argument("text", "x", text(10), "help")], HINTS=Hints(),
        data=lambda ctx, widget, **config: {}, should_invalidate=lambda message, ctx, widget: False,
    )
    base.update(attrs)
    module = types.ModuleType("fake_widget")
    for key, value in base.items():
        if value is not None:
            setattr(module, key, value)
    return module


BROKEN = [
    # (attributes, fragment of the problem)
    ({"data": None}, "missing 'data'"),
    ({"template": None}, "missing 'template'"),
    ({"HINTS": None}, "missing 'HINTS'"),
    ({"template": "nope.html"}, "not found"),
    ({"data": lambda: {}}, "'data' must accept"),
    ({"should_invalidate": lambda message: True}, "'should_invalidate' must accept"),
    ({"HINTS": "topics"}, "must be a Hints"),
    ({"HINTS": Hints(topics=frozenset({""}))}, "HINTS.topics"),
    ({"HINTS": Hints(categories=frozenset({"a.b"}))}, "HINTS.categories"),
    ({"ARGUMENTS": [Argument("text", 42, text(10), "help")]}, "default 42 is invalid"),
    ({"ARGUMENTS": [Argument("text", "x", text(10), "")]}, "no help text"),
    ({"ARGUMENTS": [Argument("a", "x", text(10), "h"), Argument("a", "y", text(10), "h")]}, "duplicate"),
    ({"ARGUMENTS": "text"}, "list of Argument"),
    ({"title": ""}, "'title'"),
    ({"service": "https://bodhi.fedoraproject.org"}, "'service' must accept"),
    ({"service": lambda config: config.bodhi_url}, "'service' must accept"),
]


@pytest.mark.parametrize(("attrs", "fragment"), BROKEN)
def test_contract_problems_are_named(attrs, fragment):
    """Each way of breaking the contract is reported in words."""
    problems = contract_problems("fake", _module(**attrs), lambda name: name == "t.html")
    assert any(fragment in p for p in problems), problems


def test_a_good_module_has_no_problems():
    """The reference module passes."""
    assert contract_problems("fake", _module(), lambda name: name == "t.html") == []


@pytest.mark.parametrize(("plugin", "config", "lane"), [
    ("updates2stable", {}, "bodhi.fedoraproject.org"),
    ("badges", {}, "badges.fedoraproject.org"),
    ("pagure", {"project": "hubs"}, "pagure.io"),
    ("meetings", {"calendar": "https://calendar.example.org/ical/design/"}, "calendar.example.org"),
    ("meetings", {"calendar": ""}, None),
    ("feed", {}, None),
])
def test_widgets_that_fetch_from_a_service_say_which(plugin, config, lane):
    """``service(config, arguments)`` names the URL data() fetches from; its host is the lane its builds take."""
    from urllib.parse import urlsplit

    from tests.conftest import make_config

    service = REGISTRY[plugin].service
    url = service(make_config(), REGISTRY[plugin].validate(config)) if service else None
    assert (urlsplit(url).netloc if url else None) == lane


def test_broken_registry_stops_with_the_widget_name():
    """load_registry raises, naming the widget and what is missing."""
    with pytest.raises(RegistryError, match=r"widget 'broken': missing 'data'"):
        load_registry({"sticky": WIDGETS["sticky"], "broken": _module(data=None)})


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_widget_honours_the_contract(name):
    """Defaults validate, hints are well-formed and the template renders JSON-able sample data."""
    spec = REGISTRY[name]
    config = spec.validate({})
    assert set(config) == {a.name for a in spec.arguments}
    for argument in spec.arguments:
        assert argument.help and argument.validator(argument.default) == argument.default
        json.dumps(argument.as_json())
    assert all(t.count(".") >= 1 for t in spec.hints.topics)
    assert spec.code_hash
    env = make_environment()
    assert env.get_template(spec.template) is not None
