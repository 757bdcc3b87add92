"""Authoring tools for the book. What several tools (and the tests) share is written here
once: the torch they install, the thread variables they set, the table of contents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
# torch goes in first as the CPU build (else pip pulls a CUDA one): the Makefile's TORCH,
# which it exports to the tools, or this default, also the Makefile's (tests/test_project).
TORCH_DEFAULT = "torch==2.13.0"
TORCH = os.environ.get("TORCH", TORCH_DEFAULT)
# The BLAS/OpenMP thread counts that move the last digits (tools.portability, tools.margins).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def read_toc(path: Path = TOC) -> dict[str, Any]:
    """``_toc.yml`` as written (sphinx-external-toc's ``jb-book`` format)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "root" not in data:
        raise ValueError(f"{path}: no `root` entry")
    return data


def toc_files(path: Path = TOC) -> list[str]:
    """The ``file`` entries of the table of contents in reading order (``book/intro``)."""
    def walk(entries: list[dict[str, Any]]) -> list[str]:
        return [name for entry in entries for name in
                [str(entry["file"])] * ("file" in entry) + walk(entry.get("sections", []))]

    data = read_toc(path)
    parts = [chapter for part in data.get("parts", []) for chapter in part.get("chapters", [])]
    return [str(data["root"]), *walk(parts + data.get("chapters", []))]
