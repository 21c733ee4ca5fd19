"""Run the load test end to end and say whether the site held the load without losing anything.

1. Builds the demo organisation (SQLite, the embedded default) in a fresh data folder, issues API
   tokens to the demo's admin, quality manager, unit lead, staff and viewer, and prepares the
   records that concurrent users will update.
2. Starts the production server as a user runs it (``qualityloop serve --production``: gunicorn,
   worker processes with threads) on a free loopback port, and warms it up (not measured).
3. Runs locust headless (``loadtest/locustfile.py``) at ``--rate`` requests/s for ``--seconds``.
4. Checks the database against what the server acknowledged: every create answered 201 exists,
   every acknowledged PATCH of a column is there, every tag appended with ``If-Match`` is there
   exactly once, and each record's history has one version per acknowledged write.

Prints locust's table (requests, failures, p50/p95/p99 per request type) and the checks; exits 1
on any failed request, any lost write, or an achieved rate under ``--min-share`` of the target.

    python loadtest/run.py --rate 200 --seconds 60        # scripts/load-test.sh
    python loadtest/run.py --rate 150 --seconds 12 --json result.json
"""

from __future__ import annotations

import argparse
import csv
import http.cookiejar
import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bodies import APPEND_TRIES, PREFIX, SHARES, nonconformance, record_id  # noqa: E402

# Requests per second one simulated user sends (the rate is split into users of this pace): low,
# so that a user waiting up to two seconds for an answer still keeps its pace. Each user waits for
# its answer before the next request, so with a faster pace a slow server would slow its own load
# down and hide that it could not keep up.
PER_USER_RATE = 0.5
HOT_RECORDS = 4
# The rate must hold in every stretch of this many seconds, not only on average.
WINDOW_SECONDS = 10
SERVER_START_TIMEOUT = 600  # collectstatic compresses every static file (brotli when installed)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="target requests/s")
    parser.add_argument("--seconds", type=int, default=60, help="how long to hold the rate")
    parser.add_argument("--customers", type=int, default=300, help="demo size")
    parser.add_argument("--workers", type=int, default=None,
                        help="server worker processes (default: the server's, 2 per core + 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per server worker process (default: the server's, 2)")
    parser.add_argument("--min-share", type=float, default=0.9,
                        help="fail when the achieved rate is below this share of --rate")
    parser.add_argument("--home", type=Path, default=None,
                        help="data folder to use (default: a temporary one, removed after)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when it held the rate with no error and nothing lost."""
    args = parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="qualityloop-load-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, home)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


def run(args: argparse.Namespace, home: Path) -> dict:
    """Prepare, serve, load, check; the figures and problems as one dict."""
    os.environ["QUALITYLOOP_HOME"] = str(home)
    os.environ.pop("QUALITYLOOP_DATABASE_URL", None)  # the embedded default: SQLite
    config = prepare(home, args.rate, args.customers)
    with serving(home, args.workers, args.threads) as (url, server_pid):
        config["sessions"] = log_in_everyone(url, config["logins"])
        (home / "loadtest.json").write_text(json.dumps(config))
        warm_up(url, config)
        started = time.monotonic()
        server_cpu = cpu_seconds(server_pid)
        stats = run_locust(url, home, config, args.seconds)
        server_cpu = cpu_seconds(server_pid) - server_cpu
        elapsed = time.monotonic() - started
    ledger = json.loads(Path(config["ledger"]).read_text())
    problems = check(config, ledger)
    total = stats["Aggregated"]
    achieved = total["requests"] / args.seconds
    # Re-reads and re-writes after a 412 are real requests, served in full; the rate of the
    # users' own paced requests is given beside the total.
    again = sum(row["requests"] for name, row in stats.items() if "again after 412" in name)
    failures = total["failures"] + stats.get("_exceptions", 0)
    if achieved < args.min_share * args.rate:
        problems.append(f"achieved {achieved:.1f} req/s, under {args.min_share:.0%} of the "
                        f"target {args.rate:g}")
    lowest = stats["_lowest_window_rate"]
    if lowest is not None and lowest < args.min_share * args.rate:
        problems.append(f"achieved {lowest:.1f} req/s in its slowest {WINDOW_SECONDS} s, under "
                        f"{args.min_share:.0%} of the target {args.rate:g}")
    return {
        "target_rate": args.rate, "seconds": args.seconds, "achieved_rate": round(achieved, 1),
        "locust_seconds": round(elapsed, 1), "requests": total["requests"],
        "lowest_window_rate": lowest, "window_seconds": WINDOW_SECONDS,
        "requests_again_after_412": again,
        "paced_rate": round((total["requests"] - again) / args.seconds, 1),
        "failures": failures, "p50_ms": total["p50"], "p95_ms": total["p95"],
        "p99_ms": total["p99"], "stats": stats,
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, total["requests"]), 2),
        "locust_cpu_ms_per_request": round(1000 * stats["_cpu_seconds"]
                                           / max(1, total["requests"]), 2),
        "users": config["users"],
        "creates": len(ledger["created"]), "conflicts_412": ledger["conflicts"],
        "appends": sum(len(tags) for tags in ledger["appended"].values()),
        "gave_up": ledger["gave_up"], "unanswered": len(ledger["pending"]),
        "problems": problems, "machine": machine(),
        "passed": failures == 0 and not problems,
    }


