"""Shared start-up for the benchmark scripts: a throwaway data folder and a migrated database."""

from __future__ import annotations

import os
import resource
import tempfile


def django_in_temp_home() -> str:
    """Point QUALITYLOOP_HOME at a fresh folder, start Django and migrate; returns the folder."""
    home = tempfile.mkdtemp(prefix="qualityloop-bench-")
    os.environ["QUALITYLOOP_HOME"] = home
    from qualityloop.web.bootstrap import setup

    setup()
    return home


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
