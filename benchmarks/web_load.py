"""Loopback load test of ``critmin serve``: locust, headless, bounded in time, on 127.0.0.1.

    python benchmarks/web_load.py                      # 50 users for 60 s
    python benchmarks/web_load.py --users 20 --time 30s

It makes a throw-away SQLite store with one analyst account and a token, starts ``critmin serve`` on a free
port (with its in-process worker), runs one small scenario so that run pages and downloads have data, warms
the page caches, then runs locust against it: signed-in page views (overview, chain, risk, scenarios,
catalogue, a run), API calls (list, read, download, launch a small run) with the Bearer token. It prints
p50/p95/p99 latency and the error count per request and in total, and exits 1 if any request failed.
A benchmark script, not a test. This same file is the locustfile (``locust -f benchmarks/web_load.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

try:  # the locustfile part (locust imports this module)
    from locust import HttpUser, between, task
except ImportError:  # pragma: no cover - locust is a dev dependency
    HttpUser = object  # type: ignore[assignment,misc]

RUN_ID = os.environ.get("CRITMIN_LOAD_RUN", "")
TOKEN = os.environ.get("CRITMIN_LOAD_TOKEN", "")
USER, PASSWORD = "loadtester", "load-test-password"

if HttpUser is not object:

    class Analyst(HttpUser):
        """A signed-in analyst browsing pages and calling the API."""

        wait_time = between(0.5, 2.0)

        def on_start(self) -> None:
            page = self.client.get("/login", name="GET /login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            self.client.post("/login", data={"name": USER, "password": PASSWORD, "csrf_token": csrf, "next": "/"},
                             name="POST /login")
            self.api = {"Authorization": f"Bearer {TOKEN}"}

        @task(3)
        def overview(self) -> None:
            self.client.get("/", name="page /")

        @task(2)
        def chain(self) -> None:
            self.client.get(f"/chains/{random.choice(['rare-earth-magnets', 'li-ion-batteries'])}",
                            name="page /chains/{chain}")

        @task(2)
        def risk(self) -> None:
            self.client.get("/risk?metric=hhi-production&year=2022", name="page /risk")

        @task(2)
        def scenarios(self) -> None:
            self.client.get("/scenarios", name="page /scenarios")

        @task(1)
        def catalogue(self) -> None:
            self.client.get("/catalogue", name="page /catalogue")

        @task(2)
        def run_page(self) -> None:
            self.client.get(f"/runs/{RUN_ID}", name="page /runs/{id}")

        @task(4)
        def api_list(self) -> None:
            self.client.get("/api/runs", headers=self.api, name="GET /api/runs")

        @task(4)
        def api_read(self) -> None:
            self.client.get(f"/api/runs/{RUN_ID}", headers=self.api, name="GET /api/runs/{id}")

        @task(1)
        def api_download(self) -> None:
            self.client.get(f"/api/runs/{RUN_ID}/download?format=csv", headers=self.api,
                            name="GET /api/runs/{id}/download")

        @task(1)
        def api_launch(self) -> None:
            self.client.post("/api/runs", headers=self.api, name="POST /api/runs",
                             json={"scenario": "baseline", "runs": 20, "seed": random.randint(0, 999), "horizon": 6})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _critmin(*args: str, env: dict, stdin: str | None = None) -> str:
    res = subprocess.run([sys.executable, "-m", "critmin.cli.main", *args], env=env, input=stdin,
                         capture_output=True, text=True, check=True)
    return res.stdout


def _get(url: str, token: str | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=120) as r:  # noqa: S310 - loopback only
        return r.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--spawn-rate", type=float, default=10)
    ap.add_argument("--time", default="60s", help="locust run time, e.g. 60s, 2m")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="critmin-load-"))
    env = {**os.environ, "CRITMIN_DB": str(work / "store.db")}
    _critmin("users", "add", USER, "--nationality", "USA", "--role", "analyst", "--password-stdin", env=env,
             stdin=PASSWORD + "\n")
    token = _critmin("users", "token", USER, env=env).strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "critmin.cli.main", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        req = urllib.request.Request(f"{base}/api/runs", method="POST", data=json.dumps(
            {"scenario": "ree-magnet-embargo-us-jpn-12m", "runs": 100, "seed": 1, "horizon": 12}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback only
            run_id = json.loads(r.read())["id"]
        while json.loads(_get(f"{base}/api/runs/{run_id}", token))["status"] != "done":
            time.sleep(0.2)
        cookie_free_warm = ["/tables/brief.csv", "/tables/risk.csv?year=2022",
                            "/tables/chain-stages.csv?chain=rare-earth-magnets",
                            "/tables/chain-stages.csv?chain=li-ion-batteries"]
        for path in cookie_free_warm:  # the page tables are cached per parameters: warm them once
            _get(base + path, token)
        prefix = work / "locust"
        lenv = {**env, "CRITMIN_LOAD_RUN": run_id, "CRITMIN_LOAD_TOKEN": token}
        t0 = time.monotonic()
        log = open(work / "locust.log", "w")  # noqa: SIM115 - closed below
        subprocess.run([sys.executable, "-m", "locust", "-f", __file__, "--headless", "-u", str(args.users),
                        "-r", str(args.spawn_rate), "-t", args.time, "--host", base, "--csv", str(prefix),
                        "--only-summary", "--loglevel", "WARNING"], env=lenv, check=False,
                       stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wall = time.monotonic() - t0
    finally:
        server.terminate()
        server.wait(20)
    rows = list(csv.DictReader(open(f"{prefix}_stats.csv", newline="")))  # noqa: SIM115 - read once
    print(f"critmin serve under load: {args.users} users, {args.time} ({wall:.0f} s wall), loopback {base}")
    print(f"{'request':38} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    errors = 0
    for r in rows:
        name = r["Name"]
        print(f"{name[:38]:38} {r['Request Count']:>7} {r['Failure Count']:>7} {r['50%']:>8} {r['95%']:>8} "
              f"{r['99%']:>8} {float(r['Requests/s']):>7.1f}")
        if r["Name"] == "Aggregated":
            errors = int(r["Failure Count"])
    failures = Path(f"{prefix}_failures.csv")
    if errors and failures.exists():
        print(failures.read_text())
    print(f"errors: {errors}  (locust's own output: {work / 'locust.log'})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
