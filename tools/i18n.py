"""The Chinese edition: one set of notebooks, the prose translated through gettext.

    python -m tools.i18n update               # after editing English text (make translations)
    python -m tools.i18n status               # what is left to translate; exit 1 if anything
    python -m tools.i18n build --site _build/html   # Chinese site into _build/html/zh (make book)

Sphinx's gettext builder cuts every page into messages (a paragraph, a heading, a
list item, an admonition's title, a figure caption), each one MyST source, so glue
roles, ``{term}`` and ``{cite}`` roles and inline maths stay in the message and are
kept in its translation. ``update`` writes them to one catalogue per page,
``book/locales/zh_CN/LC_MESSAGES/<page>.po``, merging into what is already
translated: a changed English paragraph turns its entry *fuzzy* (the old English
is kept beside it as ``#| msgid``), a new one arrives empty, a removed one goes.
The translator fills in ``msgstr`` and deletes the ``#, fuzzy`` flag.

Code cells and their outputs are never copied: the Chinese pages are built from
the same notebooks, with ``language: zh_CN`` and the overrides in
``book/locales/zh_CN/_config.yml`` (title, footer) merged into ``_config.yml``.
Sphinx compiles the catalogues itself when it builds.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from tools import ROOT, read_toc

LANGUAGE = "zh_CN"
LOCALES = ROOT / "book" / "locales"
CATALOGUES = LOCALES / LANGUAGE / "LC_MESSAGES"
OVERRIDES = LOCALES / LANGUAGE / "_config.yml"
SUBDIR = "zh"  # where the Chinese edition sits in the site
WORK = ROOT / "_build" / "i18n"
PROJECT = "Pattern Recognition course book"
HEADER = """\
# Chinese (zh_CN) translation of the page {page} of the course book
# "Pattern Recognition: from Gaussian processes to medical image segmentation".
# After editing the English page: `make translations`, then translate every
# empty msgstr and every #, fuzzy entry here (README, "Translations")."""

# What a translation must carry over unchanged: glued numbers, citations,
# cross-references and maths (each kept as MyST source in the message).
KEPT = {
    "glue roles": re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),
    "citations": re.compile(r"\{cite(?::\w+)?\}`[^`]*`"),
    "page links": re.compile(r"\{(?:doc|ref|numref|eq)\}`(?:[^`<]*<)?([^`<>]*)>?`"),
    "maths": re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S),
}
TERM = re.compile(r"\{term\}`([^`]*)`")


def jupyter_book() -> str:
    return str(Path(sys.executable).with_name("jupyter-book"))


def extract() -> Path:
    """Run Sphinx's gettext builder; return the folder of .pot templates."""
    out = WORK / "pot"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([jupyter_book(), "build", str(ROOT), "--builder", "custom",
                    "--custom-builder", "gettext", "--path-output", str(out), "-W", "-n",
                    "--quiet"],
                   check=True)
    return out / "_build" / "gettext"


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        catalog = read_po(f, locale=LANGUAGE)
    for message in catalog:
        # Babel reads a fuzzy entry's `#| msgid "..."` (the English it was translated
        # from) back as a comment; restore it as the previous msgid.
        # Babel wraps it over several `#|` lines, at spaces.
        previous = [c for c in message.user_comments if c.startswith("| ")]
        if previous and previous[0].startswith("| msgid "):
            message.user_comments = [c for c in message.user_comments if c not in previous]
            text = " ".join(c[2:].strip() for c in previous)[len("msgid "):]
            message.previous_id = [ast.literal_eval(text)]
    return catalog


def write(catalog: Catalog, path: Path) -> None:
    for message in catalog:
        # Babel marks a message with a "%" or "{...}" as python-(brace-)format (msgfmt would
        # then check it); a multi-line previous msgid does not read back cleanly.
        message.flags -= {"python-format", "python-brace-format"}
        message.previous_id = [" ".join(str(p).split()) for p in message.previous_id]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        # No source locations, obsolete entries dropped: diffs show text, not line numbers.
        write_po(f, catalog, width=0, no_location=True, omit_header=False,
                 ignore_obsolete=True, include_previous=True)


def catalogue_for(template: Path, templates: Path) -> Path:
    return (CATALOGUES / template.relative_to(templates)).with_suffix(".po")


def update(pages: list[str] | None = None) -> int:
    """Merge the English messages into the catalogues (of ``pages`` only, if given:
    e.g. ``book/ch2_3_cnn``), then list what needs translating."""
    templates = extract()
    wanted = set()
    for template_path in sorted(templates.rglob("*.pot")):
        if template_path.name == "sphinx.pot" or template_path.parent.name == "_static":
            continue
        po_path = catalogue_for(template_path, templates)
        wanted.add(po_path)
        page = str(po_path.relative_to(CATALOGUES).with_suffix(""))
        if pages and page not in pages:
            continue
        template = read(template_path)
        if po_path.exists():
            catalog = read(po_path)
        else:
            catalog = Catalog(locale=LANGUAGE, fuzzy=False, header_comment=HEADER.format(
                page=po_path.relative_to(CATALOGUES).with_suffix("")))
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False,
                       update_creation_date=False)
        catalog.project, catalog.version = PROJECT, ""
        catalog.fuzzy = False
        write(catalog, po_path)
    for stale in set(CATALOGUES.rglob("*.po")) - wanted if not pages else ():
        print(f"removed {stale.relative_to(ROOT)} (its page is gone)")
        stale.unlink()
    return report()


def pending(catalog: Catalog) -> tuple[list[str], list[str]]:
    """(untranslated, fuzzy) message ids of a catalogue."""
    untranslated, fuzzy = [], []
    for message in catalog:
        if not message.id:
            continue  # the header
        if message.fuzzy:
            fuzzy.append(str(message.id))
        elif not message.string:
            untranslated.append(str(message.id))
    return untranslated, fuzzy


