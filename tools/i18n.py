"""The Chinese edition: one set of notebooks, the prose translated through gettext.

    python -m tools.i18n update [PAGE ...]    # after editing English text (make translations)
    python -m tools.i18n status [--quiet]     # what is left to translate; exit 1 if anything
    python -m tools.i18n build --site _build/html   # Chinese site into _build/html/zh (make book)

Sphinx's gettext builder cuts every page into messages (paragraphs, headings, captions) of
MyST source; ``update`` merges them (Babel) into book/locales/zh_CN/LC_MESSAGES/<page>.po, a
changed one *fuzzy* (the old English kept as ``#| msgid``), a new one empty. ``build`` builds
the same notebooks with book/locales/zh_CN/_config.yml merged into _config.yml (README,
"Chinese edition").
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, unescape, write_po

from tools import ROOT, read_toc

LANGUAGE = "zh_CN"
CATALOGUES = ROOT / "book" / "locales" / LANGUAGE / "LC_MESSAGES"
OVERRIDES = CATALOGUES.parent / "_config.yml"
WORK = ROOT / "_build" / "i18n"
HEADER = """\
# Chinese (zh_CN) translation of the page {page} of the course book
# "Pattern Recognition: from Gaussian processes to medical image segmentation".
# After editing the English page: `make translations`, then translate every
# empty msgstr and every #, fuzzy entry here (README, "Translations")."""

# What a translation keeps unchanged: glued numbers, citations, cross-references, maths.
KEPT = {
    "glue roles": re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),
    "citations": re.compile(r"\{cite(?::\w+)?\}`[^`]*`"),
    "page links": re.compile(r"\{(?:doc|ref|numref|eq)\}`(?:[^`<]*<)?([^`<>]*)>?`"),
    "maths": re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S),
}
TERM = re.compile(r"\{term\}`([^`]*)`")
GLUE_ROLE = re.compile(r"(\{glue(?::\w+)?\}`)((?:(?!::)[^`])*)`")  # a bare key, not by path


def jupyter_book(*args: str) -> None:
    subprocess.run([Path(sys.executable).with_name("jupyter-book"), "build", ROOT, *args],
                   check=True)


def templates() -> dict[Path, Path]:
    """Run Sphinx's gettext builder: {each page's catalogue: its .pot template}."""
    out = WORK / "pot"
    shutil.rmtree(out, ignore_errors=True)
    jupyter_book("--builder", "custom", "--custom-builder", "gettext", "--path-output",
                 str(out), "-W", "-n", "--quiet")
    pots = out / "_build" / "gettext"
    return {(CATALOGUES / pot.relative_to(pots)).with_suffix(".po"): pot
            for pot in sorted(pots.rglob("*.pot"))
            if pot.name != "sphinx.pot" and pot.parent.name != "_static"}


def read(path: Path) -> Catalog:
    catalog = read_po(path.read_text(encoding="utf-8").splitlines(), locale=LANGUAGE)
    for message in catalog:
        # Babel reads a fuzzy entry's `#| msgid "..."` (the English it was translated
        # from, wrapped over `#|` lines at spaces) back as comments: restore it.
        previous = [c[2:].strip() for c in message.user_comments if c.startswith("| ")]
        if previous and previous[0].startswith("msgid "):
            message.user_comments = [c for c in message.user_comments if not c.startswith("| ")]
            message.previous_id = [unescape(" ".join(previous)[len("msgid "):])]
    return catalog


def write(catalog: Catalog, path: Path) -> None:
    for message in catalog:
        # Babel flags a "%" or "{...}" as python-(brace-)format, which msgfmt would check;
        # a multi-line previous msgid does not read back cleanly.
        message.flags -= {"python-format", "python-brace-format"}
        message.previous_id = [" ".join(str(p).split()) for p in message.previous_id]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        # No source locations, obsolete entries dropped: diffs show text, not line numbers.
        write_po(f, catalog, width=0, no_location=True, ignore_obsolete=True, include_previous=True)


def update(pages: list[str]) -> int:
    """Merge the English messages into the catalogues (only ``pages``', if given); report()."""
    wanted = templates()
    for po_path, pot in wanted.items():
        page = po_path.relative_to(CATALOGUES).with_suffix("")
        if pages and str(page) not in pages:
            continue
        catalog = read(po_path) if po_path.exists() else Catalog(
            locale=LANGUAGE, header_comment=HEADER.format(page=page))
        catalog.update(read(pot), update_header_comment=False, update_creation_date=False)
        catalog.project, catalog.version = "Pattern Recognition course book", ""
        catalog.fuzzy = False
        write(catalog, po_path)
    for stale in [] if pages else sorted(set(CATALOGUES.rglob("*.po")) - set(wanted)):
        print(f"removed {stale.relative_to(ROOT)} (its page is gone)")
        stale.unlink()
    return report()


def pending(catalog: Catalog) -> tuple[list[str], list[str]]:
    """(untranslated, fuzzy) message ids of a catalogue."""
    messages = [m for m in catalog if m.id]  # not the header
    return ([str(m.id) for m in messages if not m.fuzzy and not m.string],
            [str(m.id) for m in messages if m.fuzzy])


