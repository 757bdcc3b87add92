"""What several test modules share: the built site, skipping outside CI, the glossary, a spy."""

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CJK = re.compile(r"[\u4e00-\u9fff]")
IS_TERM = re.compile(r"^[^\s:]")  # in the glossary directive: a term, not a definition


def unavailable(reason: str) -> None:
    """Skip, saying why; under CI (``CI=true``, as ``.ci/run`` sets) fail instead."""
    if IN_CI:
        pytest.fail(f"{reason} (under CI this test must run)")
    pytest.skip(reason)


def built(path: Path = SITE / "index.html") -> Path:
    """A file of the built site, unavailable (see above) where it is missing."""
    if not path.is_file():
        unavailable(f"{path.relative_to(ROOT)} is missing: run `make book` first")
    return path


def glossary_lines() -> list[str]:
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    return text.split("```{glossary}")[1].split("```")[0].splitlines()


def glossary_term_lines() -> list[str]:
    """Every term of the glossary, English or Chinese ({term} roles may name any)."""
    return [line.strip() for line in glossary_lines() if IS_TERM.match(line)]


def glossary_terms() -> list[tuple[str, str]]:
    """(English, Chinese) pairs of book/glossary.md: a term line, then its Chinese line."""
    return [(en, zh) for en, zh in itertools.pairwise(glossary_lines())
            if IS_TERM.match(en) and IS_TERM.match(zh)]


@contextmanager
def learning_rates(optimizer: type[torch.optim.Optimizer]) -> Iterator[list[float]]:
    """Record the learning rate of every ``optimizer.step`` taken inside the block."""
    seen: list[float] = []
    step = optimizer.step

    def spy(self: torch.optim.Optimizer, *args: object, **kwargs: object) -> object:
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(optimizer, "step", spy)
        yield seen
