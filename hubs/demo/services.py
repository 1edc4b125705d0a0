"""Canned Fedora services: Badges, Bodhi, Pagure, FASJSON, dist-git, an iCalendar feed and datagrepper, shaped like
the real APIs.

The tests start it in-process; ``make run`` starts it as a process
(``python -m hubs.demo.services --port 5099``) when ``HUBS_SERVICES`` is
unset, so that an offline install still shows lively widgets. Answers are
generated from the username / project, deterministically; who is in which group
and who maintains what come from ``hubs.demo.accounts``.

datagrepper's ``/v2/search`` serves three months of the demo people's history
(``hubs/demo/history.py``), or the records it was given (tests).

Under ``/broken/`` every route answers 500; under ``/slow/`` nothing answers
for a minute; under ``/odd/`` every route answers JSON of the wrong shape: they
exist to test error frames and back-off.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import random
from urllib.parse import urlencode

from klein import Klein
from twisted.internet import defer

from hubs.demo import accounts

BADGES = [
    ("Curious Penguin (Ask Fedora I)", "Asked a question on Ask Fedora"),
    ("Bodhi Crazy Tester I", "Commented on an update in Bodhi"),
    ("Junior Packager Tester I", "Tested an update"),
    ("Speak Up!", "Took part in an IRC meeting"),
    ("Let Me Introduce Myself", "Introduced yourself to a team"),
    ("The Panda is In", "Logged into the Fedora Account System"),
    ("Like a Rock", "Had an account for a year"),
    ("Mugshot", "Set up an avatar on Libravatar"),
    ("Origin", "Checked in a commit to dist-git"),
    ("Crypto Panda", "Uploaded a GPG key"),
    ("Paranoid Panda", "Added two-factor authentication"),
    ("Involvement", "Joined a FAS group"),
]
TITLES = ["Add dark variant of the wallpaper", "Logo usage guidelines for spins", "Badge artwork: Flock 2026",
          "Redesign the Get Fedora page", "Icons for the new installer", "Poster for the release party",
          "Update the brand colour palette", "Banner for Fedora Magazine", "Sticker sheet for events"]
PACKAGES = ["python-twisted", "fedmsg", "python-klein", "txpostgres", "python-pymemcache", "moksha"]


def _rng(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:12], 16))


class CannedServices:
    app = Klein()

    def __init__(self, now=None, history=None):
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC).timestamp())
        self.history = history  # HistoryRecords sorted by time; None: the demo's history
        self.history_times = None if history is None else [r.ts for r in history]

    def _json(self, request, value):
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(value).encode()

    @app.route("/broken/", branch=True)
    def broken(self, request):
        request.setResponseCode(500)
        return b"Internal Server Error"

    @app.route("/slow/", branch=True)
    def slow(self, request):
        from twisted.internet import reactor

        d = defer.Deferred()
        call = reactor.callLater(60, d.callback, b"too late")
        d.addErrback(lambda f: call.cancel() if call.active() else None)
        return d

    @app.route("/odd/", branch=True)
    def odd(self, request):
        return self._json(request, {"raw_messages": "not a list", "total": -1})

    @app.route("/v2/search")
    def datagrepper_search(self, request):
        from hubs.demo.history import history_answer
        from hubs.services.datagrepper import BadSearch, search_records

        args = {k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs]
                for k, vs in request.args.items()}
        try:
            if self.history is not None:
                answer = search_records(self.history, args, self.now(), self.history_times)
            else:
                answer = history_answer(args, self.now())
        except BadSearch as e:
            request.setResponseCode(400)
            return self._json(request, {"error": str(e)})
        return self._json(request, answer)

    @app.route("/user/<nick>/json")
    def badges(self, request, nick):
        rng = _rng("badges", nick)
        earned = rng.sample(BADGES, rng.randint(3, len(BADGES)))
        now = self.now()
        assertions = [{
            "id": name.lower().replace(" ", "-").replace("(", "").replace(")", ""),
            "name": name, "description": description,
            "image": f"https://badges.fedoraproject.org/pngs/{name.split()[0].lower()}.png",
            "issued": now - rng.randint(1, 400) * 86400,
        } for name, description in earned]
        return self._json(request, {"user": nick, "percent_earned": round(100 * len(earned) / 420, 2),
                                    "assertions": assertions})

    @app.route("/updates/")
    def updates(self, request):
        user = request.args.get(b"user", [b""])[0].decode()
        rng = _rng("bodhi", user)
        updates = []
        for n, package in enumerate(rng.sample(PACKAGES, 4)):
            karma, stable = rng.randint(0, 4), 3
            updates.append({
                "alias": f"FEDORA-2026-{hashlib.sha1(f'{user}{n}'.encode()).hexdigest()[:10]}",
                "title": f"{package}-{rng.randint(1, 9)}.{rng.randint(0, 20)}-1.fc43",
                "karma": karma, "stable_karma": stable, "meets_testing_requirements": karma >= stable,
                "status": "testing", "user": {"name": user}, "release": {"name": "F43"},
            })
        return self._json(request, {"updates": updates, "total": len(updates), "page": 1, "pages": 1,
                                    "rows_per_page": 50})

    @app.route("/api/0/<path:project>/issues")
    def issues(self, request, project):
        rng = _rng("pagure", project)
        now = self.now()
        issues = [{
            "id": 600 - n * 7, "title": title, "status": "Open",
            "user": {"name": rng.choice(["mizmo", "duffy", "ryanlerch", "jflory7"])},
            "date_created": str(int(now - rng.randint(1, 90) * 86400)),
            "tags": rng.sample(["newbie", "artwork", "badges", "web", "triaged"], rng.randint(0, 2)),
        } for n, title in enumerate(rng.sample(TITLES, 7))]
        return self._json(request, {"issues": issues, "total_issues": 23, "args": {"status": "Open"}})

    # ------------------------------------------------------------ FASJSON (accounts)

    def _fasjson_page(self, request, items: list[dict]):
        """FASJSON's paging: ``page_size`` (default 40) and ``page`` in, ``result`` and ``page`` out."""
        size = max(1, min(_int_arg(request, b"page_size", 40), 100))
        number = max(1, _int_arg(request, b"page", 1))
        pages = max(1, -(-len(items) // size))
        return self._json(request, {"result": items[(number - 1) * size:number * size], "page": {
            "total_results": len(items), "page_size": size, "page_number": number, "total_pages": pages}})

    @app.route("/v1/users/<username>/groups/")
    def fas_user_groups(self, request, username):
        return self._fasjson_page(request, [{"groupname": g} for g in accounts.groups_of(username)])

    @app.route("/v1/groups/<group>/members/")
    def fas_group_members(self, request, group):
        members = accounts.members_of(group)
        if members is None:
            request.setResponseCode(404)
            return self._json(request, {"message": f"Group {group} does not exist"})
        return self._fasjson_page(request, [{"username": u} for u in members])

    # ------------------------------------------------------------ Pagure dist-git (src)

    @app.route("/api/0/projects")
    def distgit_projects(self, request):
        username = request.args.get(b"username", [b""])[0].decode("utf-8", "replace")
        namespace = request.args.get(b"namespace", [b""])[0].decode("utf-8", "replace")
        names = accounts.packages_of_user(username) if username else list(accounts.ALL_PACKAGES)
        if namespace not in ("", "rpms"):
            names = []
        per_page = max(1, min(_int_arg(request, b"per_page", 20), 100))
        page = max(1, _int_arg(request, b"page", 1))
        pages = max(1, -(-len(names) // per_page))
        host = request.getHost()
        base = f"http://{host.host}:{host.port}/api/0/projects"
        args = {"namespace": namespace, "username": username, "short": "true", "per_page": per_page}
        next_url = f"{base}?{urlencode({**args, 'page': page + 1})}" if page < pages else None
        return self._json(request, {
            "args": {**args, "page": page},
            "projects": [_project(n) for n in names[(page - 1) * per_page:page * per_page]],
            "pagination": {"page": page, "pages": pages, "per_page": per_page, "next": next_url,
                           "prev": None if page == 1 else f"{base}?{urlencode({**args, 'page': page - 1})}"},
            "total_projects": len(names)})

    @app.route("/api/0/group/<group>")
    def distgit_group(self, request, group):
        if group not in accounts.GROUP_PACKAGES:
            request.setResponseCode(404)
            return self._json(request, {"error": "Group not found", "error_code": "ENOGROUP"})
        answer = {"name": group, "display_name": group, "description": f"The {group} on dist-git",
                  "group_type": "user", "creator": {"name": "nirik"}, "members": accounts.members_of(group)}
        if request.args.get(b"projects", [b""])[0] in (b"1", b"true"):
            answer["projects"] = [_project(n, full=True) for n in accounts.GROUP_PACKAGES[group]]
        return self._json(request, answer)

    @app.route("/ical/<name>/")
    def calendar(self, request, name):
        request.setHeader(b"content-type", b"text/calendar; charset=utf-8")
        today = datetime.datetime.fromtimestamp(self.now(), datetime.UTC).replace(hour=0, minute=0, second=0,
                                                                                  microsecond=0)
        first = today + datetime.timedelta(days=(1 - today.weekday()) % 7, hours=14)
        stamp = today.strftime("%Y%m%dT%H%M%SZ")
        return "\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Hubs//canned fedocal//EN",
            "BEGIN:VEVENT", f"UID:{name}-weekly@hubs", f"DTSTAMP:{stamp}",
            f"DTSTART:{first.strftime('%Y%m%dT%H%M%SZ')}",
            f"DTEND:{(first + datetime.timedelta(hours=1)).strftime('%Y%m%dT%H%M%SZ')}",
            "RRULE:FREQ=WEEKLY;INTERVAL=2", f"SUMMARY:{name} team meeting", "LOCATION:#fedora-meeting on Matrix",
            "END:VEVENT",
            "BEGIN:VEVENT", f"UID:{name}-hackfest@hubs", f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{(today + datetime.timedelta(days=17)).strftime('%Y%m%d')}",
            f"SUMMARY:{name} hackfest", "END:VEVENT",
            "END:VCALENDAR", ""]).encode()


def _int_arg(request, name: bytes, default: int) -> int:
    try:
        return int(request.args.get(name, [b""])[0])
    except ValueError:
        return default


def _project(name: str, full: bool = False) -> dict:
    """A dist-git project as Pagure lists it (``short=true``: three fields; else a few more)."""
    project = {"name": name, "namespace": "rpms", "fullname": f"rpms/{name}", "description": f"The {name} rpms"}
    if full:
        project.update({"url_path": f"rpms/{name}", "access_groups": {"commit": [], "admin": [], "ticket": []},
                        "user": {"name": "orphan"}})
    return project


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Serve canned Fedora service answers for Hubs.")
    parser.add_argument("--port", type=int, default=5099)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    from twisted.internet import reactor
    from twisted.web.server import Site

    site = Site(CannedServices().app.resource())
    site.log = lambda request: None
    reactor.listenTCP(args.port, site, interface=args.host)
    print(f"canned services on http://{args.host}:{args.port}/", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
