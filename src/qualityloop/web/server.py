"""Serve the web app with waitress (a production-grade, pure-Python WSGI server)."""

from __future__ import annotations


def run(host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    from waitress import serve

    from qualityloop.web.wsgi import application

    serve(application, host=host, port=port, threads=threads, ident="QualityLoop")
