"""Shared test fixtures. Every test gets its own QUALITYLOOP_HOME (see pytest_configure)."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    # Settings read QUALITYLOOP_HOME at import; point it at a throwaway folder before that.
    if "QUALITYLOOP_HOME" not in os.environ or os.environ.get("CI"):
        os.environ["QUALITYLOOP_HOME"] = tempfile.mkdtemp(prefix="qualityloop-test-")
