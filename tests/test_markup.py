"""Markdown from people is rendered and sanitised."""

import pytest

from hubs.build.markup import render_markdown

CASES = [
    # (markdown, must contain, must not contain)
    ("**bold**", "<strong>bold</strong>", None),
    ("<script>alert(1)</script>", None, "<script"),
    ("[x](javascript:alert(1))", None, "javascript:"),
    ("<img src=x onerror=alert(1)>", None, "onerror"),
    ('<a href="https://ok.example" onclick="evil()">a</a>', 'href="https://ok.example"', "onclick"),
    ("<div style='position:fixed'>x</div>", None, "style"),
    ("<iframe src='https://evil.example'></iframe>", None, "<iframe"),
    ("see https://fedoraproject.org", 'href="https://fedoraproject.org"', None),
    ("[docs](https://docs.fedoraproject.org)", 'rel="nofollow noopener"', None),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "<table>", None),
    ("<svg onload=alert(1)>", None, "<svg"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=)", None, "data:"),
]


@pytest.mark.parametrize(("source", "present", "absent"), CASES)
def test_markdown_is_rendered_and_sanitised(source, present, absent):
    """Each case keeps what is safe and strips what could run code."""
    html = str(render_markdown(source))
    if present:
        assert present in html
    if absent:
        assert absent not in html.lower()


def test_each_text_is_rendered_on_its_own():
    """The reused converter forgets everything between texts: a link defined in one never resolves in the next."""
    first = str(render_markdown("[home]: https://example.org/\n\nsee [home]"))
    assert 'href="https://example.org/"' in first
    second = str(render_markdown("see [home]"))
    assert "href" not in second and "see [home]" in second


def test_rendering_in_another_thread_gives_the_same_html():
    """Each thread has its own converter, with the same output."""
    import threading

    source = "| a | b |\n|---|---|\n| *1* | 2 |\n\n```\ncode\n```"
    out = []
    thread = threading.Thread(target=lambda: out.append(str(render_markdown(source))))
    thread.start()
    thread.join()
    assert out == [str(render_markdown(source))] and "<table>" in out[0]


LINKIFY = [
    # (markdown, the HTML it renders to)
    ("see www.example.org and http://a.b/c?d=1&e=2 <b>x</b>",
     '<p>see <a href="http://www.example.org" rel="nofollow noopener" target="_blank">www.example.org</a> and '
     '<a href="http://a.b/c?d=1&amp;e=2" rel="nofollow noopener" target="_blank">http://a.b/c?d=1&amp;e=2</a> '
     "<b>x</b></p>"),
    # a link's text is not linked again; its http(s) target is marked as leading out
    ("<a href='http://x'>http://y.org</a>", '<p><a href="http://x" rel="nofollow noopener" target="_blank">'
                                            "http://y.org</a></p>"),
    ("```\nhttp://in.code\n```", "<pre><code>http://in.code\n</code></pre>"),
    ("`http://inline`", "<p><code>http://inline</code></p>"),
    ("say https://x.org.", '<p>say <a href="https://x.org" rel="nofollow noopener" target="_blank">https://x.org</a>.</p>'),
    ("(see https://w.org/Foo_(bar)), ok",
     '<p>(see <a href="https://w.org/Foo_(bar)" rel="nofollow noopener" target="_blank">https://w.org/Foo_(bar)</a>), '
     "ok</p>"),
    ("(https://x.org)", '<p>(<a href="https://x.org" rel="nofollow noopener" target="_blank">https://x.org</a>)</p>'),
    # a quote ends an address: it cannot reach into an attribute
    ('http://x.org/"onmouseover="alert(1)',
     '<p><a href="http://x.org/" rel="nofollow noopener" target="_blank">http://x.org/</a>"onmouseover="alert(1)</p>'),
    ("a &lt;http://x.org&gt; b", '<p>a &lt;<a href="http://x.org" rel="nofollow noopener" target="_blank">'
                                "http://x.org</a>&gt; b</p>"),
    ("[m](mailto:a@b.org)", '<p><a href="mailto:a@b.org">m</a></p>'),  # only web links open a new tab
    ("www. and www.x and http://", "<p>www. and www.x and http://</p>"),
    ("<!-- c --><script>x</script>https://after.org",
     '<p><a href="https://after.org" rel="nofollow noopener" target="_blank">https://after.org</a></p>'),
]


@pytest.mark.parametrize(("source", "html"), LINKIFY)
def test_bare_addresses_become_links_that_lead_out(source, html):
    """Web addresses in text are linked (not in code or links), trailing punctuation left out, outside links
    open in a new tab without the page's opener."""
    assert str(render_markdown(source)).strip() == html


@pytest.mark.parametrize("source", [c[0] for c in CASES] + [c[0] for c in LINKIFY] + [
    "<a title='x href=\"http://y\"' href='https://z'>t</a>", "<p title='a>b'>https://x.org</p>",
    "<code>https://a.org</code> https://b.org <pre>https://c.org</pre>", "</a>https://x.org<a>",
    "<img src=https://x.org/i.png alt='https://y.org'>", "https://x.org/&quot;&gt;&lt;script&gt;"])
def test_linking_adds_nothing_a_sanitiser_would_take_away(source):
    """What the linking step adds to sanitised HTML is itself sanitised HTML: cleaning it again (with the two
    attributes it adds allowed) changes nothing."""
    import nh3

    from hubs.build import markup

    html = str(render_markdown(source))
    attributes = {**markup.ALLOWED_ATTRIBUTES, "a": markup.ALLOWED_ATTRIBUTES["a"] | {"rel", "target"}}
    again = nh3.clean(html, tags=set(markup.ALLOWED_TAGS), attributes=attributes,
                      url_schemes=set(markup.ALLOWED_PROTOCOLS), link_rel=None, strip_comments=True)
    assert again == html