# --- 1. the site ---------------------------------------------------------------------------------

def prepare(home: Path, rate: float, customers: int) -> dict:
    """Demo data, tokens per role, the records to update; the locustfile's config."""
    from qualityloop.web import bootstrap

    bootstrap.setup()
    from django.db import connections

    from qualityloop.records.customers.models import Customer
    from qualityloop.records.organisation.models import OrgUnit
    from qualityloop.records.quality.models import Nonconformance
    from qualityloop.services.demo import generate_demo
    from qualityloop.services.record_kinds import get_kind
    from qualityloop.services.record_writer import write_record
    from qualityloop.services.users import issue_token

    summary = generate_demo(n_customers=customers)
    logins = [summary.login, summary.viewer_login, *summary.role_logins]
    by_role = {"admin": summary.login["username"], "viewer": summary.viewer_login["username"]}
    by_role.update({who["role"]: who["username"] for who in summary.role_logins})
    tokens = {role: issue_token(name, "load-test") for role, name in by_role.items()}
    run_id = secrets.token_hex(2)
    users = user_counts(rate)
    units = list(OrgUnit.objects.order_by("external_id").values_list("external_id", flat=True))
    nc = get_kind("nonconformances")
    shared = [record_id(run_id, "SHARED", i) for i in range(users["OwnFieldUpdater"] // 2)]
    hot = [record_id(run_id, "HOT", i) for i in range(HOT_RECORDS)]
    for external_id in shared + hot:
        write_record(nc, nonconformance(external_id, units[0]))
    config = {
        "run": run_id, "rate": rate, "users": users, "tokens": tokens, "units": units,
        "logins": [[who["username"], who["password"]] for who in logins],
        "customers": sample(Customer, 200), "nonconformances": sample(Nonconformance, 300),
        "shared": shared, "hot": hot, "ledger": str(home / "ledger.json"),
    }
    (home / "loadtest.json").write_text(json.dumps(config))
    connections.close_all()  # the server's processes take over the database
    return config


def user_counts(rate: float) -> dict[str, int]:
    """Simulated users per class, each at about PER_USER_RATE requests/s of its class's share
    (SHARES in the locustfile); pairs of OwnFieldUpdater share a record."""
    counts = {name: max(2, math.ceil(rate * share / PER_USER_RATE))
              for name, share in SHARES.items()}
    counts["OwnFieldUpdater"] += counts["OwnFieldUpdater"] % 2
    return counts


def sample(model, size: int) -> list[str]:
    ids = list(model.objects.order_by("external_id").values_list("external_id", flat=True))
    step = max(1, len(ids) // size)
    return ids[::step][:size]


# --- 2. the server -------------------------------------------------------------------------------

@contextmanager
def serving(home: Path, workers: int | None,
            threads: int | None = None) -> Iterator[tuple[str, int]]:
    """``qualityloop serve --production`` on a free loopback port until the block ends; its URL
    and process id."""
    port = free_port()
    env = {**os.environ, "QUALITYLOOP_HOME": str(home), "QUALITYLOOP_LOG_LEVEL": "WARNING",
           "QUALITYLOOP_SECRET_KEY": secrets.token_urlsafe(50)}
    command = [sys.executable, "-c", "from qualityloop.cli import app; app()", "serve",
               "--production", "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, server, home)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its living children (the server's
    workers)."""
    import psutil  # locust's dependency

    total = 0.0
    process = psutil.Process(pid)
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen, home: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server stopped: " + server_errors(home))
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT} s")


def server_errors(home: Path) -> str:
    """The server log without gunicorn's access lines."""
    lines = (home / "server.log").read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if '" 200 ' not in line)[-4000:]


def log_in_everyone(url: str, logins: list[list[str]]) -> list[str]:
    """A session cookie per demo login, made through the login form before the measurement:
    checking a password costs a few hundred ms of CPU by design (PBKDF2), and twenty people
    logging in at the start of the minute measured the password hasher, not the site. Browser
    users share these sessions (one person, several tabs)."""
    sessions = []
    for username, password in logins:
        jar = http.cookiejar.CookieJar()
        logged_in(url, username, password, jar)
        cookie = next((c for c in jar if c.name == "sessionid"), None)
        if cookie is None:
            raise RuntimeError(f"logging in as {username} gave no session")
        sessions.append(f"sessionid={cookie.value}")
    return sessions


def warm_up(url: str, config: dict) -> None:
    """Each worker loads what its first requests need (imports, the dashboard's cached figures)
    before the measurement starts."""
    token = config["tokens"]["viewer"]
    api = ["/api/nonconformances/?limit=20", "/api/customers/?limit=20",
           "/api/complaints/?limit=20", "/api/process-measurements/?limit=50",
           f"/api/customers/{config['customers'][0]}", "/api/me"]
    pages = ["/", "/records/nonconformances/", f"/records/customers/{config['customers'][0]}/"]
    browser = logged_in(url, *config["logins"][0])

    def get(path: str) -> None:
        if path.startswith("/api/"):
            request = urllib.request.Request(url + path,
                                             headers={"Authorization": f"Bearer {token}"})
            opened = urllib.request.urlopen(request, timeout=300)
        else:
            opened = browser.open(url + path, timeout=300)
        with opened as answer:
            answer.read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, (api + pages) * 6))


