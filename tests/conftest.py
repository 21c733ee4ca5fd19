"""Shared test fixtures.

The test settings (qualityloop.web.settings_test) give every test process its own throwaway
QUALITYLOOP_HOME, so tests never touch a real data folder.
"""
