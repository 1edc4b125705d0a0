"""The ceiling: a bare Klein app returning fixed bytes from memory (same reactor as fedmsg-hub).

    python bench/bare_klein.py PORT JSON_FILE PAGE_FILE
"""

import sys

from twisted.internet import epollreactor

epollreactor.install()

from klein import Klein  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.web.server import Site  # noqa: E402

port, json_file, page_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
JSON = open(json_file, "rb").read()
PAGE = open(page_file, "rb").read()
app = Klein()


@app.route("/json")
def json_route(request):
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return JSON


@app.route("/page")
def page_route(request):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    return PAGE


site = Site(app.resource())
site.log = lambda request: None
reactor.listenTCP(port, site, interface="127.0.0.1", backlog=1024)
print("ready", flush=True)
reactor.run()
