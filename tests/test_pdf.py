"""tools.pdf on a tiny two-page site, so that these tests need no site build (the book's own
PDFs: tests/test_site.py)."""

from pathlib import Path

import pytest
from common import unavailable

from tools.pdf import chromium_path, main, page_count, print_pages, toc_pages, uses_cjk_font

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{0}</title></head>
<body><div class="bd-main"><div class="bd-content"><article class="bd-article">
<section id="top"><h1>{0}</h1>{1}</section></article></div></div></body></html>"""


def test_toc_pages_in_reading_order(tmp_path: Path) -> None:
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n"
                   "  - caption: One\n    chapters:\n      - file: book/a\n"
                   "        sections:\n          - file: book/a1.ipynb\n      - file: book/b.md\n",
                   encoding="utf-8")
    assert toc_pages(toc) == ["book/intro.html", "book/a.html", "book/a1.html", "book/b.html"]
    book = toc_pages()
    assert book[0] == "book/intro.html" and "book/glossary.html" in book
    toc.write_text("format: jb-book\n", encoding="utf-8")
    with pytest.raises(ValueError, match="root"):
        toc_pages(toc)


def test_page_count_and_fonts_read_a_pdf() -> None:
    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n"
           b"3 0 obj <</Type/Page>>\n4 0 obj << /BaseFont /ABCDEF+NotoSansCJKsc-Regular >>\n")
    assert page_count(pdf) == 2
    assert uses_cjk_font(pdf, ["Noto Sans CJK SC"])
    assert not uses_cjk_font(pdf, ["AR PL UMing", "Noto Sans CJK JP", " "])
    # Chromium embeds CJK glyphs as a Type 3 font, named only in its descriptor
    assert uses_cjk_font(b"%PDF-1.4\n5 0 obj << /Type /FontDescriptor "
                         b"/FontName /AAAAAA+NotoSansCJKjp-Regular >>\n", ["Noto Sans CJK JP"])
    with pytest.raises(ValueError, match="not a PDF"):
        page_count(b"<html></html>")


def test_prints_two_pages_with_internal_links(tmp_path: Path) -> None:
    if chromium_path() is None:
        unavailable("Chromium not found: install Debian's `chromium` package")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text(PAGE.format(
        "Page A", '<p>Go to <a href="b.html#later">the later section</a> of B.</p>'
        '<p>A file of the site: <a href="../other.txt">other</a>.</p>'
        '<details class="hide above-input"><summary>Show code</summary><pre>SETUP</pre></details>',
    ), encoding="utf-8")
    (tmp_path / "book" / "b.html").write_text(PAGE.format(
        "Page B", '<section id="later"><h2>Later</h2><p>Text.</p></section>'), encoding="utf-8")
    (tmp_path / "other.txt").write_text("x", encoding="utf-8")
    out = tmp_path / "out" / "book.pdf"
    n = print_pages(tmp_path, ["book/a.html", "book/b.html"], out)
    pdf = out.read_bytes()
    assert n == page_count(pdf) == 2  # each page of the site starts a new sheet
    # The link from A to B's section is inside the PDF, not to the local server;
    # the link to another file of the site is gone. Bookmarks from the headings.
    assert b"127.0.0.1" not in pdf and b"/URI" not in pdf
    assert b"/Dest" in pdf and b"/Outlines" in pdf


def test_no_pages_or_no_chromium_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileNotFoundError, match="make book"):
        print_pages(tmp_path, ["book/intro.html"], tmp_path / "x.pdf")
    with pytest.raises(ValueError, match="no pages"):
        print_pages(tmp_path, [], tmp_path / "x.pdf")
    monkeypatch.setattr("tools.pdf.chromium_path", lambda: None)
    assert main(["--site", str(tmp_path), "--skip-without-chromium"]) == 0
    assert "Chromium not found" in capsys.readouterr().out
    assert not (tmp_path / "book.pdf").exists()
