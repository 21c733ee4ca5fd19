"""Fixtures shared by the analytics tests."""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[ibis.BaseBackend]:
    """One local PySpark session for the whole test session (it takes 5-10 s to start);
    stopped at the end. Only the ``-m spark`` tests ask for it."""
    from qualityloop.analytics import engine

    connection = engine.connect("pyspark")
    yield connection
    connection.disconnect()
