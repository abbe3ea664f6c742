"""The service as `make run` starts it: gunicorn, 2 workers, the model preloaded."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    port = free_port()
    env = {**os.environ, "MODELS_DIR": str(models_dir), "PORT": str(port), "WORKERS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prom")), "LOG_REQUESTS": "false"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log_path = tmp_path_factory.mktemp("log") / "gunicorn.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(gunicorn), "--config", "gunicorn.conf.py", "service.wsgi:app"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                log.close()
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def call(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_two_workers_serve_and_metrics_add_up_across_them(server):
    body = {"text": "Kratom cures anxiety with zero side effects. Take 5 grams twice a day."}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(server + "/v1/moderate", body), range(40)))
    assert all(status == 200 for status, _ in results)
    assert json.loads(results[0][1])["risk"]["level"] == "high"
    metrics = call(server + "/metrics")[1].decode()
    count = re.search(r'http_requests_total\{method="POST",route="/v1/moderate",status="200"\} (\S+)', metrics)
    assert count and float(count.group(1)) == 40.0
    assert re.search(r"^sentences_analysed_total (\S+)$", metrics, re.M).group(1) == "80.0"
    assert 'model_active_info{name="kratom-claims",version="tiny.1"} 1.0' in metrics
