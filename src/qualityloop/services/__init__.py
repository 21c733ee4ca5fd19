"""Use cases: read records, call analytics, import/export, demo. Called by the CLI and the web."""
