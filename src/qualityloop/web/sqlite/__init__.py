"""The SQLite database backend: Django's, with writers queued in line (see ``base``)."""