def report(verbose: bool = True) -> int:
    """Print, per catalogue, what needs translating; 1 if anything does."""
    left = 0
    for po_path in sorted(CATALOGUES.rglob("*.po")):
        untranslated, fuzzy = pending(read(po_path))
        left += len(untranslated) + len(fuzzy)
        if untranslated or fuzzy:
            print(f"{po_path.relative_to(ROOT)}: {len(untranslated)} untranslated, "
                  f"{len(fuzzy)} fuzzy")
            for text in fuzzy + untranslated if verbose else []:
                print(f"    {text[:100]}")
    print(f"{left} messages to translate" if left else "all catalogues translated")
    return int(left > 0)


def term_target(role_text: str) -> str:
    """The glossary entry a ``{term}`` role points to: ``text <target>`` or ``text``."""
    return re.sub(r"(?s)^.*<([^<>]+)>\s*$", r"\1", role_text).strip().lower()


def problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation lost or changed of what must stay (empty: fine).
    Page links compare by target: their text (`text <target>`) is translated."""
    return [f"{what} differ: missing {sorted(set(s) - set(t))}, added {sorted(set(t) - set(s))}"
            for what, pattern in KEPT.items()
            if (s := sorted(pattern.findall(msgid))) != (t := sorted(pattern.findall(msgstr)))]


def merged_config() -> dict[str, Any]:
    """_config.yml with the Chinese edition's overrides merged in (nested keys too)."""
    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return base | {key: merge(base[key], value)
                       if isinstance(value, dict) and isinstance(base.get(key), dict) else value
                       for key, value in extra.items()}

    config = merge(*(yaml.safe_load(path.read_text(encoding="utf-8"))
                     for path in (ROOT / "_config.yml", OVERRIDES)))
    # Jupyter Book finds local extensions relative to the config file, which is written elsewhere.
    extensions = config["sphinx"].get("local_extensions") or {}
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) for k, v in extensions.items()}
    return config


def glue_by_path(text: str, notebook: str) -> str:
    """``{glue:text}`key:.3f``` as ``{glue:text}`page.ipynb::key:.3f```: myst-nb finds no glue
    data under a bare key in a translated message (a document of its own), but reads them by
    path, as from another page; ``{glue:text}``'s default format, ``:s``, is spelt out."""
    def qualify(match: re.Match[str]) -> str:
        role, key = match.groups()
        default = ":s" if role == "{glue:text}`" and ":" not in key else ""
        return f"{role}{notebook}::{key}{default}`"

    return GLUE_ROLE.sub(qualify, text)


def build(site: Path) -> int:
    """Build the Chinese edition from the same notebooks into ``site/zh``."""
    out = WORK / "zh"
    shutil.rmtree(out, ignore_errors=True)
    for po_path in CATALOGUES.rglob("*.po"):  # the catalogues as Sphinx reads them
        catalog, page = read(po_path), po_path.relative_to(CATALOGUES).with_suffix(".ipynb")
        for message in catalog if (ROOT / page).is_file() else []:
            message.string = glue_by_path(str(message.string or ""), page.name)
        write(catalog, out / "locales" / LANGUAGE / "LC_MESSAGES" / page.with_suffix(".po"))
    config = merged_config()
    config["sphinx"]["config"]["locale_dirs"] = [str(out / "locales")]
    # sphinx-external-toc adds the sidebar's part captions after Sphinx has translated the
    # page: they are translated in the table of contents itself, from the root's catalogue.
    toc = read_toc()
    words = {m.id: m.string for m in read(CATALOGUES / f"{toc['root']}.po")
             if m.id and m.string and not m.fuzzy}
    for part in toc.get("parts", []):
        if part.get("caption") in words:
            part["caption"] = words[part["caption"]]
    for name, data in {"_config.yml": config, "_toc.yml": toc}.items():
        (out / name).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                                encoding="utf-8")
    jupyter_book("--all", "-W", "-n", "--keep-going", "--config", str(out / "_config.yml"),
                 "--toc", str(out / "_toc.yml"), "--path-output", str(out))
    html = out / "_build" / "html"
    for old in (site / "zh", site / "_notebooks" / "zh"):
        shutil.rmtree(old, ignore_errors=True)
    # Its reader notebooks join the English ones, in the reader-notebooks branch's layout.
    shutil.move(html / "_notebooks" / "book", site / "_notebooks" / "zh" / "book")
    shutil.rmtree(html / "_notebooks")
    shutil.move(html, site / "zh")
    shutil.rmtree(out)
    print(f"Chinese edition: {site / 'zh'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="extract the English messages and merge them into the "
                   "catalogues").add_argument("pages", nargs="*", help="e.g. book/ch2_3_cnn")
    sub.add_parser("status", help="list untranslated and fuzzy messages").add_argument(
        "--quiet", action="store_true", help="counts only")
    sub.add_parser("build", help="build the Chinese edition into SITE/zh").add_argument(
        "--site", type=Path, default=ROOT / "_build" / "html")
    args = parser.parse_args(argv)
    return (update(args.pages) if args.command == "update" else report(not args.quiet)
            if args.command == "status" else build(args.site))


if __name__ == "__main__":
    sys.exit(main())
