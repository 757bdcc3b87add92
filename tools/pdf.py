"""The whole book as one PDF, printed from the built site by headless Chromium.

    python -m tools.pdf                       # what `make pdf` runs after `make book`
    python -m tools.pdf --site DIR --out FILE.pdf

Reads the pages of ``_toc.yml`` in order, joins their articles into one HTML
document (in the first page, so that the site's CSS, MathJax and images all
apply), and prints it with the Chromium the browser test uses
(``tests/test_site.py``) into ``_build/html/book.pdf``, where the intro page's
link and the published site find it. Links between pages become links inside
the PDF; links to other files of the site are kept as plain text, since they
would point at the local server. Code that the site hides (``hide-input`` cells,
such as each notebook's setup cell) stays out; folded solutions are printed open.

Jupyter Book's own ``pdfhtml`` builder is not used: it downloads a Chromium
through pyppeteer at run time, writes its single-page HTML over ``_build/html``,
and myst-nb's hidden code cells break its ``singlehtml`` build.

Chinese terms print only where a CJK font is installed (``fc-list :lang=zh``,
e.g. Debian's ``fonts-noto-cjk``); without one the tool warns.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tools import ROOT, TOC, toc_files

SITE = ROOT / "_build" / "html"
OUT_NAME = "book.pdf"
SCALE = 0.8  # the site's 16 px text at 80 %: a book's type size on A4
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Print rules on top of the theme's: every page title shows (the theme hides the
# first <h1> of an article in print), each page starts on a new sheet, and the
# theme's print-only title and table of contents of the first page go.
PRINT_CSS = """
@media print {
  #jb-print-docs-body { display: none !important; }
  .bd-main .bd-content .bd-article h1:first-of-type { display: block !important; }
  .pdf-page + .pdf-page { break-before: page; }
  .bd-main .bd-content { margin-left: 0 !important; }
  details > summary { display: none !important; }
  pre { white-space: pre-wrap !important; }
}
"""

# In the browser: move each page's article into the first page's, with ids made
# unique per page and links between pages turned into links inside the document.
JOIN_JS = """async ({root, pages}) => {
  const article = document.querySelector('article.bd-article');
  if (!article) throw new Error('no article.bd-article in ' + location.href);
  const stem = p => p.replace(/\\.html$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  const included = new Map(pages.map(p => [new URL(p, root).pathname, stem(p)]));
  const wrappers = [];
  for (const [i, p] of pages.entries()) {
    let source;
    if (i === 0) {
      source = article;
    } else {
      const response = await fetch(new URL(p, root));
      if (!response.ok) throw new Error(p + ': HTTP ' + response.status);
      const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
      source = doc.querySelector('article.bd-article');
      if (!source) throw new Error('no article.bd-article in ' + p);
    }
    const wrapper = document.createElement('div');
    wrapper.className = 'pdf-page';
    wrapper.id = stem(p);
    wrapper.append(...Array.from(source.childNodes).map(n => document.adoptNode(n)));
    for (const el of wrapper.querySelectorAll('[id]')) el.id = stem(p) + '--' + el.id;
    const base = new URL(p, root);
    for (const a of wrapper.querySelectorAll('a[href]')) {
      const url = new URL(a.getAttribute('href'), base);
      if (url.origin !== location.origin) continue;
      const target = included.get(url.pathname);
      if (target === undefined) { a.removeAttribute('href'); continue; }
      const fragment = decodeURIComponent(url.hash.slice(1));
      a.setAttribute('href', '#' + (fragment ? target + '--' + fragment : target));
    }
    for (const img of wrapper.querySelectorAll('img')) {
      img.loading = 'eager';
      img.src = new URL(img.getAttribute('src'), base).href;
    }
    for (const d of wrapper.querySelectorAll('details.hide.above-input')) d.remove();
    for (const d of wrapper.querySelectorAll('details')) d.open = true;
    wrappers.push(wrapper);
  }
  article.replaceChildren(...wrappers);
  if (window.MathJax && MathJax.startup) {
    await MathJax.startup.promise;
    await MathJax.typesetPromise(wrappers.slice(1));
  }
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
    new Promise(resolve => { img.onload = img.onerror = resolve; })));
  await document.fonts.ready;
  return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.src);
}"""


def chromium_path() -> str | None:
    """The system Chromium that tests/test_site.py also uses."""
    names = ("chromium", "chromium-browser", "google-chrome")
    return next((p for p in map(shutil.which, names) if p), None)


def toc_pages(toc: Path = TOC) -> list[str]:
    """The book's pages in reading order, as site paths (``book/intro.html``)."""
    return [re.sub(r"\.(md|ipynb)$", "", f) + ".html" for f in toc_files(toc)]


