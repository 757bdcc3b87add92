"""The browser tests' shared fixtures: the built site served locally, and Chromium."""

from collections.abc import Iterator

import pytest
from common import SITE, built, unavailable
from playwright.sync_api import Browser

from tools import pdf


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    built()
    with pdf.serve(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if pdf.chromium_path() is None:
        unavailable("Chromium not found: install Debian's `chromium` package to run this test")
    with pdf.chromium() as b:
        yield b
