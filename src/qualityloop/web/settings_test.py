"""Settings for the test suite: fast password hashing, a throwaway data folder."""

import atexit
import os
import shutil
import tempfile

# pytest-django imports settings before any conftest hook runs, so the data folder is chosen
# here: a run never touches ./qualityloop-data.
_TEST_HOME = tempfile.mkdtemp(prefix="qualityloop-test-")
os.environ["QUALITYLOOP_HOME"] = _TEST_HOME
atexit.register(shutil.rmtree, _TEST_HOME, ignore_errors=True)

from qualityloop.web.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# django-axes needs the request, which the test client's login() does not pass; the login rate
# limit is switched on where it is tested (tests/test_security_rules.py).
AXES_ENABLED = False
# Jobs run inside the request that starts them (tests/test_jobs*.py try the thread and the queue).
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# The test database lives in memory (one connection, nothing to queue), and pytest-django gives
# each xdist worker its own only when it recognises Django's SQLite engine by name; the writer
# queue of the default engine is tested on files of its own (tests/test_sqlite_writer_queue.py).
if DATABASES["default"]["ENGINE"] == "qualityloop.web.sqlite":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "django.db.backends.sqlite3"  # noqa: F405
