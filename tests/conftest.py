"""Shared test fixtures.

The test settings (qualityloop.web.settings_test) give every test process its own throwaway
QUALITYLOOP_HOME, so tests never touch a real data folder.
"""

# The browser tests' session fixtures (served demo, chromium).
pytest_plugins = ["browser_support"]
