"""Screenshot a Hubs page in headless Debian Chromium (for the README and reviews).

    .venv/bin/python tools/screenshot.py http://127.0.0.1:5000/designteam out.png [--width 1280]
    .venv/bin/python tools/screenshot.py http://127.0.0.1:5000/stream docs/stream.png --login ralph

``--login NAME`` signs in through the development login provider's form (``make run``: any name logs in) when
the page sends the visitor there (the stream page does), or through the header's "Log in" link (a hub page), then
comes back to the page. ``--type SELECTOR TEXT`` types into a field before the picture (e.g. the Activity widget's
search box) and waits for what it asked to be drawn:

    .venv/bin/python tools/screenshot.py http://127.0.0.1:5000/designteam docs/follow-search.png --login nirik \
        --type .feed-search-q logo
"""

import argparse

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--login", help="sign in as this account name through the login provider's form")
    parser.add_argument("--type", nargs=2, metavar=("SELECTOR", "TEXT"), help="type TEXT into the field SELECTOR")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.url)
        if args.login and page.url == args.url:  # not sent to log in: the header's link
            page.get_by_role("link", name="Log in", exact=True).click()
        if args.login:
            page.locator("input[name=login]").fill(args.login)
            page.locator("input[name=password]").fill("any password")
            page.locator("button[type=submit]").click()
            consent = page.locator("button[type=submit]", has_text="Continue")
            if consent.count():
                consent.click()
            page.wait_for_url(args.url)
        page.wait_for_function("!document.querySelector('.widget.loading, [aria-busy=\"true\"]')", timeout=10000)
        if args.type:
            page.locator(args.type[0]).first.click()
            page.keyboard.type(args.type[1], delay=30)
            page.wait_for_timeout(600)  # the search box waits for a pause in the typing
            page.wait_for_function("!document.querySelector('[aria-busy=\"true\"]')", timeout=10000)
        page.wait_for_timeout(300)
        page.screenshot(path=args.out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
