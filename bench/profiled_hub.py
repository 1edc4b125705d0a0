"""fedmsg-hub with a cProfile window opened and closed by signals (for bench/profile_hub.py).

    python bench/profiled_hub.py OUT.prof PATH/fedmsg-hub      (HubProcess's prefix: the command follows)

SIGUSR1 starts the profiler, SIGUSR2 stops it and writes OUT.prof, so start-up and
warm-up stay out of the figures. Python runs signal handlers in the main thread,
which is the reactor's: the profile is of the reactor thread.
"""

import cProfile
import signal
import sys

out = sys.argv.pop(1)
sys.argv.pop(1)  # the fedmsg-hub command this stands in for
profiler = cProfile.Profile()


def start(signum, frame):
    profiler.enable()


def stop(signum, frame):
    profiler.disable()
    profiler.dump_stats(out)


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)

from fedmsg.commands.hub import hub  # noqa: E402

sys.argv[0] = "fedmsg-hub"
sys.exit(hub())
