"""Background jobs: the record of each job (who, what, state, progress, result, error) and the
django-tasks backend that runs them in a thread of the web process (the embedded default)."""
