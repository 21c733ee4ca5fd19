"""Serve the web app.

- :func:`run` (``qualityloop serve``): waitress, one process with threads; the embedded default
  for one site on one machine.
- :func:`run_production` (``qualityloop serve --production``): several worker processes with
  threads each (gunicorn's ``gthread`` workers), static files collected into
  ``QUALITYLOOP_HOME/static`` with hashed names and served by WhiteNoise with far-future cache
  headers, the production settings (see ``settings.py``). Processes rather than only threads
  because page rendering and the pandas parts of the analytics hold Python's GIL: one process
  uses one core however many threads it has. Where gunicorn is unavailable (Windows) waitress
  serves with as many threads instead.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import socket
import threading
from collections.abc import MutableMapping
from pathlib import Path

PRODUCTION_VARIABLE = "QUALITYLOOP_PRODUCTION"
SECRET_KEY_VARIABLE = "QUALITYLOOP_SECRET_KEY"
# Few threads per process: a thread holding SQLite's write lock waits for the GIL behind the
# process's other threads at every query, and the writers queued behind it wait too (load test:
# 5 processes x 1-2 threads held 200 requests/s where 4 x 4 did not; docs/load-test.md).
THREADS_PER_WORKER = 2
# Django's deploy check rejects shorter keys or keys with fewer distinct characters.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_CHARACTERS = 5
_MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


class ServerError(Exception):
    """A problem that stops the server from starting, said in one line."""


def run(host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    """Serve with waitress in this process (the embedded default)."""
    from waitress import serve

    from qualityloop.web.page_cache import warm_up
    from qualityloop.web.wsgi import application

    # In the background: the health check answers at once, the first page finds the work done.
    threading.Thread(target=warm_up, name="qualityloop-warm-up", daemon=True).start()
    serve(application, host=host, port=port, threads=threads, ident="QualityLoop")


def production_secret_key(environ: MutableMapping[str, str] | None = None) -> str:
    """The secret key a production server must be given in ``QUALITYLOOP_SECRET_KEY``.

    Raises
    ------
    ServerError
        If it is missing, shorter than 50 characters or made of fewer than 5 distinct ones
        (a generated key in the data folder is fine for one machine, not for production,
        where it must be the same on every server and kept outside the data).
    """
    key = (os.environ if environ is None else environ).get(SECRET_KEY_VARIABLE, "").strip()
    if not key:
        raise ServerError(f"{SECRET_KEY_VARIABLE} is not set: production needs a secret key "
                          f"in the environment; make one with {_MAKE_A_KEY}")
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_CHARACTERS:
        raise ServerError(f"{SECRET_KEY_VARIABLE} is too weak: expected at least "
                          f"{MIN_SECRET_KEY_LENGTH} characters, {MIN_SECRET_KEY_CHARACTERS} of "
                          f"them different; make one with {_MAKE_A_KEY}")
    return key


def enter_production_mode(environ: MutableMapping[str, str] | None = None) -> None:
    """Check the environment and make the settings production ones; call before Django starts."""
    environ = os.environ if environ is None else environ
    production_secret_key(environ)
    environ[PRODUCTION_VARIABLE] = "1"


def default_workers() -> int:
    """Two workers per core and one more (gunicorn's rule of thumb): while one waits (for the
    database, for a client), another uses the core."""
    return 2 * (os.cpu_count() or 1) + 1


def run_production(host: str, port: int, workers: int | None = None,
                   threads: int | None = None) -> None:
    """Collect the static files and serve with ``workers`` processes of ``threads`` threads each
    (Django already set up).

    Raises
    ------
    ServerError
        Not in production mode, a bad worker count or an address that cannot be served.
    """
    if os.environ.get(PRODUCTION_VARIABLE) != "1":
        raise ServerError("call enter_production_mode() before Django starts")
    workers = default_workers() if workers is None else workers
    threads = THREADS_PER_WORKER if threads is None else threads
    if workers < 1:
        raise ServerError(f"--workers must be at least 1, got {workers}")
    if threads < 1:
        raise ServerError(f"--threads must be at least 1, got {threads}")
    _check_address(host, port)
    collect_static()
    from django.db import connections

    connections.close_all()  # workers are forked: each must open its own connections
    if importlib.util.find_spec("gunicorn") is None:
        run(host, port, threads=workers * threads)
    else:
        _run_gunicorn(host, port, workers, threads)


STATIC_FINGERPRINT = ".qualityloop-static"


def collect_static() -> bool:
    """Copy the static files into STATIC_ROOT with hashed names and compressed copies, unless
    the files there came from exactly these sources (compressing them, with brotli when it is
    installed, costs tens of seconds of CPU at every start otherwise). True when it collected."""
    from django.conf import settings
    from django.core.management import call_command

    marker = Path(settings.STATIC_ROOT) / STATIC_FINGERPRINT
    fingerprint = _static_sources_fingerprint()
    if marker.is_file() and marker.read_text() == fingerprint:
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    marker.write_text(fingerprint)
    return True


def _static_sources_fingerprint() -> str:
    """A digest of every static source file's path, size and modification time, and of the
    storage that collects them."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256(str(settings.STORAGES["staticfiles"]).encode())
    for finder in get_finders():
        for path, storage in finder.list([]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _check_address(host: str, port: int) -> None:
    """Fail at once, with the reason, when the address cannot be bound (gunicorn retries)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as problem:
        raise ServerError(f"cannot serve on {host}:{port}: {problem.strerror or problem}; "
                          "choose another with --port") from None


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _prepare_worker(worker) -> None:
    """Each worker starts its chart renderer (its threads do not survive a fork); the first
    worker started also fills the daily figures the pages share through the page cache."""
    from qualityloop.web.page_cache import warm_up

    warm_up(charts=True, figures=worker.age == 1)


def _freeze_imported_objects() -> None:
    """Keep what was imported before forking out of the garbage collector's sight.

    The code, Django and the analytics libraries are several hundred thousand objects that live
    as long as the process; without this every full collection in a worker walks all of them
    (measured: 7 % of a request mix's CPU, 2 % after), and walking them touches the pages the
    workers share with the parent, so each worker ends up with its own copy."""
    gc.collect()
    gc.freeze()


def _run_gunicorn(host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    from qualityloop.web.page_cache import warm_up
    from qualityloop.web.wsgi import application

    warm_up(charts=False, figures=False)  # the views, imported once before forking
    _freeze_imported_objects()
    options = {
        "bind": _bind_address(host, port),
        "post_worker_init": _prepare_worker,
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # Loaded once before forking: the workers share the code and start at once.
        "preload_app": True,
        # Report pages and model fits can take tens of seconds on a big site.
        "timeout": 120,
        "graceful_timeout": 30,
        # Idle keep-alive connections stay open 10 s (gunicorn's default is 2 s): a client that
        # sends its next request just as the server closes the connection gets a reset, and a
        # POST is not retried by most clients (9 of the load test's creates failed so at 2 s).
        "keepalive": 10,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "qualityloop",
    }

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            # gunicorn >= 25 opens a control socket in ~/.gunicorn by default; not needed here,
            # and two servers of one user would share its path.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return application

    Gunicorn().run()
