"""``qualityloop worker`` takes jobs the web queued in the database (QUALITYLOOP_JOBS=queue) and
runs them in its own process: one that succeeds, one that fails with its error in words.

Everything runs in subprocesses on a database of the test's own: a SQLite file always, and a
fresh database on the PostgreSQL server at QUALITYLOOP_TEST_POSTGRES_URL when one is given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack

import pytest
from browser_support import _cli
from pg_support import scratch_database

ENQUEUE = """
import shutil, sys
from pathlib import Path
from qualityloop.web.bootstrap import setup
setup(migrate=True)
from qualityloop.services import jobs
started = []
for name, text in (("units.csv", "external_id,name\\nU-1,Plant one\\nU-2,Plant two\\n"),
                   ("broken.csv", "external_id,name,parent\\nU-3,Plant three,NOPE\\n")):
    folder = jobs.upload_folder()
    (folder / name).write_text(text)
    job = jobs.start("import", title="Import " + name,
                     params={"kind": "org-units", "path": str(folder / name)})
    started.append(job.state)
print(",".join(started))
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_worker_runs_queued_jobs(tmp_path, engine):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "QUALITYLOOP_DATABASE_URL")}
    env.update(QUALITYLOOP_HOME=str(tmp_path), QUALITYLOOP_JOBS="queue")
    with ExitStack() as stack:
        if engine == "postgresql":
            server = os.environ.get("QUALITYLOOP_TEST_POSTGRES_URL")
            if not server:
                pytest.skip("QUALITYLOOP_TEST_POSTGRES_URL is not set "
                            "(scripts/throwaway-postgres.sh)")
            env["QUALITYLOOP_DATABASE_URL"] = stack.enter_context(
                scratch_database(server, prefix="ql_worker"))
        queued = _run([sys.executable, "-c", ENQUEUE], env)
        assert queued.stdout.strip() == "queued,queued", "the web side only queues the jobs"
        worked = _run([*_cli(), "worker", "--batch"], env)
        assert worked.stderr.count("state=SUCCESSFUL") == 2, worked.stderr
        listed = json.loads(_run([*_cli(), "worker", "jobs", "--json"], env).stdout)["jobs"]
    by_title = {job["title"]: job for job in listed}
    done, failed = by_title["Import units.csv"], by_title["Import broken.csv"]
    assert (done["state"], done["progress"], done["result"]["created"]) == ("done", 100, 2)
    assert failed["state"] == "failed" and failed["error"].startswith("broken.csv:")
    assert any("row 2, column parent" in p for p in failed["result"]["problems"])
    assert not list((tmp_path / "job-uploads").glob("*/*.csv")), "uploads are removed"


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
