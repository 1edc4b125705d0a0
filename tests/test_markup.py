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


@pytest.mark.parametrize("source", [c[0] for c in CASES] + [
    "see www.example.org and http://a.b/c?d=1&e=2 <b>x</b>", "<a href='http://x'>http://y.org</a>",
    "```\nhttp://in.code\n```", "`http://inline`", "> q https://q.org\n\n* li http://l.org",
    "<!-- c --><script>x</script>https://after.org", "&amp; &lt;tag&gt; https://x.org/?a=1&b=2"])
def test_one_pass_equals_cleaning_then_linkifying(source):
    """Sanitising and linkifying in one pass gives the HTML of bleach's clean() then linkify()."""
    import bleach.linkifier
    import markdown

    from hubs.build import markup

    html = markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    two = bleach.Cleaner(tags=markup.ALLOWED_TAGS, attributes=markup.ALLOWED_ATTRIBUTES,
                         protocols=markup.ALLOWED_PROTOCOLS, strip=True, strip_comments=True).clean(html)
    two = bleach.linkifier.Linker(callbacks=[markup._link_attrs]).linkify(two)
    assert str(render_markdown(source)) == two
