"""qualityloop.analytics must stay usable without Django: importing it loads no django module."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import qualityloop.analytics


def analytics_modules() -> list[str]:
    return ["qualityloop.analytics"] + [
        info.name for info in pkgutil.walk_packages(qualityloop.analytics.__path__,
                                                    "qualityloop.analytics.")
    ]


def test_importing_analytics_loads_no_django():
    modules = analytics_modules()
    assert "qualityloop.analytics.retention.rfm" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "[]", result.stdout