def term_target(role_text: str) -> str:
    """The glossary entry a ``{term}`` role points to: ``text <target>`` or ``text``."""
    match = re.fullmatch(r"(?s).*<([^<>]+)>\s*", role_text)
    return (match.group(1) if match else role_text).strip().lower()


def problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation lost or changed of what must stay (empty: fine)."""
    found = []
    for what, pattern in KEPT.items():
        # Page links compare by target: their text (`text <target>`) is translated.
        source, target = sorted(pattern.findall(msgid)), sorted(pattern.findall(msgstr))
        if source != target:
            missing = [x for x in source if x not in target]
            extra = [x for x in target if x not in source]
            found.append(f"{what} differ: missing {missing}, added {extra}")
    return found


def report(verbose: bool = True) -> int:
    """Print, per catalogue, what needs translating; 1 if anything does."""
    left = 0
    for po_path in sorted(CATALOGUES.rglob("*.po")):
        untranslated, fuzzy = pending(read(po_path))
        total = len(untranslated) + len(fuzzy)
        left += total
        if total:
            print(f"{po_path.relative_to(ROOT)}: {len(untranslated)} untranslated, "
                  f"{len(fuzzy)} fuzzy")
            if verbose:
                for text in fuzzy + untranslated:
                    print(f"    {text[:100]}")
    print("all catalogues translated" if not left else f"{left} messages to translate")
    return int(left > 0)


def merged_config() -> dict[str, Any]:
    """_config.yml with the Chinese edition's overrides merged in (nested keys too)."""
    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in extra.items():
            nested = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge(out[key], value) if nested else value
        return out

    base = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config = merge(base, yaml.safe_load(OVERRIDES.read_text(encoding="utf-8")))
    # Jupyter Book finds local extensions relative to the config file, which is written elsewhere.
    extensions = config["sphinx"].get("local_extensions") or {}
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path)
                                            for name, path in extensions.items()}
    return config


GLUE_ROLE = re.compile(r"(\{glue(?::\w+)?\}`)([^`]*)`")


def glue_by_path(text: str, notebook: str) -> str:
    """``{glue:text}`key:.3f``` as ``{glue:text}`page.ipynb::key:.3f```.

    Sphinx parses a translated message as a document of its own, where myst-nb
    finds no glue data under a bare key; with the notebook's path in front it
    reads the value from that notebook's stored outputs, as a glue role from
    another page would.
    """
    def qualify(match: re.Match[str]) -> str:
        role, key = match.groups()
        if "::" in key:
            return match.group(0)
        if role.startswith("{glue:text}") and ":" not in key:
            key += ":s"  # the role's default format, spelt out: the path adds colons
        return f"{role}{notebook}::{key}`"

    return GLUE_ROLE.sub(qualify, text)


def build_catalogues(into: Path) -> Path:
    """The catalogues as Sphinx reads them: glue roles by path (``glue_by_path``)."""
    for po_path in CATALOGUES.rglob("*.po"):
        catalog = read(po_path)
        page = po_path.relative_to(CATALOGUES).with_suffix(".ipynb")
        if (ROOT / page).is_file():
            for message in catalog:
                if message.id and message.string:
                    message.string = glue_by_path(str(message.string), page.name)
        write(catalog, into / LANGUAGE / "LC_MESSAGES" / po_path.relative_to(CATALOGUES))
    return into


def translated_toc(into: Path) -> Path:
    """``_toc.yml`` with its part captions translated (from the root page's catalogue).

    sphinx-external-toc adds the sidebar's captions after Sphinx has translated
    the page, so they are translated here, in the table of contents itself.
    """
    toc = read_toc()
    catalog = read(CATALOGUES / f"{toc['root']}.po")
    words = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    for part in toc.get("parts", []):
        if part.get("caption") in words:
            part["caption"] = words[part["caption"]]
    path = into / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def build(site: Path) -> int:
    """Build the Chinese edition from the same notebooks into ``site/zh``."""
    WORK.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="zh-", dir=WORK))
    config_data = merged_config()
    config_data["sphinx"]["config"]["locale_dirs"] = [str(build_catalogues(out / "locales"))]
    config = out / "_config.yml"
    config.write_text(yaml.safe_dump(config_data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    subprocess.run([jupyter_book(), "build", str(ROOT), "--all", "-W", "-n", "--keep-going",
                    "--config", str(config), "--toc", str(translated_toc(out)),
                    "--path-output", str(out)], check=True)
    target = site / SUBDIR
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(out / "_build" / "html", target)
    # Its reader notebooks join the English ones, in the reader-notebooks branch's layout.
    shutil.rmtree(site / "_notebooks" / "zh", ignore_errors=True)
    shutil.move(target / "_notebooks" / "book", site / "_notebooks" / "zh" / "book")
    shutil.rmtree(target / "_notebooks")
    shutil.rmtree(out)
    print(f"Chinese edition: {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update",
                        help="extract the English messages and merge them into the catalogues")
    up.add_argument("pages", nargs="*", help="only these pages' catalogues, e.g. book/ch2_3_cnn")
    status = sub.add_parser("status", help="list untranslated and fuzzy messages")
    status.add_argument("--quiet", action="store_true", help="counts only")
    b = sub.add_parser("build", help="build the Chinese edition into SITE/zh")
    b.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    args = parser.parse_args(argv)
    if args.command == "update":
        return update(args.pages or None)
    if args.command == "status":
        return report(verbose=not args.quiet)
    return build(args.site)


if __name__ == "__main__":
    sys.exit(main())
