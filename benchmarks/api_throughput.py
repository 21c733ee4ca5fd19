"""API throughput on loopback against ``qualityloop serve --production``.

    /work/venv/bin/python benchmarks/api_throughput.py                 # 2,000-customer demo
    /work/venv/bin/python benchmarks/api_throughput.py --customers 100000 --clients 8

Makes the demo in a throwaway data folder (SQLite), adds a viewer with an API token, starts the
production server (gunicorn, ``--workers``) on a free port and lets ``--clients`` client
processes, each on one keep-alive connection, call an endpoint as fast as it answers for
``--seconds``: first the customer list (``/api/customers/?limit=50``, walking the pages), then
one customer (``/api/customers/<id>``, ids in turn). Prints requests per second, latency
percentiles and the server's CPU time per request (all its processes) for each. No peer: the
figures are absolute. The clients share the machine's cores with the server, so on a small
machine they take part of its capacity; the CPU time per request does not depend on that.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

QUALITYLOOP = str(Path(sys.executable).with_name("qualityloop"))
PAGE = 50
# Collecting and compressing the static files, then booting the workers, took 200 s here at a
# load average of 19 (20 s on a quiet machine).
START_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str) -> str:
    """Run the qualityloop command (environment already set); its standard output."""
    result = subprocess.run([QUALITYLOOP, *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"qualityloop {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def start_server(port: int, workers: int) -> subprocess.Popen:
    """The production server, once /healthz answers (its own log goes nowhere)."""
    server = subprocess.Popen(
        [QUALITYLOOP, "serve", "--production", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    started = time.monotonic()
    while time.monotonic() < started + START_TIMEOUT:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped:\n{server.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                print(f"server up in {time.monotonic() - started:.0f} s", flush=True)
                return server
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise SystemExit(f"the server did not answer /healthz within {START_TIMEOUT} s")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (gunicorn's master and its workers)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def server_cpu_seconds(group: int) -> float:
    """CPU seconds (user + system) used so far by the processes of the server's process group.

    Per request this is a figure that depends little on how loaded the machine is, unlike the
    requests per second. Linux only (/proc); NaN elsewhere.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # fields from state on: pgrp is the third
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK") if Path("/proc/self/stat").exists() else float("nan")


def client(port: int, token: str, paths: list[str], seconds: float, start_at: float,
           queue: multiprocessing.Queue) -> None:
    """Call the paths in turn on one keep-alive connection; report latencies in seconds."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    errors = 0
    time.sleep(max(0.0, start_at - time.time()))
    stop = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop:
        started = time.perf_counter()
        connection.request("GET", paths[i % len(paths)], headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        errors += response.status != 200
        i += 1
    queue.put((latencies, errors))


def hammer(port: int, token: str, paths_of: Callable[[int], list[str]], clients: int,
           seconds: float) -> dict:
    """Run the clients together; requests per second and latency percentiles (ms)."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 1.0  # every client connected and waiting before the clock starts
    processes = [multiprocessing.Process(target=client, args=(
        port, token, paths_of(c), seconds, start_at, queue)) for c in range(clients)]
    for process in processes:
        process.start()
    parts = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    latencies = np.concatenate([np.asarray(p[0]) for p in parts]) * 1000
    return {
        "requests": len(latencies), "errors": sum(p[1] for p in parts),
        "per_second": len(latencies) / seconds,
        **{f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 99)},
        "max": float(latencies.max()),
    }


def customer_ids(port: int, token: str, count: int) -> list[str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/api/customers/?limit={count}",
                       headers={"Authorization": f"Bearer {token}"})
    body = json.loads(connection.getresponse().read())
    return [item["external_id"] for item in body["items"]]


def prepare(home: str, customers: int) -> str:
    """Demo data and a viewer's token in the data folder ``home`` (set in the environment)."""
    os.environ["QUALITYLOOP_HOME"] = home
    os.environ["QUALITYLOOP_SECRET_KEY"] = secrets.token_urlsafe(50)
    started = time.perf_counter()
    cli("demo", "--customers", str(customers), "--no-serve", "--json")
    print(f"demo with {customers:,} customers made in {time.perf_counter() - started:.0f} s",
          flush=True)
    return json.loads(cli("user", "add", "api-bench", "--role", "viewer", "--json"))["token"]


def endpoints(customers: int, ids: list[str]) -> dict[str, Callable[[int], list[str]]]:
    """Per endpoint, the paths client c calls in turn (clients start at different places)."""
    pages = max(1, min(customers, 1000) // PAGE)
    return {
        f"list  /api/customers/?limit={PAGE}": lambda c: [
            f"/api/customers/?limit={PAGE}&offset={PAGE * ((c + k) % pages)}"
            for k in range(pages)],
        "detail /api/customers/<id>": lambda c: [
            f"/api/customers/{ids[(c * 97 + k) % len(ids)]}" for k in range(len(ids))],
    }


def measure_endpoints(port: int, token: str, server_group: int,
                      args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"server: {args.workers} gunicorn workers x 4 threads; {args.clients} clients, "
          f"{args.seconds:.0f} s per endpoint; load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}; {os.cpu_count()} cores", flush=True)
    ids = customer_ids(port, token, 1000)
    for name, paths_of in endpoints(args.customers, ids).items():
        hammer(port, token, paths_of, args.clients, 1.0)  # warm the workers up
        cpu = server_cpu_seconds(server_group)
        r = hammer(port, token, paths_of, args.clients, args.seconds)
        cpu_ms = (server_cpu_seconds(server_group) - cpu) * 1000 / r["requests"]
        print(f"{name:<32} {r['per_second']:7.0f} req/s  latency ms p50 {r['p50']:6.1f}  "
              f"p90 {r['p90']:6.1f}  p99 {r['p99']:6.1f}  max {r['max']:6.1f}  server CPU "
              f"{cpu_ms:.1f} ms/request  ({r['requests']:,} requests, {r['errors']} not 200)",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint")
    args = parser.parse_args()
    server = None
    home = tempfile.mkdtemp(prefix="qualityloop-api-bench-")
    try:
        token = prepare(home, args.customers)
        port = free_port()
        server = start_server(port, args.workers)
        measure_endpoints(port, token, server.pid, args)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