def logged_in(url: str, username: str, password: str,
              jar: http.cookiejar.CookieJar | None = None) -> urllib.request.OpenerDirector:
    """A client with a session cookie (kept in ``jar``), logged in through the login form."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar if jar is not None else http.cookiejar.CookieJar()))
    with browser.open(f"{url}/login/", timeout=300) as page:
        form = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    body = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token.group(1) if token else ""})
    with browser.open(f"{url}/login/", data=body.encode(), timeout=300) as answer:
        answer.read()
    return browser


# --- 3. the load ---------------------------------------------------------------------------------

def run_locust(url: str, home: Path, config: dict, seconds: int) -> dict:
    """locust headless at the configured rate; its statistics by request name."""
    users = sum(config["users"].values())
    prefix = home / "locust"
    command = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
               "--host", url, "--users", str(users), "--spawn-rate", str(users),
               "--run-time", f"{seconds}s", "--stop-timeout", "30", "--csv", str(prefix),
               "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "LOADTEST_CONFIG": str(home / "loadtest.json"),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    before = os.times()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=HERE)
    after = os.times()
    if not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust did not run: {done.stderr[-4000:]}")
    stats = read_stats(Path(f"{prefix}_stats.csv"))
    stats["_lowest_window_rate"] = lowest_window_rate(Path(f"{prefix}_stats_history.csv"))
    stats["_cpu_seconds"] = ((after.children_user + after.children_system)
                             - (before.children_user + before.children_system))
    stats["_exceptions"] = count_rows(Path(f"{prefix}_exceptions.csv"))
    stats["_failures"] = read_failures(Path(f"{prefix}_failures.csv"))
    return stats


def lowest_window_rate(path: Path, window: int | None = None) -> float | None:
    """The lowest rate (requests/s) over any ``window`` seconds while all users ran, from
    locust's per-second history of the total request count; None when that was shorter."""
    window = window or WINDOW_SECONDS
    if not path.exists():
        return None
    with path.open(newline="") as table:
        rows = [row for row in csv.DictReader(table) if row["Name"] == "Aggregated"]
    # While every user runs: not the second they start in, nor the stop (users leaving).
    full = max((int(row["User Count"]) for row in rows), default=0)
    seen = [(int(row["Timestamp"]), int(row["Total Request Count"]))
            for row in rows if int(row["User Count"]) == full]
    rates = []
    for i, (start, count) in enumerate(seen):
        later = next(((t, c) for t, c in seen[i:] if t - start >= window), None)
        if later is None:
            break
        rates.append((later[1] - count) / (later[0] - start))
    return round(min(rates), 1) if rates else None


