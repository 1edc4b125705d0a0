"""Shims over fedora-messaging: the few places Hubs leans on the library's internals.

Each is pinned by a test in tests/test_amqp_shims.py that fails loudly when
the installed library changes under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubs.bus.amqp.settings import AmqpSettings

_VALIDATORS: dict[int, tuple[Any, Any]] = {}  # id(schema) -> (schema, its checked validator)


def _checked_validator(schema: Mapping[str, Any]) -> Any:
    """The validator of a schema, its schema checked once (``jsonschema.validate`` checks it every call)."""
    import jsonschema

    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    if len(_VALIDATORS) < 4096:  # schemas are class attributes: a few hundred at most
        _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _validate_with_checked_schemas(self) -> None:
    """``Message.validate`` as fedora-messaging 3.9 writes it, with each schema checked once, not per call.

    Same checks, same order, same errors (the best match of the first failing
    schema, as ``jsonschema.validate`` raises); about 20 times cheaper, since
    ``jsonschema.validate`` re-validates the schema itself against its
    meta-schema on every message (~2–5 ms of the ~5 ms a message costs).
    """
    import jsonschema
    from fedora_messaging.message import Message

    for instance, schemas in ((self._headers, (self.headers_schema, Message.headers_schema)),
                              (self.body, (self.body_schema, Message.body_schema))):
        for schema in schemas:
            error = jsonschema.exceptions.best_match(_checked_validator(schema).iter_errors(instance))
            if error is not None:
                raise error


def install_checked_schema_validation() -> None:
    """Make every fedora-messaging message validate with once-checked schemas (process-wide, idempotent)."""
    from fedora_messaging.message import Message

    if Message.validate is not _validate_with_checked_schemas:
        Message.validate = _validate_with_checked_schemas


def apply_library_config(settings: AmqpSettings) -> None:
    """Write what fedora-messaging reads from its process-wide config object: TLS files, prefetch, our name;
    and validate messages with once-checked schemas (``install_checked_schema_validation``).

    The library reads TLS (``conf["tls"]``) when a service is built and the
    prefetch (``conf["qos"]``) when a consumer starts, only from
    ``fedora_messaging.config.conf`` (loaded from ``FEDORA_MESSAGING_CONF`` or
    /etc/fedora-messaging/config.toml when present). Hubs' keys win over that
    file; a key Hubs leaves unset keeps the file's value. One process, one
    broker configuration.
    """
    from fedora_messaging import config

    tls = dict(config.conf["tls"])
    for key, value in (("ca_cert", settings.ca_cert), ("certfile", settings.certfile),
                       ("keyfile", settings.keyfile)):
        if value:
            tls[key] = value
    qos = dict(config.conf["qos"], prefetch_count=settings.prefetch)
    client = dict(config.conf["client_properties"], app=settings.client_name)
    config.conf.update({"tls": tls, "qos": qos, "client_properties": client})
    install_checked_schema_validation()


class _ValidationCounter(logging.Filter):
    """Counts the messages fedora-messaging nacks itself because their body fails their schema.

    The library logs "Message id %s did not pass validation; ignoring message" and
    never calls our callback for them; this filter is how they get counted. It
    never hides a record.
    """

    def __init__(self, on_invalid: Callable[[], None]):
        super().__init__()
        self.on_invalid = on_invalid

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "did not pass validation" in record.msg:
            self.on_invalid()
        return True


CONSUMER_LOGGER = "fedora_messaging.twisted.consumer"
