"""The service as `make run` starts it: gunicorn, 2 workers, the model preloaded."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import servers
from tests.servers import gunicorn


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    with gunicorn(tmp, MODELS_DIR=str(models_dir), DATABASE_URL=f"sqlite:///{tmp}/store.db") as server:
        yield server


@pytest.mark.slow
def test_two_workers_serve_and_metrics_add_up_across_them(server):
    base, key = server
    body = {"text": "Kratom cures anxiety with zero side effects. Take 5 grams twice a day."}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: servers.call(base + "/v1/moderate", body, key=key), range(40)))
    assert all(status == 200 for status, _ in results)
    assert results[0][1]["risk"]["level"] == "high"
    metrics = servers.call(base + "/metrics")[1].decode()
    count = re.search(r'http_requests_total\{method="POST",route="/v1/moderate",status="200"\} (\S+)', metrics)
    assert count and float(count.group(1)) == 40.0
    assert re.search(r"^sentences_analysed_total (\S+)$", metrics, re.M).group(1) == "80.0"
    assert 'model_active_info{name="kratom-claims",version="tiny.1"} 1.0' in metrics


@pytest.mark.slow
def test_every_worker_picks_up_an_activation_without_dropping_a_request(two_models, tmp_path):
    with gunicorn(tmp_path, MODELS_DIR=str(two_models), DATABASE_URL=f"sqlite:///{tmp_path}/store.db",
                  REFRESH_SECONDS="1", RATE_LIMIT="off") as (base, key):
        stop = threading.Event()
        seen: list[tuple[int, str]] = []

        def traffic():
            while not stop.is_set():
                status, body = servers.call(base + "/v1/moderate", {"text": "Kratom cures pain.", "store": False},
                                            key=key)
                seen.append((status, body["model"]["version"] if status == 200 else str(body)))

        threads = [threading.Thread(target=traffic) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            status, body = servers.call(base + "/v1/models/tiny.2/activate", {}, key=key)
            assert status == 200, body
            time.sleep(2.5)  # REFRESH_SECONDS=1, plus a model load
            versions = {servers.call(base + "/v1/model", key=key)[1]["version"] for _ in range(20)}
            assert versions == {"tiny.2"}  # both workers
            active = re.findall(r'model_active_info\{name="kratom-claims",version="(tiny\.\d)"\} 1\.0',
                                servers.call(base + "/metrics")[1].decode())
            assert active == ["tiny.2"]  # the preloading master's gauge of tiny.1 counted as still active
            assert servers.call(base + "/v1/models/tiny.1/activate", {}, key=key)[0] == 200  # rollback
            time.sleep(2.5)
            assert {servers.call(base + "/v1/model", key=key)[1]["version"] for _ in range(20)} == {"tiny.1"}
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert seen and all(status == 200 for status, _ in seen), [s for s in seen if s[0] != 200][:3]
    assert {v for _, v in seen} == {"tiny.1", "tiny.2"}
