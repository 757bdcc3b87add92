"""Authoring tools for the book: re-execute notebooks cleanly, time them.

What several tools (and the tests) share is written here once: the table of contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"


def read_toc(path: Path = TOC) -> dict[str, Any]:
    """``_toc.yml`` as written (sphinx-external-toc's ``jb-book`` format)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"{path}: no `root` entry")
    return data


def toc_files(path: Path = TOC) -> list[str]:
    """The ``file`` entries of the table of contents in reading order (``book/intro``)."""
    data = read_toc(path)
    files = [str(data["root"])]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(str(entry["file"]))
            walk(entry.get("sections", []))

    for part in data.get("parts", []):
        walk(part.get("chapters", []))
    walk(data.get("chapters", []))
    return files
