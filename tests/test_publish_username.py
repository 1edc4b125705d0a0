"""fedmsg's per-message user name is looked up once (hubs/bus/publish.py pin_username), not per publish."""

from __future__ import annotations

import getpass

import pytest

from hubs.bus.publish import pin_username


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, {"LOGNAME": "looked-up"}),
    ({"LOGNAME": ""}, {"LOGNAME": "looked-up"}),  # empty counts as unset, for getpass too
    ({"USER": "hubs"}, {"USER": "hubs"}),
    ({"LOGNAME": "svc", "USER": "other"}, {"LOGNAME": "svc", "USER": "other"}),
    ({"USERNAME": "win"}, {"USERNAME": "win"}),
    ({"PATH": "/bin"}, {"PATH": "/bin", "LOGNAME": "looked-up"}),
])
def test_the_name_is_set_once_only_when_no_variable_names_it(environ, expected, monkeypatch):
    monkeypatch.setattr(getpass, "getuser", lambda: "looked-up")
    pin_username(environ)
    assert environ == expected


def test_getuser_then_answers_without_the_password_database(monkeypatch):
    """The same name fedmsg would have put in its messages, now read from the environment."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    looked_up = getpass.getuser()
    environ = {}
    pin_username(environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("pwd.getpwuid", lambda uid: pytest.fail("the password database was read"))
    assert getpass.getuser() == looked_up
