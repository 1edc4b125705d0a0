"""The fleet's configuration: the bus endpoint list, the HAProxy template, namespace clean-up."""

from __future__ import annotations

import re
import resource
import runpy
import subprocess
import sys

import pytest

from tests.conftest import need_service
from tests.fleet import HAPROXY, Namespaces
from tests.hubproc import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from haproxy_cfg import default_maxconn, render  # noqa: E402


@pytest.mark.parametrize(("env", "expected"), [
    ({}, [f"tcp://127.0.0.1:{port}" for port in range(3011, 3019)]),
    ({"HUBS_BUS_SLOTS": "3"}, ["tcp://127.0.0.1:3011", "tcp://127.0.0.1:3012", "tcp://127.0.0.1:3013"]),
    ({"HUBS_BUS_ENDPOINTS": "tcp://10.0.0.11:3011,tcp://10.0.0.12:3011"},
     ["tcp://10.0.0.11:3011", "tcp://10.0.0.12:3011"]),
])
def test_hub_endpoint_list(monkeypatch, env, expected):
    """fedmsg.d/base.py gives hubs.hub a list of endpoints: 8 local slots, N slots, or the named ones."""
    for name in ("HUBS_BUS_SLOTS", "HUBS_BUS_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(ROOT / "fedmsg.d" / "base.py"))["config"]
    assert config["endpoints"]["hubs.hub"] == expected


@pytest.mark.parametrize(("hard", "expected"), [
    (1024, 412), (20000, 9900), (200_000, 50_000), (300, 100), (resource.RLIM_INFINITY, 50_000)])
def test_default_maxconn_follows_the_open_files_limit(hard, expected):
    """HAProxy's maxconn is what the open-files limit allows at two sockets a stream, within 100..50,000."""
    assert default_maxconn(hard) == expected


def _timeouts(config: str) -> dict[str, float]:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return {name: float(number) * units[unit]
            for name, number, unit in re.findall(r"^\s*timeout (\S+) (\d+)(ms|s|m|h)$", config, re.M)}


def test_rendered_config_suits_long_lived_streams():
    """Every server is checked on /healthz, balanced by open connections, and idle streams outlive the keep-alive."""
    config = render("127.0.0.1:5000", ["127.0.0.1:5001", "10.0.0.12:5001"], maxconn=1000)
    assert "    server hub1 127.0.0.1:5001 check\n    server hub2 10.0.0.12:5001 check" in config
    assert "option httpchk GET /healthz" in config and "balance leastconn" in config
    assert "on-marked-down shutdown-sessions" in config and "option redispatch" in config
    assert not re.search(r"^\s*(option http-buffer-request|compression)", config, re.M), "nothing buffers events"
    timeouts = _timeouts(config)
    keepalive = 15.0  # hubs.sse.keepalive, at most 15 s
    for name in ("client", "server", "tunnel"):
        assert timeouts[name] >= 3 * keepalive, name


def test_a_check_waits_longer_than_a_late_reactor_that_hubs_calls_degraded():
    """HAProxy's check timeout tolerates the reactor lateness Hubs reports as degraded, not what it calls failing."""
    from hubs.health import LAG_WARN, MAX_LAG

    timeouts = _timeouts(render("127.0.0.1:5000", ["127.0.0.1:5001"], maxconn=1000))
    assert LAG_WARN < timeouts["check"] <= MAX_LAG


@pytest.mark.integration
def test_rendered_config_is_valid_for_haproxy(tmp_path):
    """Debian's HAProxy accepts the rendered configuration (haproxy -c)."""
    if HAPROXY is None:
        need_service("HAProxy", "apt-get install haproxy (tools/dev.sh test does it)")
    path = tmp_path / "haproxy.cfg"
    path.write_text(render("127.0.0.1:5000", ["127.0.0.1:5001", "127.0.0.1:5002"], maxconn=1000,
                           stats_socket=str(tmp_path / "s.sock")))
    result = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_namespaces_are_deleted_when_setting_up_fails_half_way(monkeypatch):
    """If creating the namespaces fails part of the way, every namespace already made is deleted."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None:
        need_service("network namespaces", "need root and iproute2")
    calls = []
    real_ip = Namespaces.ip

    def failing_ip(*args, netns=None):
        calls.append(args)
        if len(calls) == 6:  # after the LAN and two host namespaces exist
            raise RuntimeError("induced failure")
        real_ip(*args, netns=netns)

    ns = Namespaces(3)
    monkeypatch.setattr(Namespaces, "ip", staticmethod(failing_ip))
    with pytest.raises(RuntimeError, match="induced"):
        with ns:
            pass
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns.tag not in listed and len(calls) == 6
