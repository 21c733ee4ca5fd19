"""Scratch databases on the PostgreSQL server the suite runs against.

A process started by a test (``qualityloop demo``, ``qualityloop serve``) must not share the
Django test database (pytest-django owns it and empties it between tests) nor the server's
default database (parallel workers would collide there): it gets a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` (a QUALITYLOOP_DATABASE_URL) names a PostgreSQL database."""
    return bool(url) and urlsplit(url).scheme.startswith("postgres")


@contextmanager
def scratch_database(server_url: str, prefix: str = "ql_scratch") -> Iterator[str]:
    """Create an empty database on the server of ``server_url``; yield its URL; drop it.

    Parameters
    ----------
    server_url : str
        A ``postgresql://`` URL of a role allowed to create databases.
    prefix : str
        The start of the new database's name (a random suffix follows).

    Yields
    ------
    str
        The URL of the new database (``server_url`` with its path replaced).
    """
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
