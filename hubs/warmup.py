"""One-time costs paid before the site is up: templates compiled, Markdown's extensions loaded, the list of hubs
split into words, Fedora Messaging's schema classes loaded (and their validators built). After ``warm_up`` no
request, stream or bus message meets a first-use cost in the reactor (issue 15, item 4)."""

from __future__ import annotations

import logging
import time
import types
from typing import Any

from hubs.build.markup import render_markdown

log = logging.getLogger(__name__)


# Markdown that takes every path of render_markdown: fenced code (it loads codehilite and
# attr_list on first use), a table, lists, emphasis, a link to linkify, HTML to clean.
_WARM_MARKDOWN = """# Warm **up** _now_

| a | b |
|---|---|
| 1 | 2 |

1. one
2. two

- see https://fedoraproject.org/ and [docs](https://docs.fedoraproject.org/)

```python
print("hi")
```

<script>alert(1)</script>
"""


def warm_templates(env) -> int:
    """Compile every template of a jinja2 environment now (a first render would compile it in the reactor)."""
    names = env.list_templates(filter_func=lambda name: name.endswith(".html"))
    for name in names:
        env.get_template(name)
    return len(names)


def warm_schema_classes(build_validators: bool) -> int:
    """Load every Fedora Messaging schema class; with ``build_validators``, build each of its schemas' validators.

    fedora-messaging loads the ``fedora.messages`` entry points (importing every
    schema package) on the first message it reads or builds, and validates each
    message it receives in the reactor thread. With Hubs' once-checked validation
    (installed when Fedora Messaging is on), the first message of each class also
    checks and caches its schemas. Each schema is validated once here against an
    empty stand-in message: most fail, as expected; what counts is that the
    schema's validator now exists. Returns the number of classes.
    """
    from importlib.metadata import entry_points

    import jsonschema
    from fedora_messaging.message import Message, get_class

    classes = {get_class(entry.name) for entry in entry_points(group="fedora.messages")}
    if build_validators:
        schemas = {id(s): s for cls in (Message, *classes) for s in (cls.headers_schema, cls.body_schema)}
        for schema in schemas.values():
            stand_in = types.SimpleNamespace(_headers={}, headers_schema=schema, body={}, body_schema=schema)
            try:
                Message.validate(stand_in)
            except (jsonschema.ValidationError, jsonschema.SchemaError):
                pass
    return len(classes)


def warm_up(service: Any, amqp: bool, demo_feed: bool) -> None:
    """Pay every one-time cost of a live path now, before the site is up.

    After this, no request, stream or bus message meets a first-use cost in the
    reactor: templates are compiled, Markdown's converter and its extensions are
    loaded; with Fedora Messaging (``amqp``) or the demo feed on, every schema class
    is loaded, and with Fedora Messaging its validators are built.
    """
    started = time.monotonic()
    templates = sum(warm_templates(env) for env in (service.web.env, service.hubs.states.builder.env))
    render_markdown(_WARM_MARKDOWN)
    service.web.front.lister.warm()  # the list of hubs: each hub's words split
    classes = warm_schema_classes(build_validators=amqp) if amqp or demo_feed else 0
    log.info("warmed up in %.2f s: %d templates, %d message classes", time.monotonic() - started, templates,
             classes)