def page_count(pdf: bytes) -> int:
    """Pages of a PDF that Chromium wrote (it writes no compressed object streams)."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF file")
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def embedded_fonts(pdf: bytes) -> set[str]:
    """The fonts embedded in a PDF, without their subset prefix (``ABCDEF+``).

    Both the font dictionaries' ``/BaseFont`` and the descriptors' ``/FontName``
    count: Chromium embeds the CJK fonts as Type 3 fonts, named only in the latter.
    """
    names = re.findall(rb"/(?:BaseFont|FontName)\s*/(?:[A-Z]{6}\+)?([^\s/<>\[\]()]+)", pdf)
    return {n.decode("latin-1") for n in names}


def cjk_fonts() -> list[str] | None:
    """Families of the installed Chinese fonts; None where fc-list is missing."""
    if shutil.which("fc-list") is None:
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                         check=False)
    return sorted({f.strip() for line in out.stdout.splitlines() for f in line.split(",")
                   if f.strip()})


def uses_cjk_font(pdf: bytes, families: list[str]) -> bool:
    """Whether one of these font families is embedded in the PDF."""
    embedded = {re.sub(r"[^a-z0-9]", "", f.lower()) for f in embedded_fonts(pdf)}
    wanted = {re.sub(r"[^a-z0-9]", "", f.lower()) for f in families}
    return any(w and any(e.startswith(w) for e in embedded) for w in wanted)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a directory on a free local port (MathJax and fetch() need http)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def print_pages(site: Path, pages: Sequence[str], out: Path, executable: str | None = None,
                timeout_s: float = 300) -> int:
    """Join ``pages`` of the built ``site`` into one document, print it to ``out``.

    Returns the number of pages of the PDF.
    """
    if not pages:
        raise ValueError("no pages to print")
    missing = [p for p in pages if not (site / p).is_file()]
    if missing:
        raise FileNotFoundError(f"not in {site}: {missing} (run `make book` first)")
    folders = {str(Path(p).parent) for p in pages}
    if len(folders) != 1:
        raise ValueError(f"the pages must share one folder, not {sorted(folders)}")
    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found: install Debian's `chromium` package")
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(site) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout_s * 1000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base_url + pages[0], wait_until="load")
            page.add_style_tag(content=PRINT_CSS)
            broken = page.evaluate(JOIN_JS, {"root": base_url, "pages": list(pages)})
            if broken:
                raise RuntimeError(f"images that did not load: {broken}")
            if errors:
                raise RuntimeError(f"JavaScript errors: {errors}")
            page.emulate_media(media="print")
            page.pdf(
                path=str(out),
                format="A4",
                scale=SCALE,
                print_background=True,
                outline=True,  # bookmarks from the headings: chapters and sections
                tagged=True,
                margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=(
                    '<div style="font-size:8px;width:100%;text-align:center;">'
                    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
                ),
            )
        finally:
            browser.close()
    return page_count(out.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the built site (_build/html)")
    parser.add_argument("--out", type=Path, default=None, help="the PDF (SITE/book.pdf)")
    parser.add_argument("--skip-without-chromium", action="store_true",
                        help="say so and succeed where Chromium is not installed (`make book`)")
    args = parser.parse_args(argv)
    out = args.out or args.site / OUT_NAME
    if args.skip_without_chromium and chromium_path() is None:
        print("PDF skipped: Chromium not found (install Debian's `chromium` package)")
        return 0
    start = time.perf_counter()
    n = print_pages(args.site, toc_pages(), out)
    print(f"{out}: {n} pages in {time.perf_counter() - start:.0f} s")
    families = cjk_fonts()
    if families == []:
        print("warning: no Chinese font installed (`fc-list :lang=zh` is empty), so the "
              "Chinese terms print as boxes; Debian/Ubuntu: apt-get install fonts-noto-cjk",
              file=sys.stderr)
    elif families and not uses_cjk_font(out.read_bytes(), families):
        print(f"warning: none of the Chinese fonts {families} is embedded in {out}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
