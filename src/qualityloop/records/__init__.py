"""Django apps holding the quality records, one app per domain."""
