"""Where QualityLoop keeps its data: one folder, chosen by ``QUALITYLOOP_HOME``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def data_home() -> Path:
    """The data folder (created on first use); ``./qualityloop-data`` unless overridden."""
    home = Path(os.environ.get("QUALITYLOOP_HOME", "qualityloop-data")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def secret_key(home: Path) -> str:
    """``QUALITYLOOP_SECRET_KEY`` if set, else a key generated once and kept in the data folder."""
    from_env = os.environ.get("QUALITYLOOP_SECRET_KEY")
    if from_env:
        return from_env
    key_file = home / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
