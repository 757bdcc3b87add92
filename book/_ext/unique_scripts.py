"""Sphinx extension: emit each page script once.

sphinx-thebe registers its inline configuration script from a read-phase event,
so Jupyter Book 1 pages carry it twice; the second ``const THEBE_JS_URL`` then
throws a SyntaxError in every reader's browser. Until that is fixed upstream,
drop repeated scripts (same file, or same inline body) when a page is rendered.
"""

from __future__ import annotations

from typing import Any


def _identity(script: Any) -> tuple[str, str]:
    filename = getattr(script, "filename", None)
    if filename:
        return ("file", str(filename))
    return ("inline", str(getattr(script, "attributes", {}).get("body", "")))


def drop_repeated_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                          doctree: Any) -> None:
    scripts = context.get("script_files") or []
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        key = _identity(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
