"""Hubs: a live dashboard for communities that work on the fedmsg bus."""

from setuptools import find_packages, setup

setup(
    name="hubs",
    version="0.1.0",
    description="Live dashboards for fedmsg communities, served from one fedmsg-hub process",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.11,<3.14",
    packages=find_packages(exclude=["tests", "tests.*", "bench"]),
    include_package_data=True,
    package_data={
        "hubs": ["templates/*.html", "static/*", "db/migrations/*.sql"],
        "hubs.widgets": ["*.html"],
    },
    zip_safe=False,
    install_requires=[
        # moksha.hub imports pkg_resources (gone in 82+); <=75.8 cannot match
        # "moksha_hub" to "moksha.hub" when loading entry points.
        "setuptools>=76,<81",
        "twisted>=24.3,<27",
        "fedmsg[consumers,commands]>=1.1.7,<1.2",
        "moksha.hub>=1.5.17,<1.6",
        "klein>=24.8,<25",
        "jinja2>=3.1,<4",
        "txpostgres>=1.7,<2",
        "psycopg2-binary>=2.9,<3",
        "pymemcache>=4.0,<5",
        "treq>=24.9",
        "markdown>=3.5,<4",
        "nh3>=0.2.17,<1",
        "icalendar>=6,<8",
        "recurring-ical-events>=3,<4",
        # OpenID Connect login: Authlib's OAuth2 client, joserfc for the ID token, signed login state
        "authlib>=1.3,<2",
        "joserfc>=1.0,<2",
        "itsdangerous>=2.1,<3",
        "requests>=2.31,<3",
        # usernames and packages of bus messages (needs libkrb5-dev to build gssapi)
        "fedmsg_meta_fedora_infrastructure>=0.31,<0.32",
        # GET /metrics
        "prometheus_client>=0.20,<1",
        # Fedora Messaging (AMQP): the library's Twisted consumer and publisher
        "fedora-messaging>=3.9,<4",
        # Schema classes of the services Hubs' widgets show: usernames, packages, summary, url, icon
        "tahrir-messages>=2.0,<3",  # badges
        "bodhi-messages>=26,<27",
        "pagure-messages>=1.3,<2",
        "koji-fedoramessaging-messages>=1.3,<2",  # buildsys.*
        "meetbot-messages>=1.0,<2",
        "fedocal-messages>=1.6,<2",
        "noggin-messages>=1.1,<2",  # fas.* (accounts)
        "discourse2fedmsg-messages>=1.1,<2",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-twisted>=1.14,<2",
            "playwright>=1.40,<2",
            "ruff>=0.6",
            "hypothesis>=6.100,<7",
            # the API contract: schemathesis runs against a live hub with hubs/web/openapi.py's document
            "schemathesis>=4.3,<5",
            "openapi-spec-validator>=0.7,<0.9",
        ],
    },
    entry_points={
        "moksha.consumer": [
            "hubs_consumer = hubs.consumer:HubsConsumer",
        ],
        # Hubs' own change messages, so `fedora-messaging consume` and others understand them
        "fedora.messages": [
            "hubs.widget.update.v1 = hubs.bus.schemas:WidgetUpdateV1",
            "hubs.widget.add.v1 = hubs.bus.schemas:WidgetAddV1",
            "hubs.widget.remove.v1 = hubs.bus.schemas:WidgetRemoveV1",
            "hubs.widget.move.v1 = hubs.bus.schemas:WidgetMoveV1",
            "hubs.hub.update.v1 = hubs.bus.schemas:HubUpdateV1",
            "hubs.hub.create.v1 = hubs.bus.schemas:HubCreateV1",
            "hubs.role.update.v1 = hubs.bus.schemas:RoleUpdateV1",
            "hubs.stream.update.v1 = hubs.bus.schemas:StreamUpdateV1",
        ],
        "console_scripts": [
            "hubs-populate = hubs.db.populate:main",
            "hubs-token = hubs.people.tokens:main",
            "hubs-backfill = hubs.history.cli:main",
        ],
    },
)
