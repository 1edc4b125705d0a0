"""The settings table: its kinds, the environment mapping, fedmsg.d/hubs.py and the README generated from it."""

from __future__ import annotations

import dataclasses
import os
import re
import runpy
import subprocess
import sys

import pytest

from hubs import settings as s
from hubs.config import RULES, SETTINGS, VARIABLES, ConfigError, HubsConfig, fedmsg_config, main, readme_tables
from tests.hubproc import ROOT

KINDS = [
    # (kind, a fedmsg config value, what it reads as)
    (s.TEXT, 5, "5"),
    (s.INT, "8080", 8080),
    (s.INT, 5.7, 5),
    (s.FLOAT, "2.5", 2.5),
    (s.BOOL, "0", True),  # as bool() has always read it: fedmsg.d is Python, write False
    (s.URL, "https://x.example/a//", "https://x.example/a"),
    (s.OPTIONAL_TEXT, 7, "7"),
    (s.SECRET, 12345, 12345),  # its check says what is wrong
    (s.HOST_PORTS, " a:1 ,[::1]:2", (("a", 1), ("[::1]", 2))),
    (s.HOST_PORTS, ("a:1",), (("a", 1),)),
    (s.strings("names"), ["a", "b"], ("a", "b")),
    (s.BINDINGS, {"routing_keys": ["a.#"]}, ({"exchange": "amq.topic", "routing_keys": ["a.#"]},)),
]


@pytest.mark.parametrize(("kind", "raw", "value"), KINDS)
def test_each_kind_reads_what_fedmsg_configs_hold(kind, raw, value):
    """A kind turns a fedmsg config value into the attribute's value."""
    assert kind.parse(raw) == value


REFUSED = [
    (s.INT, "http", ["expected int, got 'http'"]),
    (s.FLOAT, None, ["expected float, got None"]),
    (s.HOST_PORTS, "a:1,b,c:x", ["'b' is not host:port", "'c:x' is not host:port"]),
    (s.strings("names"), "ab", ["must be a list of names"]),
    (s.strings("names"), 5, ["must be a list of names"]),
    (s.BINDINGS, [{"exchange": "e"}, "x"], ["binding 1 must be {'exchange': str, 'routing_keys': [str, ...]}",
                                           "binding 2 must be {'exchange': str, 'routing_keys': [str, ...]}"]),
]


@pytest.mark.parametrize(("kind", "raw", "problems"), REFUSED)
def test_a_kind_names_every_problem_of_a_value(kind, raw, problems):
    """A value a kind cannot read is refused with one line per problem."""
    with pytest.raises(s.Invalid) as info:
        kind.parse(raw)
    assert list(info.value.problems) == problems


VARIABLES_TO_KEYS = [
    # (environment, key, what fedmsg.d/hubs.py gives it)
    ({}, "hubs.web.port", 5000),
    ({"HUBS_WEB_PORT": "6001"}, "hubs.web.port", 6001),
    ({"HUBS_WEB_PORT": "web"}, "hubs.web.port", "web"),  # left for the check to name
    ({}, "hubs.db.dsn", "host=127.0.0.1 port=54329 user=hubs dbname=hubs"),
    ({"HUBS_DB_DSN": "dbname=x"}, "hubs.db.dsn", "dbname=x"),
    ({"HUBS_ACCESS_LOG": "1"}, "hubs.web.access_log", True),
    ({"HUBS_ACCESS_LOG": "yes"}, "hubs.web.access_log", False),
    ({"HUBS_FEDMSG": "0"}, "hubs.fedmsg.enabled", False),
    ({"HUBS_FEDMSG": ""}, "hubs.fedmsg.enabled", True),
    ({"HUBS_ALLOW_PRIVATE_URLS": "1"}, "hubs.services.allow_private_urls", True),
    ({}, "hubs.demo_feed.interval", 0.0),
    ({"HUBS_DEMO_FEED": "1"}, "hubs.demo_feed.interval", 4.0),
    ({"HUBS_DEMO_FEED": "0"}, "hubs.demo_feed.interval", 0.0),
    ({"HUBS_ADMINS": "ralph,,mizmo"}, "hubs.admins", ["ralph", "mizmo"]),
    ({"HUBS_OIDC_ISSUER": ""}, "hubs.oidc.issuer", None),
    ({"HUBS_ADMIN_TOKEN": ""}, "hubs.admin_token", None),
    ({"HUBS_AMQP_URL": "amqp://h/"}, "hubs.amqp.url", "amqp://h/"),
    ({"HUBS_SERVICES": "http://127.0.0.1:5099"}, "hubs.services.fedocal_url", "http://127.0.0.1:5099"),
    ({}, "hubs.junk_suffixes", ["buildsys.task.state.change", "buildsys.rpm.sign", "buildsys.repo.init",
                                "buildsys.repo.done", "buildsys.tag", "buildsys.untag", "faf.report.threshold1",
                                "github.status"]),
    ({}, "moksha.blocking_mode", True),
    ({}, "moksha.threadpool_size", 8),
]


