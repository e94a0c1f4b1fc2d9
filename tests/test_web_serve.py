"""``critmin serve`` end to end: the real command on a free loopback port, its in-process worker running a run
launched through the API with a token from ``critmin users token``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from conftest import ROOT


def _call(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback only
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_serve_runs_a_job_launched_through_the_api(critmin_cli, tmp_path) -> None:
    env = {"CRITMIN_DB": str(tmp_path / "serve.db")}
    assert critmin_cli("users", "add", "ana", "--nationality", "USA", "--role", "analyst", "--no-password",
                       env=env).returncode == 0
    token = critmin_cli("users", "token", "ana", env=env).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "critmin.cli.main", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if _call(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert _call(f"{base}/api/runs")[0] == 401
        code, out = _call(f"{base}/api/runs", token, {"scenario": "baseline", "runs": 20, "seed": 1, "horizon": 6,
                                                      "label": {"originator": "USA", "rel_to": ["USA"],
                                                                "public": False}})
        assert code == 202, out
        end = time.monotonic() + 60
        while (run := _call(f"{base}/api/runs/{out['id']}", token)[1])["status"] not in ("done", "failed"):
            assert time.monotonic() < end, run
            time.sleep(0.2)
        assert run["status"] == "done" and run["progress"] == 1 and run["summary"]["runs"] == 20
    finally:
        proc.terminate()
        proc.wait(20)
    assert f"critmin serving http://127.0.0.1:{port}/" in proc.stdout.read()
