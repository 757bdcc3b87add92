"""Every page of the built site (`make book`) in headless Chromium, and both editions' PDFs."""

import re
from collections.abc import Iterator
from urllib.parse import unquote, urldefrag, urlparse

import pytest
import yaml
from common import CJK, ROOT, SITE, built, unavailable
from playwright.sync_api import Browser, Page

from tools import pdf
from tools.notebooks import book_notebooks

pytestmark = pytest.mark.site

ZH = "zh"  # the Chinese edition's folder (tools/i18n.py)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
REDIRECT = re.compile(r'http-equiv="refresh" content="0; url=([^"]+)"', re.I)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
COLAB = "https://colab.research.google.com/github/{}/blob/{}/".format(
    urlparse(CONFIG["repository"]["url"]).path.strip("/"),
    CONFIG["sphinx"]["config"]["reader_notebooks_branch"])
NOTEBOOKS = {str(nb.with_suffix(".html")): str(nb) for nb in
             (p.relative_to(ROOT) for p in book_notebooks())}
# the book's pages; the slide decks are tested by tests/test_slides.py
PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
               if not {"_static", "slides"} & set(p.parts))
NO_FONT = "no Chinese font installed (`fc-list :lang=zh` is empty): install Debian's fonts-noto-cjk"

VISIBLE_TEXT_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, textarea')
    .forEach(x => x.remove());
  return body.textContent;
}"""
ARTICLE_BLOCKS_JS = """() => {
  const skip = 'pre, code, .math, mjx-container, .cell_output, .output, script, style, '
             + '.bibliography, .citation, .cell_input';
  const article = document.querySelector('article.bd-article') || document.body;
  return Array.from(article.querySelectorAll('p, li, h1, h2, h3, h4, figcaption, dd, dt'))
    .filter(el => !el.closest(skip)).map(el => {
      const clone = el.cloneNode(true);
      clone.querySelectorAll(skip + ', ul, ol').forEach(x => x.remove());
      return clone.textContent.replace(/\\s+/g, ' ').trim();
    }).filter(Boolean);
}"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with browser.new_page() as page:
        yield page


def resolves(href: str, base_url: str) -> bool:
    """Whether the file of an internal link and, where it names one, the anchor exist."""
    url, fragment = urldefrag(href)
    target = SITE / unquote(url[len(base_url) :])
    target = target / "index.html" if target.is_dir() else target
    if not (fragment and target.suffix == ".html" and target.is_file()):
        return target.is_file()
    html, fragment = target.read_text(encoding="utf-8"), unquote(fragment)
    return f'id="{fragment}"' in html or f'name="{fragment}"' in html