@pytest.mark.parametrize(("environ", "key", "value"), VARIABLES_TO_KEYS)
def test_variables_set_their_keys(environ, key, value):
    """Each HUBS_* variable sets its keys the way fedmsg.d/hubs.py always has; unset, the shipped value stays."""
    assert fedmsg_config(environ)[key] == value


def test_one_variable_sets_every_outside_service():
    """HUBS_SERVICES points the six outside services at one server (the canned ones, under `make run`)."""
    config = fedmsg_config({"HUBS_SERVICES": "http://s"})
    assert [config[f"hubs.services.{n}_url"] for n in ("badges", "bodhi", "pagure", "fedocal")] == ["http://s"] * 4
    assert [config["hubs.fasjson.url"], config["hubs.distgit.url"]] == ["http://s"] * 2


def test_a_variable_that_is_not_a_number_is_named_when_the_hub_starts(monkeypatch):
    """HUBS_WEB_PORT=web stops the start naming the key (fedmsg.d/hubs.py used to raise a bare ValueError)."""
    monkeypatch.setenv("HUBS_WEB_PORT", "web")
    config = runpy.run_path(str(ROOT / "fedmsg.d" / "hubs.py"))["config"]
    with pytest.raises(ConfigError, match="hubs.web.port: expected int, got 'web'"):
        HubsConfig.from_fedmsg(config)


def test_the_shipped_values_do_not_leak_between_loads():
    """A load's lists are its own: changing one does not change the next load."""
    fedmsg_config({})["hubs.junk_suffixes"].append("mine")
    assert "mine" not in fedmsg_config({})["hubs.junk_suffixes"]


def test_fedmsg_d_hubs_py_is_the_table_and_keeps_the_open_files_limit(monkeypatch):
    """fedmsg.d/hubs.py hands fedmsg the table's dict and still tells fedmsg-hub not to lower the open-files limit."""
    from fedmsg.commands.hub import HubCommand

    monkeypatch.setattr(HubCommand.set_rlimit_nofiles, "__defaults__", (4096,))
    monkeypatch.setenv("HUBS_WEB_PORT", "6002")
    config = runpy.run_path(str(ROOT / "fedmsg.d" / "hubs.py"))["config"]
    assert config == fedmsg_config(os.environ) and config["hubs.web.port"] == 6002
    assert HubCommand.set_rlimit_nofiles.__defaults__ == (65536,)


def test_every_key_and_attribute_is_declared_once():
    """Keys and attributes are unique, and HubsConfig has exactly one field per row that names one (and raw)."""
    keys = [x.key for x in SETTINGS]
    attrs = [x.attr for x in SETTINGS if x.attr is not None]
    assert len(set(keys)) == len(keys) and len(set(attrs)) == len(attrs)
    assert [f.name for f in dataclasses.fields(HubsConfig)] == [*attrs, "raw"]
    for i, row in enumerate(SETTINGS):
        assert row.needs is None or row.needs in keys[:i], f"{row.key} needs a key declared above it"


