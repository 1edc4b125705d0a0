"""FASJSON and dist-git adapters: one suite, run against the fakes and against the real clients over HTTP.

The real clients talk to the canned services (``hubs.demo.services``, in-process, real
HTTP through Hubs' bounded client) with small pages, so paging is exercised; the fakes
are filled from the same tables (``hubs.demo.accounts``), so neither can drift.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from hubs.demo import accounts
from hubs.services.distgit import DistGitClient, FakeDistGit, has_next, rpm_names
from hubs.services.fasjson import FakeFasJson, FasJsonClient, page_names, total_pages
from hubs.services.http import ServiceError, TreqClient

PEOPLE = [*accounts.PEOPLE, "newcomer"]


def fake_fasjson() -> FakeFasJson:
    return FakeFasJson({u: accounts.groups_of(u) for u in PEOPLE})


def fake_distgit() -> FakeDistGit:
    return FakeDistGit(direct={u: accounts.direct_packages_of(u) for u in PEOPLE},
                       groups=accounts.GROUP_PACKAGES, members={u: accounts.groups_of(u) for u in PEOPLE})


@pytest.fixture(params=["fake", "http"])
def services(request):
    """(fasjson, distgit, break_them): the fakes, or the real clients against the canned services."""
    if request.param == "fake":
        fas, git = fake_fasjson(), fake_distgit()

        def break_them():
            fas.failing = git.failing = True
        return fas, git, break_them
    base = request.getfixturevalue("canned_services")
    http = TreqClient(reactor, 2.0)
    fas, git = FasJsonClient(http, base, page_size=2), DistGitClient(http, base, per_page=3)

    def break_them():
        fas.base = git.base = base + "/broken"  # every route there answers 500
    return fas, git, break_them


@pytest.mark.parametrize("person", ["ralph", "mizmo", "decause", "newcomer"])
@pytest_twisted.ensureDeferred
async def test_groups_of_a_person(services, person):
    """A person's groups, every page of them."""
    fas, _, _ = services
    assert await fas.groups_of(person) == accounts.groups_of(person)


@pytest_twisted.ensureDeferred
async def test_members_of_a_group(services):
    """A group's members, every page of them; an unknown group has none (FASJSON's 404)."""
    fas, _, _ = services
    assert await fas.members_of("infra-sig") == ["abompard", "lmacken", "nirik", "puiterwijk", "ralph",
                                                 "sayanchowdhury"]
    assert await fas.members_of("no-such-group") == []


@pytest.mark.parametrize("person", ["ralph", "ryanlerch", "decause", "newcomer"])
@pytest_twisted.ensureDeferred
async def test_packages_a_person_can_commit_to(services, person):
    """Pagure's username filter: direct packages and their groups', every page."""
    _, git, _ = services
    answer = await git.packages_of_user(person)
    assert answer == accounts.packages_of_user(person)
    assert set(accounts.direct_packages_of(person)) <= set(answer)


@pytest_twisted.ensureDeferred
async def test_packages_of_a_group(services):
    """A dist-git group's packages; a FAS group dist-git does not know has none (404)."""
    _, git, _ = services
    assert await git.packages_of_group("design-sig") == sorted(accounts.GROUP_PACKAGES["design-sig"])
    assert await git.packages_of_group("packager") == []


@pytest_twisted.ensureDeferred
async def test_a_failing_service_raises_a_readable_error(services):
    """Down or broken: a ServiceError with a sentence, never an empty answer taken for the truth."""
    fas, git, break_them = services
    break_them()
    for call in (fas.groups_of("ralph"), fas.members_of("infra-sig"), git.packages_of_user("ralph"),
                 git.packages_of_group("design-sig")):
        with pytest.raises(ServiceError):
            await call


# ---------------------------------------------------------------- pure answer reading


@pytest.mark.parametrize(("answer", "field", "names"), [
    ({"result": [{"groupname": "a"}, {"groupname": "b"}]}, "groupname", ["a", "b"]),
    ({"result": [{"username": "ralph"}, {"username": ""}, {"username": 3}, "x", {}]}, "username", ["ralph"]),
    ({"result": []}, "username", []),
])
def test_page_names(answer, field, names):
    """The names of one FASJSON page; malformed items are skipped."""
    assert page_names(answer, field) == names


@pytest.mark.parametrize("answer", [None, [], {"result": None}, {"result": {"a": 1}}, {"message": "no"}])
def test_page_names_refuses_an_answer_without_a_result(answer):
    """An answer that is not FASJSON's shape is a service error, not an empty list."""
    with pytest.raises(ServiceError):
        page_names(answer, "username")


@pytest.mark.parametrize(("answer", "pages"), [
    ({"page": {"total_pages": 3}}, 3), ({"page": {"total_pages": 0}}, 1), ({"page": {"total_pages": True}}, 1),
    ({"page": {"total_pages": "2"}}, 1), ({"result": []}, 1), (None, 1),
])
def test_total_pages(answer, pages):
    """How many pages FASJSON says there are; 1 when it says nothing usable."""
    assert total_pages(answer) == pages


@pytest.mark.parametrize(("projects", "names"), [
    ([{"name": "gimp", "namespace": "rpms"}, {"name": "gimp", "namespace": "modules"}], ["gimp"]),
    ([{"name": "", "namespace": "rpms"}, {"namespace": "rpms"}, "x", {"name": 1, "namespace": "rpms"}], []),
    ([], []),
])
def test_rpm_names(projects, names):
    """Only the rpms namespace counts; malformed projects are skipped."""
    assert rpm_names(projects) == names


def test_rpm_names_refuses_a_missing_list():
    """No project list is a service error."""
    with pytest.raises(ServiceError):
        rpm_names(None)


@pytest.mark.parametrize(("answer", "more"), [
    ({"pagination": {"next": "https://src/api/0/projects?page=2"}}, True), ({"pagination": {"next": None}}, False),
    ({"projects": []}, False), (None, False),
])
def test_has_next(answer, more):
    """Another page follows only when Pagure gives a next link."""
    assert has_next(answer) is more
