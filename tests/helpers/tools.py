"""Programs the tests run that scripts/setup.sh installs (sysdig, promtool, openssl, ...).
A missing one fails the test with what to install: it is a broken setup, not a reason to
skip (CI runs the suite after setup.sh)."""

from __future__ import annotations

import shutil
from typing import NoReturn

import pytest


def missing(what: str, package: str) -> NoReturn:
    """Fail the test: ``what`` (from the Debian ``package``) is not installed."""
    pytest.fail(
        f"{what} is not installed (Debian package {package}, in scripts/apt-packages.txt):"
        " run scripts/setup.sh",
        pytrace=False,
    )


def require_tool(binary: str, package: str) -> str:
    """The path of ``binary``; the test fails naming the Debian ``package`` when absent."""
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        missing(binary, package)
    return path