def test_hubs_config_is_frozen_and_keyword_only():
    """The settings object cannot be changed once built."""
    config = HubsConfig.from_fedmsg({"hubs.db.dsn": "dbname=x", "hubs.memcached.servers": "h:1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.web_port = 1
    assert dataclasses.replace(config, web_port=1).web_port == 1


def test_every_rule_holds_for_the_defaults():
    """With only the required keys set, no rule fires (rules read attributes that exist)."""
    config = HubsConfig.from_fedmsg({"hubs.db.dsn": "dbname=x", "hubs.memcached.servers": "h:1"})
    assert all(rule.holds(config) for rule in RULES)


KEY_READ = re.compile(r"""(?:get\(\s*|\[\s*|config_key\s*=\s*)["']((?:hubs|moksha)\.[a-z0-9_.]+)["']""")


def test_every_key_read_in_the_code_is_in_the_table():
    """A hubs.* or moksha.* key read anywhere in hubs/, populate.py or tools/ is declared in SETTINGS."""
    declared = {x.key for x in SETTINGS}
    files = [*(ROOT / "hubs").rglob("*.py"), ROOT / "populate.py", *(ROOT / "tools").glob("*.py")]
    files = [f for f in files if f.relative_to(ROOT).as_posix() not in ("hubs/config.py", "hubs/settings.py")]
    read = {(key, str(path.relative_to(ROOT))) for path in files for key in KEY_READ.findall(path.read_text())}
    assert read, "the pattern finds the keys the code reads"
    assert sorted((key, path) for key, path in read if key not in declared) == []


SHELL_FILES = ("tools/dev.sh", ".ci/run")
PYTHON_PLACES = ("hubs", "tests", "bench", "tools", "fedmsg.d", "populate.py")


def _variables_in(place: str) -> set[str]:
    path = ROOT / place
    if place in SHELL_FILES:
        return set(re.findall(r"\bHUBS_[A-Z0-9_]+\b", path.read_text()))
    files = [path] if path.is_file() else path.rglob("*.py")
    return {name for f in files for name in re.findall(r"""["'](HUBS_[A-Z0-9_]+)["']""", f.read_text())}


def test_every_hubs_variable_is_in_a_table():
    """Every HUBS_* variable the repository reads is a key's variable or listed in VARIABLES, and vice versa."""
    found = set().union(*(_variables_in(p) for p in (*SHELL_FILES, *PYTHON_PLACES)))
    declared = {x.env for x in SETTINGS if x.env} | {v.name for v in VARIABLES}
    assert sorted(found - declared) == [], "add them to SETTINGS (env=) or VARIABLES in hubs/config.py"
    assert sorted(declared - found) == [], "nothing reads these any more"


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_each_listed_variable_is_read_where_the_table_says(variable):
    """A VARIABLES row names the files or folders that read it; each of them mentions it."""
    for place in variable.read_by:
        assert variable.name in _variables_in(place), place


def test_the_readme_table_is_the_generated_one():
    """The README's Configuration tables are what `python -m hubs.config --markdown` prints."""
    readme = (ROOT / "README.md").read_text()
    assert s.section(readme) == readme_tables(), "run: python -m hubs.config --readme README.md"


def test_the_generator_prints_the_tables_and_rewrites_only_its_section(tmp_path, capsys):
    """--markdown prints the tables; --readme replaces what lies between the markers and nothing else."""
    assert main(["--markdown"]) == 0 and capsys.readouterr().out == readme_tables()
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\n{s.BEGIN}\nold table\n{s.END}\n\nAfter.\n")
    assert main(["--readme", str(path)]) == 0
    assert path.read_text() == f"# Title\n\n{s.BEGIN}\n{readme_tables()}{s.END}\n\nAfter.\n"
    assert main(["--help"]) == 2


def test_markdown_marks_other_libraries_keys_and_escapes_pipes():
    """Keys of fedmsg and moksha say whose they are; switches show the digit that turns them; | is escaped."""
    table = s.markdown([
        s.Setting(None, "moksha.x", s.INT, 1, "a | b", owner="moksha"),
        s.Setting(None, "topic_prefix", s.TEXT, "org", "t", owner="fedmsg"),
        s.Setting("on", "hubs.on", s.BOOL, True, "on", env="TOY_ON"),
        s.Setting("n", "hubs.n", s.INT, 4, "n", floor=2),
    ], [s.Variable("TOY_X", ("tools/dev.sh",), "x")])
    assert "| `moksha.x` (moksha's) | int | `1` |  | a \\| b |" in table
    assert "| `topic_prefix` (fedmsg's, in base.py) | text | `org` |" in table
    assert "| `TOY_ON=0` |" in table and "| n; less counts as 2 |" in table
    assert "| `TOY_X` | `tools/dev.sh` | x |" in table


def test_replacing_the_section_needs_both_markers():
    """Without its markers the README is not rewritten."""
    with pytest.raises(ValueError, match="markers"):
        s.replace_section("no markers here", "table")


def test_loading_the_settings_imports_only_the_standard_library():
    """fedmsg.d/hubs.py runs at every config load: hubs.config pulls in no third-party module."""
    code = ("import sys; before = set(sys.modules); import hubs.config; "
            "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    outside = set(out.split()) - set(sys.stdlib_module_names) - {"hubs"}
    assert outside == set()
