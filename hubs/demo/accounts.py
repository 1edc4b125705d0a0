"""Who is in which group and who maintains what, for the demo people: the canned FASJSON and dist-git answers.

Deterministic tables over ``hubs.demo.data.USERS``: each demo person is in 2–5
groups and can commit to 5–30 packages, directly or through a dist-git group,
named like the packages the demo feed and the tests' messages mention (inkscape,
gimp, fedmsg, bodhi, python-pymemcache …), so that the demo people's streams are
full. Anyone else gets a small deterministic set (``groups_of``/``direct_packages_of``),
like the other canned answers.
"""

from __future__ import annotations

import hashlib
import random

# dist-git (Pagure) groups with commit access, by group. These are FAS groups too.
GROUP_PACKAGES: dict[str, tuple[str, ...]] = {
    "python-packagers-sig": ("python-twisted", "python-klein", "python-pymemcache", "python-fedora-messaging",
                             "python-jinja2", "python-markdown", "python-bleach", "python-psycopg2", "python-treq",
                             "python-requests"),
    "infra-sig": ("fedmsg", "moksha", "ansible", "bodhi", "txpostgres", "python-fedora-messaging", "koji", "pagure",
                  "datagrepper", "fedmsg-meta-fedora-infrastructure", "fasjson-client", "noggin"),
    "design-sig": ("inkscape", "gimp", "blender", "krita", "scribus", "mypaint", "darktable", "fontforge",
                   "fedora-logos"),
    "fonts-sig": ("google-noto-fonts", "dejavu-fonts", "liberation-fonts", "abattis-cantarell-fonts", "fontforge"),
}

# FAS groups that own nothing on dist-git.
PLAIN_GROUPS = ("packager", "designteam", "sysadmin-main", "sysadmin-web", "commops", "marketing", "mindshare",
                "ambassadors")

# Demo person → (groups, packages maintained directly).
PEOPLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ralph": (("packager", "infra-sig", "python-packagers-sig", "sysadmin-main"),
              ("fedmsg", "moksha", "datanommer", "python-klein", "txpostgres", "fedora-hubs")),
    "mizmo": (("designteam", "design-sig", "fonts-sig", "packager"), ("fedora-logos", "fedora-backgrounds",
                                                                       "inkscape")),
    "duffy": (("designteam", "design-sig", "packager"), ("fedora-backgrounds", "gimp-help")),
    "ryanlerch": (("designteam", "fonts-sig", "packager", "commops"), ("inkscape", "fedora-hubs", "python-markdown")),
    "decause": (("commops", "marketing", "mindshare", "ambassadors"),
                ("fedora-hubs", "python-bleach", "blender", "gimp", "python-requests")),
    "lmacken": (("packager", "infra-sig", "python-packagers-sig"), ("bodhi", "fedmsg", "python-twisted")),
    "abompard": (("packager", "infra-sig", "python-packagers-sig", "sysadmin-web"),
                 ("noggin", "fasjson-client", "mailman3")),
    "threebean": (("packager", "python-packagers-sig", "sysadmin-main"),
                  ("python-pymemcache", "python-klein", "moksha", "fedmsg", "datanommer")),
    "jflory7": (("commops", "marketing", "ambassadors", "designteam"),
                ("fedora-hubs", "ansible", "python-fedora-messaging", "gimp", "inkscape")),
    "sayanchowdhury": (("packager", "infra-sig", "sysadmin-web"), ("fedimg", "python-twisted", "koji")),
    "nirik": (("packager", "sysadmin-main", "infra-sig", "fonts-sig"),
              ("ansible", "xfce4-panel", "thunar", "xfce4-session", "blender")),
    "puiterwijk": (("packager", "sysadmin-main", "infra-sig", "python-packagers-sig"),
                   ("ipsilon", "python-psycopg2", "txpostgres")),
}

ALL_GROUPS = tuple(sorted({*GROUP_PACKAGES, *PLAIN_GROUPS}))
ALL_PACKAGES = tuple(sorted({p for ps in GROUP_PACKAGES.values() for p in ps}
                            | {p for _, direct in PEOPLE.values() for p in direct}))


def _rng(username: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"accounts/{username}".encode()).hexdigest()[:12], 16))


def groups_of(username: str) -> list[str]:
    """The FAS groups of ``username`` (sorted): the table's for a demo person, else two made from the name."""
    if username in PEOPLE:
        return sorted(PEOPLE[username][0])
    return sorted({"packager", _rng(username).choice(sorted(GROUP_PACKAGES))})


def direct_packages_of(username: str) -> list[str]:
    """Packages ``username`` maintains directly (sorted)."""
    if username in PEOPLE:
        return sorted(PEOPLE[username][1])
    rng = _rng(username)
    rng.random()  # the draw groups_of used
    return sorted(rng.sample(ALL_PACKAGES, rng.randint(2, 6)))


def packages_of_user(username: str) -> list[str]:
    """What Pagure's ``username`` filter answers: direct packages and those of the person's groups (sorted)."""
    via_groups = {p for g in groups_of(username) for p in GROUP_PACKAGES.get(g, ())}
    return sorted(set(direct_packages_of(username)) | via_groups)


def members_of(group: str) -> list[str] | None:
    """The demo people in ``group`` (sorted); None for a group FAS does not know."""
    if group not in ALL_GROUPS:
        return None
    return sorted(u for u in PEOPLE if group in PEOPLE[u][0])
