"""Markdown from people is rendered and sanitised."""

import pytest

from hubs.markup import render_markdown

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