def read_stats(path: Path) -> dict:
    rows = {}
    with path.open(newline="") as table:
        for row in csv.DictReader(table):
            name = row["Name"] if row["Type"] else "Aggregated"
            rows[name] = {
                "method": row["Type"], "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]), "p50": _ms(row["50%"]),
                "p95": _ms(row["95%"]), "p99": _ms(row["99%"]),
                "max": _ms(row["Max Response Time"]), "rps": float(row["Requests/s"]),
            }
    return rows


def _ms(value: str) -> float:
    return float(value) if value not in ("", "N/A") else float("nan")


def count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(newline="") as table:
        return sum(int(row.get("Count", 1) or 1) for row in csv.DictReader(table))


def read_failures(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(newline="") as table:
        return [f"{row['Method']} {row['Name']}: {row['Error']} ({row['Occurrences']}x)"
                for row in csv.DictReader(table)]


# --- 4. nothing lost -----------------------------------------------------------------------------

def check(config: dict, ledger: dict) -> list[str]:
    """What the server acknowledged against what the database holds; one line per problem."""
    from django.db import connections

    from qualityloop.records.quality.models import Nonconformance
    from qualityloop.services.record_kinds import get_kind

    problems = check_creates(get_kind, config["run"], ledger["created"])
    for record, columns in ledger["own_updates"].items():
        stored = Nonconformance.objects.get(external_id=record)
        for column, value in columns.items():
            unanswered = {float(v) for r, c, v in ledger["pending"] if (r, c) == (record, column)}
            if float(getattr(stored, column)) not in {float(value), *unanswered}:
                problems.append(f"lost update: {record}.{column} is {getattr(stored, column)}, "
                                f"the last acknowledged PATCH set {value}")
    problems += check_appends(Nonconformance, config["hot"], ledger)
    problems += check_history(Nonconformance, config, ledger)
    connections.close_all()
    return problems


def check_creates(get_kind, run_id: str, created: list[list[str]]) -> list[str]:
    """Every create answered 201 exists; nothing the run wrote exists unacknowledged."""
    problems = []
    by_kind: dict[str, set[str]] = {}
    for kind_name, external_id in created:
        by_kind.setdefault(kind_name, set()).add(external_id)
    for kind_name, acknowledged in by_kind.items():
        model = get_kind(kind_name).model
        stored = set(model.objects.filter(external_id__startswith=f"{PREFIX}{run_id}-")
                     .values_list("external_id", flat=True))
        missing = acknowledged - stored
        if missing:
            problems.append(f"{len(missing)} acknowledged {kind_name} creates are missing, "
                            f"e.g. {sorted(missing)[:3]}")
        if len(acknowledged) != len([x for kind, x in created if kind == kind_name]):
            problems.append(f"an external id of {kind_name} was acknowledged twice")
    return problems


def check_appends(model, hot: list[str], ledger: dict) -> list[str]:
    """Each tag appended with If-Match is in the description exactly once, and nothing else."""
    problems = []
    for record in hot:
        stored = Counter(model.objects.get(external_id=record).description.split())
        acknowledged = Counter(ledger["appended"].get(record, []))
        unanswered = Counter(tag for r, _column, tag in ledger.get("pending", []) if r == record)
        lost = sorted((acknowledged - stored).elements())
        extra = sorted((stored - acknowledged - unanswered).elements())
        repeated = sorted(tag for tag, times in stored.items() if times > 1)
        if lost or extra or repeated:
            problems.append(f"{record}: {len(lost)} acknowledged appends lost {lost[:3]}, "
                            f"{len(extra)} never sent {extra[:3]}, {len(repeated)} repeated "
                            f"{repeated[:3]}")
    return problems


def check_history(model, config: dict, ledger: dict) -> list[str]:
    """One history version per acknowledged write of the contended records (and the create)."""
    problems = []
    acknowledged = {record: len(tags) for record, tags in ledger["appended"].items()}
    acknowledged.update(ledger["own_writes"])
    unanswered = Counter(record for record, _column, _value in ledger["pending"])
    for record in config["hot"] + config["shared"]:
        expected = 1 + acknowledged.get(record, 0)
        versions = model.history.filter(external_id=record).count()
        most = expected + unanswered[record]
        if not expected <= versions <= most:
            problems.append(f"{record}: {versions} history versions, expected {expected}"
                            + (f" to {most}" if most > expected else ""))
    return problems


# --- the report ----------------------------------------------------------------------------------

def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1/5/15 min) at the end"


