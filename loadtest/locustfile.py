"""The load test's users (locust): mixed reads and writes against a running QualityLoop.

Started by ``loadtest/run.py``, which prepares the site and passes everything in the JSON file
named by ``LOADTEST_CONFIG``: the base rate (requests/s), API tokens per role, web logins, the ids
of records to read and of the records prepared for updates. Each user class takes a fixed share
of the rate (``SHARES``) through ``constant_throughput``. At the end every user's acknowledged
writes are written to the ``ledger`` file named in the config, for ``run.py`` to check against the
database:

- ``created``: the external ids of every create answered 201 (they must all exist);
- ``own_updates``: record -> column -> the last value a 200 acknowledged (it must be there);
  two users share each record, each changing its own column, without ``If-Match``;
- ``appended``: record -> the tags appended to its description by read-modify-write with
  ``If-Match`` (every tag must be there once; a 412 is a refused stale write, retried);
- ``conflicts``: how many 412 answers came back;
- ``pending``: writes sent whose answer never came (the run stopped while they were in flight):
  the server may or may not have made them, so the checks allow either.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

from bodies import APPEND_TRIES, SHARES, complaint, measurement, nonconformance, record_id
from locust import FastHttpUser, constant_throughput, events, task

CONFIG = json.loads(Path(os.environ["LOADTEST_CONFIG"]).read_text(encoding="utf-8"))
RUN = CONFIG["run"]
RATE = float(CONFIG["rate"])

LEDGER: dict = {"created": [], "own_updates": defaultdict(dict), "own_writes": Counter(),
                "appended": defaultdict(list), "conflicts": 0, "gave_up": 0, "pending": []}
_numbers = itertools.count(1)  # unique parts of external ids and tags
_users: defaultdict[str, itertools.count] = defaultdict(itertools.count)  # users of a class


def _pace(user_class: str, requests_per_task: float = 1.0):
    """Each user of the class runs its tasks at its share of the rate."""
    users = CONFIG["users"][user_class]
    return constant_throughput(RATE * SHARES[user_class] / users / requests_per_task)


def _bearer(role: str) -> dict:
    return {"Authorization": f"Bearer {CONFIG['tokens'][role]}"}


class ApiReader(FastHttpUser):
    """Reads through the API as the roles with restricted or read-only access: lists with
    paging and filters, records by id, ``/api/me``."""

    fixed_count = CONFIG["users"]["ApiReader"]
    wait_time = _pace("ApiReader")

    def on_start(self) -> None:
        self.headers = _bearer(random.choice(["viewer", "staff", "unit-lead", "quality-manager"]))

    def _get(self, url: str, name: str) -> None:
        self.client.get(url, headers=self.headers, name=name)

    @task(3)
    def list_nonconformances(self) -> None:
        self._get(f"/api/nonconformances/?limit=20&offset={random.randrange(500)}",
                  "/api/nonconformances/ (list)")

    @task(2)
    def list_open_complaints(self) -> None:
        self._get("/api/complaints/?status=received&limit=20", "/api/complaints/?status= (list)")

    @task(2)
    def list_customers(self) -> None:
        self._get(f"/api/customers/?limit=20&offset={random.randrange(200)}",
                  "/api/customers/ (list)")

    @task(3)
    def read_nonconformance(self) -> None:
        self._get(f"/api/nonconformances/{random.choice(CONFIG['nonconformances'])}",
                  "/api/nonconformances/{id}")

    @task(2)
    def read_customer(self) -> None:
        self._get(f"/api/customers/{random.choice(CONFIG['customers'])}", "/api/customers/{id}")

    @task(1)
    def list_measurements(self) -> None:
        self._get("/api/process-measurements/?limit=50", "/api/process-measurements/ (list)")

    @task(1)
    def me(self) -> None:
        self._get("/api/me", "/api/me")


class WebReader(FastHttpUser):
    """A person in the browser, logged in (``run.py`` logs each demo login in before the
    measurement; people share these sessions): the dashboard, a record list, a customer."""

    fixed_count = CONFIG["users"]["WebReader"]
    wait_time = _pace("WebReader")

    def on_start(self) -> None:
        self.session = {"Cookie": random.choice(CONFIG["sessions"])}

    @task(1)
    def dashboard(self) -> None:
        self._page("/", "/ (dashboard)")

    @task(2)
    def nonconformance_list(self) -> None:
        self._page(f"/records/nonconformances/?page={random.randint(1, 10)}",
                   "/records/nonconformances/")

    @task(2)
    def customer_page(self) -> None:
        self._page(f"/records/customers/{random.choice(CONFIG['customers'])}/",
                   "/records/customers/{id}/")

    def _page(self, path: str, name: str) -> None:
        """A page as the logged-in person; a redirect (to the login page) is a failure."""
        with self.client.get(path, name=name, headers=self.session, allow_redirects=False,
                             catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"{path} answered {answer.status_code}")


class Creator(FastHttpUser):
    """Staff raise nonconformances and complaints; a quality manager records measurements."""

    fixed_count = CONFIG["users"]["Creator"]
    wait_time = _pace("Creator")

    def on_start(self) -> None:
        self.me = next(_users["Creator"])

    def _create(self, url: str, body: dict, role: str, name: str) -> None:
        with self.client.post(url, json=body, headers=_bearer(role), name=name,
                              catch_response=True) as answer:
            if answer.status_code == 201:
                LEDGER["created"].append([url.strip("/").split("/")[-1], body["external_id"]])
            else:
                answer.failure(f"create answered {answer.status_code}: {(answer.text or '')[:200]}")

    def _next_id(self, what: str) -> str:
        return record_id(RUN, what, self.me, next(_numbers))

    @task(2)
    def raise_nonconformance(self) -> None:
        body = nonconformance(self._next_id("NC"), random.choice(CONFIG["units"]))
        self._create("/api/nonconformances/", body, "staff", "/api/nonconformances/ (create)")

    @task(1)
    def raise_complaint(self) -> None:
        body = complaint(self._next_id("CMP"), random.choice(CONFIG["customers"]),
                         random.choice(CONFIG["units"]))
        self._create("/api/complaints/", body, "staff", "/api/complaints/ (create)")

    @task(2)
    def record_measurement(self) -> None:
        body = measurement(self._next_id("PM"), random.choice(CONFIG["units"]),
                           round(random.gauss(12.0, 0.004), 6))
        self._create("/api/process-measurements/", body, "quality-manager",
                     "/api/process-measurements/ (create)")


class OwnFieldUpdater(FastHttpUser):
    """Blind PATCHes (no ``If-Match``): two users share each prepared nonconformance, one
    changing ``quantity_affected``, the other ``cost_of_poor_quality``; neither may undo the
    other's change."""

    fixed_count = CONFIG["users"]["OwnFieldUpdater"]
    wait_time = _pace("OwnFieldUpdater")

    def on_start(self) -> None:
        me = next(_users["OwnFieldUpdater"])
        shared = CONFIG["shared"]
        self.record = shared[me % len(shared)]
        self.column = ("quantity_affected", "cost_of_poor_quality")[(me // len(shared)) % 2]
        self.role = ("quality-manager", "admin")[(me // len(shared)) % 2]

    @task
    def change_my_column(self) -> None:
        value = next(_numbers)
        if self.column == "cost_of_poor_quality":
            value = value + 0.25
        sent = [self.record, self.column, value]
        LEDGER["pending"].append(sent)
        with self.client.patch(f"/api/nonconformances/{self.record}", json={self.column: value},
                               headers=_bearer(self.role), name="/api/nonconformances/{id} (PATCH)",
                               catch_response=True) as answer:
            LEDGER["pending"].remove(sent)
            if answer.status_code == 200:
                LEDGER["own_updates"][self.record][self.column] = value
                LEDGER["own_writes"][self.record] += 1
            else:
                answer.failure(f"PATCH answered {answer.status_code}: {(answer.text or '')[:200]}")


class HotAppender(FastHttpUser):
    """Read-modify-write of a few contended records: read the description and its ETag, send it
    back with a tag appended and ``If-Match``; a 412 (someone wrote in between) means read again.
    Every acknowledged tag must be in the description afterwards: nothing written over."""

    fixed_count = CONFIG["users"]["HotAppender"]
    wait_time = _pace("HotAppender", requests_per_task=2.2)

    def on_start(self) -> None:
        self.me = next(_users["HotAppender"])
        self.role = ("admin", "quality-manager")[self.me % 2]

    @task
    def append_a_tag(self) -> None:
        record = random.choice(CONFIG["hot"])
        tag = f"u{self.me}n{next(_numbers)}"
        url = f"/api/nonconformances/{record}"
        for attempt in range(APPEND_TRIES):
            again = ", again after 412" if attempt else ""  # retries are counted apart
            read = self.client.get(url, headers=_bearer(self.role),
                                   name=f"/api/nonconformances/{{hot}} (GET{again})")
            if read.status_code != 200:
                return
            body = {"description": (read.json()["description"] + " " + tag).strip()}
            headers = {**_bearer(self.role), "If-Match": read.headers["ETag"]}
            sent = [record, "description", tag]
            LEDGER["pending"].append(sent)
            with self.client.patch(url, json=body, headers=headers, catch_response=True,
                                   name=f"/api/nonconformances/{{hot}} (PATCH If-Match{again})"
                                   ) as answer:
                LEDGER["pending"].remove(sent)
                if answer.status_code == 200:
                    LEDGER["appended"][record].append(tag)
                    return
                if answer.status_code == 412:
                    LEDGER["conflicts"] += 1
                    answer.success()  # refused as designed: read again and retry
                    continue
                answer.failure(f"PATCH answered {answer.status_code}: {(answer.text or '')[:200]}")
                return
        LEDGER["gave_up"] += 1


@events.test_stop.add_listener
def write_ledger(**_kwargs) -> None:
    Path(CONFIG["ledger"]).write_text(json.dumps(LEDGER), encoding="utf-8")
