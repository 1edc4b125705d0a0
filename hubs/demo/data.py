"""Demo data: a few team hubs and personal hubs, like the 2015 prototype's."""

from __future__ import annotations

from typing import Any

USERS = {
    "ralph": "Ralph Bean",
    "mizmo": "Máirín Duffy",
    "duffy": "Ryan Lerch (duffy)",
    "ryanlerch": "Ryan Lerch",
    "decause": "Remy DeCausemaker",
    "lmacken": "Luke Macken",
    "abompard": "Aurélien Bompard",
    "threebean": "Ralph's other account",
    "jflory7": "Justin W. Flory",
    "sayanchowdhury": "Sayan Chowdhury",
    "nirik": "Kevin Fenzi",
    "puiterwijk": "Patrick Uiterwijk",
}

DESIGN_ABOUT = (
    "The Fedora **Design Team** makes the artwork, logos, badges and page designs for the Fedora Project.\n\n"
    "New here? Read the [join page](https://docs.fedoraproject.org/en-US/design/) and say hello on the "
    "mailing list. We tag newcomer-friendly tickets with `newbie`."
)

# A developer's widget: a hubs.dummy.poke message redraws it. The tests' data has it on the Design Team's hub;
# the demo people see does not (populate.py --developer-widgets adds it).
DUMMY = ("left", "dummy", {"text": "A test widget: a hubs.dummy.poke message on the bus redraws it.",
                           "color": "purple", "topic": "hubs.dummy.poke"})


def teams(fedocal_url: str, developer: bool = True) -> list[dict[str, Any]]:
    """The demo team hubs (their calendars live under ``fedocal_url``); ``developer``: with the dummy widget."""
    def calendar(name):
        return {"calendar": f"{fedocal_url.rstrip('/')}/ical/{name}/"}

    return [
    {
        "name": "designteam",
        "summary": "Artwork, branding, badges and UX for the Fedora Project",
        "left_width": 8,
        "owners": ["mizmo", "duffy"],
        "members": ["ryanlerch", "decause", "jflory7"],
        "subscribers": ["ralph", "lmacken", "abompard", "sayanchowdhury"],
        "stargazers": ["ralph", "nirik"],
        "widgets": [
            ("left", "about", {"text": DESIGN_ABOUT}),
            ("left", "sticky", {"text": "**F42 wallpaper** submissions close on *Friday*. "
                                        "Vote for your favourites in the nuancier app."}),
            *([DUMMY] if developer else []),
            ("left", "feed", {}),
            ("left", "pagure", {"project": "design"}),
            ("right", "stats", {}),
            ("right", "rules", {
                "links": [
                    {"title": "Mailing list", "url": "https://lists.fedoraproject.org/archives/list/design-team@lists.fedoraproject.org/"},
                    {"title": "Ticket tracker", "url": "https://pagure.io/design"},
                    {"title": "Team docs", "url": "https://docs.fedoraproject.org/en-US/design/"},
                ],
                "schedule": "Every other Tuesday, 14:00 UTC in #fedora-design on Matrix",
            }),
            ("right", "meetings", calendar("designteam")),
            ("right", "cobwebs", {}),
        ],
    },
    {
        "name": "infrastructure",
        "summary": "The people who keep Fedora's servers, services and the message bus running",
        "left_width": 8,
        "owners": ["nirik", "ralph"],
        "members": ["puiterwijk", "abompard", "threebean", "sayanchowdhury"],
        "subscribers": ["mizmo", "lmacken"],
        "stargazers": ["decause"],
        "widgets": [
            ("left", "about", {"text": "Fedora Infrastructure runs the services the project depends on: "
                                       "builds, accounts, mirrors, the **fedmsg** bus and this very page."}),
            ("left", "sticky", {"text": "Freeze in effect until the release: changes to frozen hosts need "
                                        "**two +1s** on the freeze-break request."}),
            ("left", "feed", {}),
            ("left", "pagure", {"project": "fedora-infrastructure"}),
            ("right", "stats", {}),
            ("right", "rules", {
                "links": [
                    {"title": "Infrastructure tickets", "url": "https://pagure.io/fedora-infrastructure"},
                    {"title": "SOPs", "url": "https://docs.fedoraproject.org/en-US/infra/"},
                ],
                "schedule": "Thursdays 16:30 UTC in #fedora-meeting-1",
            }),
            ("right", "meetings", calendar("infrastructure")),
            ("right", "cobwebs", {}),
        ],
    },
    {
        "name": "marketing",
        "summary": "Telling the world about Fedora (now part of Mindshare)",
        "left_width": 8,
        "archived": True,
        "owners": ["jflory7"],
        "members": ["decause"],
        "subscribers": ["mizmo"],
        "stargazers": [],
        "widgets": [
            ("left", "about", {"text": "The Marketing team has merged into the Mindshare committee."}),
            ("left", "feed", {}),
            ("right", "stats", {}),
            ("right", "cobwebs", {}),
        ],
    },
    ]

PEOPLE = {
    "ralph": "Infrastructure, fedmsg and too many bots",
    "mizmo": "Design team lead; Hubs was her idea",
    "decause": "Community action and impact",
    "lmacken": "Bodhi and other updates plumbing",
}


def personal_widgets(username: str) -> list[tuple[str, str, dict]]:
    """The demo personal hubs use the default set of a new personal hub."""
    from hubs.directory.defaults import person_widgets

    return person_widgets(username)
