"""Loaded by a test hub's Python (this directory first on its PYTHONPATH): records one-time costs in the reactor.

Once the hub binds its web port (``HUBS_AUDIT_WEB_PORT``), every module import and
every ``compile()`` (jinja2 compiles templates with it) in the main thread, the
reactor's, is appended to ``HUBS_AUDIT_LOG`` as ``event<TAB>name``. Nothing is
recorded before the site is up, nor in other threads (moksha's, Twisted's pool).
Through ``sys.addaudithook`` (PEP 578): the ``import`` event fires only when a
module is really loaded, not for an ``import`` of one already in ``sys.modules``.
"""

import os
import sys
import threading

_LOG = os.environ.get("HUBS_AUDIT_LOG")
_PORT = int(os.environ.get("HUBS_AUDIT_WEB_PORT", "0") or 0)

if _LOG and _PORT:
    _main = threading.main_thread()
    _state = {"up": False, "out": None}

    def _audit(event: str, args: tuple) -> None:
        if not _state["up"]:
            if event == "socket.bind" and isinstance(args[1], tuple) and len(args[1]) >= 2 and args[1][1] == _PORT:
                _state["up"] = True
                _state["out"] = open(_LOG, "a", buffering=1)  # noqa: SIM115 (open for the process's life)
            return
        if event in ("import", "compile") and threading.current_thread() is _main:
            name = args[0] if event == "import" else args[1]
            _state["out"].write(f"{event}\t{name}\n")

    sys.addaudithook(_audit)
