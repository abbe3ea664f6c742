"""The load-and-fault script, short form: ~1,500 mixed requests against gunicorn (2 workers) while a
worker is SIGKILLed and the model is switched, on SQLite and PostgreSQL.

Correctness only: no 5xx, no error but 429/503 (and decisions' legitimate 409s) apart from the
requests the killed worker was holding, no acknowledged write lost, duplicated or wrongly stored, a
replacement worker serving, every worker on the new model at the end. Latency is reported by
``python -m bench.load_fault``, never asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import load_fault

REQUESTS = 1500
CONCURRENCY = 24


@pytest.mark.slow
def test_load_with_a_killed_worker_and_a_model_switch_loses_no_write(two_models: Path, database_url: str,
                                                                     tmp_path: Path) -> None:
    # 50/minute: the shared queue-polling key goes over it (some 429s), the per-thread keys mostly not
    result = load_fault.run(database_url=database_url, models_dir=two_models, old="tiny.1", new="tiny.2",
                            work=tmp_path / "work", requests=REQUESTS, concurrency=CONCURRENCY,
                            rate_limit="50/minute", log=lambda _: None)
    load_fault.write_report(result, tmp_path / "report")
    s, writes = result["summary"], result["writes"]
    report = load_fault.markdown(result)

    assert s["requests_sent"] == REQUESTS
    assert s["server_errors_5xx"] == 0, report
    assert s["errors_other_than_429_503"] == 0, (s["error_examples"], report)
    assert s["other_connection_errors"] == 0, report
    assert s["dropped_by_killed_worker"] <= CONCURRENCY, report

    # every acknowledged write stored exactly once, nothing refused stored
    assert s["lost_writes"] == 0, writes["problems"]
    assert s["write_problems"] == 0, writes["problems"]
    assert writes["review"]["verified"] == writes["review"]["acknowledged"] > 0
    assert writes["decision"]["verified"] == writes["decision"]["acknowledged"] > 0
    assert writes["feedback"]["verified"] == writes["feedback"]["acknowledged"] > 0
    assert writes["invariants"]["documents_with_two_pending_reviews"] == 0
    assert writes["invariants"]["superseded_without_successor"] == 0

    # the kill happened mid-run, and the worker gunicorn started in its place answered
    kill = s["kill"]
    assert kill["mid_run"] and kill["pid"] is not None
    assert kill["replacement_pid"] not in (None, kill["pid"])
    assert kill["replacement_served"], s["switch"]["workers_after"]
    assert kill["pid"] not in s["switch"]["worker_pids_after"]

    # the activation happened mid-run, and both workers (one of them the replacement) serve the new model
    switch = s["switch"]
    assert switch["status"] == 200 and switch["mid_run"]
    assert len(switch["workers_after"]) == 2 and len(set(switch["worker_pids_after"])) == 2
    assert switch["all_workers_serve_new"], switch["workers_after"]

    # /metrics still counts what the killed worker answered (model_active_info is not checked: after a
    # switch it shows the preloaded master's stale old version too, a service bug reported separately)
    assert s["metrics"]["request_count_mismatches"] == {}, s["metrics"]

    # what the service logged matches what the client got
    assert s["server_log"]["status_differs_from_log"] == 0
    assert s["server_log"]["answered_not_logged"] == 0
    assert result["server_log"]["errors"] == []
    assert (tmp_path / "report" / f"{result['database']}.md").is_file()
