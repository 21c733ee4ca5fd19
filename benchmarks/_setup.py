"""Shared start-up for the benchmark scripts: a throwaway data folder and a migrated database."""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path


def django_in_temp_home() -> str:
    """Point QUALITYLOOP_HOME at a fresh folder, start Django and migrate; returns the folder."""
    home = tempfile.mkdtemp(prefix="qualityloop-bench-")
    os.environ["QUALITYLOOP_HOME"] = home
    from qualityloop.web.bootstrap import setup

    setup()
    return home


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux's VmHWM (the high-water mark of this program's own memory) where it exists: unlike
    ``ru_maxrss`` it does not carry over the parent's peak into a child started with
    fork/vfork + exec, which would make every child look as big as its parent.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