def render(result: dict) -> str:
    """locust's figures per request type, the totals and the checks, as text."""
    lines = [f"{'request':<52} {'count':>7} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6}"]
    for name, row in sorted(result["stats"].items()):
        if name.startswith("_") or name == "Aggregated":
            continue
        lines.append(f"{(row['method'] + ' ' + name)[:52]:<52} {row['requests']:>7} "
                     f"{row['failures']:>5} {row['p50']:>6.0f} {row['p95']:>6.0f} "
                     f"{row['p99']:>6.0f}")
    lines.append(f"{'all (ms)':<52} {result['requests']:>7} {result['failures']:>5} "
                 f"{result['p50_ms']:>6.0f} {result['p95_ms']:>6.0f} {result['p99_ms']:>6.0f}")
    lines += [
        "",
        f"Target {result['target_rate']:g} req/s for {result['seconds']} s: achieved "
        f"{result['achieved_rate']} req/s (slowest {result['window_seconds']} s: "
        f"{result['lowest_window_rate']} req/s), {result['failures']} failed requests; "
        f"{result['requests_again_after_412']} of the requests were reads and writes again after "
        f"a 412 (the users' paced requests alone: {result['paced_rate']} req/s).",
        f"Writes: {result['creates']} creates, {result['appends']} If-Match appends "
        f"({result['conflicts_412']} stale writes refused with 412 and retried, "
        f"{result['gave_up']} given up after {APPEND_TRIES} tries); users {result['users']}.",
        f"CPU per request: server {result['server_cpu_ms_per_request']} ms, locust "
        f"{result['locust_cpu_ms_per_request']} ms.",
        f"Machine: {result['machine']}.",
    ]
    lines += [f"FAILED: {line}" for line in result["stats"].get("_failures", [])]
    lines += [f"PROBLEM: {line}" for line in result["problems"]]
    lines.append("PASSED: the rate was held, no request failed, no write was lost."
                 if result["passed"] else "FAILED")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
