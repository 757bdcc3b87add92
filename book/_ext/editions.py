"""Sphinx extension: the header buttons that link the book's editions and copies.

- **Language switch.** The English edition sits at the site's root, the Chinese
  one under ``zh/`` (``tools/i18n.py``). Every page gets a header button that
  opens the same page in the other language.
- **Launch buttons open the reader-ready notebooks.** The theme builds its
  Colab, Binder and JupyterHub links from ``repository.url`` and ``branch``,
  which would open the MyST sources (raw roles, solutions in view). CI publishes
  the reader-ready copies that ``make book`` writes (``reader_notebooks.py``)
  to the branch named by ``reader_notebooks_branch``, in the same layout
  (``book/<page>.ipynb``, with a ``binder/`` folder), so the links only swap the branch;
  the Chinese edition's buttons open the Chinese copies, ``zh/book/<page>.ipynb``.
- **One summary per edition.** Each English page ends with a Summary and, for the
  lecture's students, a short Chinese recap (小结). In the Chinese edition the
  Summary itself is Chinese, so the recap would say it twice: it is dropped there.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.transforms import SphinxTransform

# edition: (path from the site root to the other edition, button text, tooltip)
EDITIONS = {"en": ("zh/", "中文", "阅读本页的中文版"),
            "zh": ("../", "English", "Read this page in English")}


def edition(language: str | None) -> str:
    return "zh" if (language or "en").lower().startswith("zh") else "en"


def other_edition_url(pagename: str, language: str | None) -> str:
    """Relative URL of ``pagename`` in the other edition."""
    up = "../" * pagename.count("/")
    return f"{up}{EDITIONS[edition(language)][0]}{pagename}.html"


def swap_branch(url: str, branch: str, reader_branch: str) -> str:
    """The launch link on ``reader_branch`` (Colab, Binder, JupyterHub spell it differently)."""
    for old, new in ((f"/blob/{branch}/", f"/blob/{reader_branch}/"),
                     (f"/{branch}?urlpath=", f"/{reader_branch}?urlpath="),
                     (f"branch={branch}", f"branch={reader_branch}")):
        if old in url:
            return url.replace(old, new, 1)
    return url


def add_edition_buttons(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                        doctree: Any) -> None:
    buttons = context.get("header_buttons")
    if buttons is None:
        return
    reader_branch = app.config.reader_notebooks_branch
    branch = (app.config.html_theme_options or {}).get("repository_branch", "main")
    chinese = edition(app.config.language) == "zh"
    for group in buttons:
        if group.get("label") == "launch-buttons" and reader_branch:
            for button in group.get("buttons", []):
                if "url" in button:
                    url = swap_branch(button["url"], branch, reader_branch)
                    if chinese:  # the Chinese copies sit under zh/ on that branch
                        url = url.replace(f"/{pagename}.ipynb", f"/zh/{pagename}.ipynb")
                    button["url"] = url
    _, text, tooltip = EDITIONS[edition(app.config.language)]
    buttons.insert(0, {"type": "link", "url": other_edition_url(pagename, app.config.language),
                       "text": text, "tooltip": tooltip, "icon": "fas fa-language",
                       "label": "language-switch"})


RECAP = "小结"
SUMMARY = {"Summary", RECAP}  # the recap's parent section, before and after translation


def recaps(document: nodes.document) -> list[nodes.Element]:
    """The 小结 recap of a page: a ``### 小结`` section under the Summary, or a
    paragraph opening with **小结**."""
    found: list[nodes.Element] = [
        section for section in document.findall(nodes.section)
        if _title(section) == RECAP and isinstance(section.parent, nodes.section)
        and _title(section.parent) in SUMMARY]
    for paragraph in document.findall(nodes.paragraph):
        children = [c for c in paragraph.children if c.astext().strip()]
        first = children[0] if children else None
        if isinstance(first, nodes.strong) and first.astext().strip(" .:：。") == RECAP:
            found.append(paragraph)
    return found


class DropChineseRecap(SphinxTransform):
    """In the Chinese edition, remove the 小结 recap (the translated Summary says the
    same); in the English one, keep it out of the catalogues: it is Chinese already,
    and no Chinese page shows it, so it is no message to translate."""

    default_priority = 25  # after the translation (Locale, 20), before the TOC is read

    def apply(self, **kwargs: Any) -> None:
        chinese = edition(self.config.language) == "zh"
        for recap in recaps(self.document):
            if chinese:
                if recap.parent is not None:
                    recap.parent.remove(recap)
                continue
            for node in recap.findall(nodes.TextElement):
                node["translatable"] = False  # Sphinx's gettext builder skips it


def _title(section: nodes.Element) -> str:
    first = section.children[0] if section.children else None
    return first.astext().strip() if isinstance(first, nodes.title) else ""


def setup(app: Any) -> dict[str, Any]:
    app.add_transform(DropChineseRecap)
    app.add_config_value("reader_notebooks_branch", "", "html")
    # After the theme has made its buttons (priority 501).
    app.connect("html-page-context", add_edition_buttons, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
