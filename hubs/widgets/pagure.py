"""Issues: the open tickets of a team's Pagure project, live from its bus messages."""

from urllib.parse import quote

from hubs.widgets.base import Argument, Hints, integer, project_name

title = "Open issues"
template = "pagure.html"
chrome = True

ARGUMENTS = [
    Argument("project", default="design", validator=project_name, kind="text",
             help="The Pagure project, e.g. 'design' or 'fedora-infra/ansible'."),
    Argument("count", default=6, validator=integer(1, 30), kind="integer", help="How many issues to show."),
]

HINTS = Hints(categories=frozenset({"pagure"}))


def _epoch(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def service(config, arguments):
    """Where ``data()`` fetches from: its builds take turns in this service's lane (``hubs.build.queue``)."""
    return config.pagure_url


async def data(ctx, widget, project, count):
    base = ctx.config.pagure_url
    path = "/".join(quote(part) for part in project.split("/"))
    answer = await ctx.http.get_json(f"{base}/api/0/{path}/issues", {"status": "Open", "per_page": str(count)})
    issues = answer.get("issues", []) if isinstance(answer, dict) else []
    items = []
    for issue in issues[:count]:
        if not isinstance(issue, dict) or not isinstance(issue.get("id"), int):
            continue
        user = issue.get("user") if isinstance(issue.get("user"), dict) else {}
        tags = [t for t in issue.get("tags") or [] if isinstance(t, str)][:4]
        items.append({"id": issue["id"], "title": str(issue.get("title") or ""), "author": str(user.get("name") or ""),
                      "created": _epoch(issue.get("date_created")), "tags": tags,
                      "url": f"{base}/{path}/issue/{issue['id']}"})
    total = answer.get("total_issues", len(items)) if isinstance(answer, dict) else len(items)
    return {"project": project, "issues": items, "total": total if isinstance(total, int) else len(items),
            "url": f"{base}/{path}/issues"}


def should_invalidate(message, ctx, widget):
    msg = message.body
    project = msg.get("project") if isinstance(msg.get("project"), dict) else {}
    name = project.get("fullname") or project.get("name")
    return ".issue." in message.topic and name == widget.config.get("project", "design")