@pytest.mark.parametrize("page_path", PAGES or ["index.html"])
def test_page(page: Page, base_url: str, page_path: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if redirect := REDIRECT.search((SITE / page_path).read_text(encoding="utf-8")):
        target = redirect.group(1)  # the root index.html only forwards to the first page
        assert (SITE / page_path).parent.joinpath(target).is_file(), f"redirect to {target}"
        page.goto(base_url + page_path)
        page.wait_for_url(f"**/{target}")
        return
    page.goto(base_url + page_path, wait_until="load")
    # MathJax (the site's own copy, so offline) typeset every math element; every image loaded.
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        untypeset = page.evaluate("() => Array.from(document.querySelectorAll('.math'))"
                                  ".filter(el => !el.querySelector('mjx-container'))"
                                  ".map(el => el.textContent)")
        assert not untypeset, f"math not typeset: {untypeset[:3]}"
    assert "$$" not in page.evaluate(VISIBLE_TEXT_JS), "raw $$ left in the page text"
    broken = page.evaluate("() => Array.from(document.images)"
                           ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"

    # Colab opens the reader-ready copy, on the branch CI publishes from _build/html/_notebooks.
    hrefs: list[str] = page.evaluate("() => Array.from(document.links).map(a => a.href)")
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    english_path = page_path.removeprefix(f"{ZH}/")
    chinese = english_path != page_path
    if notebook := NOTEBOOKS.get(english_path):
        copy = f"{ZH}/{notebook}" if chinese else notebook
        assert colab == [COLAB + copy]
        assert (SITE / "_notebooks" / copy).is_file(), "no reader copy to open"
    else:
        assert not colab, "a Colab button on a page that is no notebook"

    if english_path not in ("search.html", "genindex.html"):
        other = english_path if chinese else f"{ZH}/{page_path}"
        assert base_url + other in hrefs, f"no language switch to {other}"

    # The Chinese edition's article is Chinese (code, maths, outputs, references aside).
    if chinese and english_path.startswith("book/") and "bibliography" not in english_path:
        blocks: list[str] = page.evaluate(ARTICLE_BLOCKS_JS)
        english = [b for b in blocks if not CJK.search(b) and len(LATIN_WORD.findall(b)) >= 5]
        assert not english, f"untranslated text on {page_path}: {english[:3]}"

    dead = {h for h in hrefs if h.startswith(base_url) and not resolves(h, base_url)}
    assert not dead, f"broken internal links: {sorted(dead)}"
    assert not errors, f"JavaScript errors: {errors}"
    if page_path == "book/how_to_use.html":
        page.screenshot(path=ROOT / "_build" / "screenshots" / "how_to_use.png", full_page=True)


@pytest.mark.parametrize("edition", ["", ZH])
def test_pdf_of_each_edition(edition: str) -> None:
    built()
    site, book = SITE / edition, SITE / edition / "book.pdf"
    if not (SITE / "book.pdf").is_file():
        unavailable("the PDF is not built: `make book` prints it where Chromium is installed "
                    "(`make pdf` prints it alone)")
    assert book.is_file(), f"{book} missing: `make book` prints one PDF per edition"
    htmls = [site / p for p in pdf.toc_pages()]
    missing = [str(h) for h in htmls if not h.is_file()]
    assert not missing, f"pages of _toc.yml not in the site: {missing}"
    assert book.stat().st_mtime >= max(h.stat().st_mtime for h in htmls), (
        f"{book} is older than the site: run `make pdf`")
    data = book.read_bytes()
    # Every page of the site starts a new sheet, and chapters run to several.
    assert pdf.page_count(data) >= 3 * len(htmls)
    assert 'href="../book.pdf"' in (site / "book" / "intro.html").read_text(encoding="utf-8")
    families = pdf.cjk_fonts()
    if not families:  # .ci/run installs Debian's fonts-noto-cjk, so under CI this fails
        unavailable(f"{NO_FONT}: the PDF shows Chinese as boxes")
    assert pdf.uses_cjk_font(data, families), f"none of {families} is embedded in {book}"


@pytest.mark.parametrize("path", [f"{ZH}/book/intro.html", "book/glossary.html"])
def test_chinese_text_renders_in_a_chinese_font(page: Page, base_url: str, path: str) -> None:
    """Chinese text is drawn with an installed Chinese font, not as boxes (Chromium's own account
    of the fonts it used, through the DevTools protocol)."""
    if not (families := pdf.cjk_fonts()):
        unavailable(NO_FONT)
    page.goto(base_url + path, wait_until="load")
    assert page.evaluate("""() => {
      const el = Array.from(document.querySelectorAll('article p, article dt, article li'))
        .find(e => /[\\u4e00-\\u9fff]/.test(e.textContent));
      if (el) el.id = 'cjk-probe';
      return el ? el.textContent : null;
    }"""), f"no Chinese text on {path}"
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#cjk-probe"})["nodeId"]
    used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    wanted = [pdf.font_key(f) for f in families]
    assert any(f["glyphCount"] > 0 and pdf.font_key(f["familyName"]).startswith(tuple(wanted))
               for f in used), f"{path}: Chinese text drawn with {used}, no Chinese font"
