"""Load and faults: gunicorn as `make run` starts it, thousands of mixed requests, a SIGKILLed worker
and a model switch mid-run; then every acknowledged write is looked up in the store.

    .venv/bin/python -m bench.load_fault [--requests N] [--concurrency C]
                                         [--database sqlite|postgresql] [--out DIR]

Why each part is built the way it is:

- The service runs from ``tests.servers.gunicorn`` (``gunicorn --config gunicorn.conf.py
  service.wsgi:app``, preloaded, 2 sync workers) on a temporary store and a temporary models
  directory holding the active model and a copy of it registered as a second version, so the
  switch is real (files checked against the card) but changes no answers.
- The load comes from a second process (``multiprocessing``, spawn) with one thread per
  concurrent client, on 127.0.0.1. Every request carries ``X-Request-ID`` and every write a
  unique token (in the text, or in the note), so the store can be searched for each write
  afterwards without trusting the service's own answers.
- The kill is aimed: a worker is stopped (SIGSTOP) until one is found holding a client
  connection, the client ports it holds are read from ``/proc``, then it gets SIGKILL. A
  connection error on exactly those connections is "dropped in flight by the killed worker";
  any other connection error counts as an error.
- Which worker answers is learnt the same way: a probe holds one worker with a half-sent
  request, so the next probe can only be answered by the other one, and ``/proc`` names the pid.

Performance numbers are measured here and never asserted (tests/test_load_fault.py asserts only
correctness, on a short run).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "reports" / "load_fault"
# On, per key, counted in each worker's memory (RATE_LIMIT_STORAGE empty, as `make run`). Every
# load thread has its own client and moderator key and stays under it; the queue-polling
# "dashboard" key is shared by all threads and goes over it in a full-size run: the 429s.
DEFAULT_RATE_LIMIT = "200/minute"
REFRESH_SECONDS = 2.0  # how often workers look for a new active model: the service's default, set explicitly

# kind -> share of the requests
MIX: dict[str, int] = {
    "moderate": 18, "moderate_html": 12, "moderate_draft": 8, "moderate_review": 14, "batch": 4,
    "reviews": 10, "decision": 16, "feedback": 10, "healthz": 8,
}

HIGH = (
    "Kratom cures anxiety with zero side effects.",
    "Take 5 grams twice a day to get off opioids for good.",
    "Kratom is completely safe, even during pregnancy.",
    "It heals chronic pain better than any prescription drug.",
)
LOW = (
    "Kratom is a tropical tree native to Southeast Asia.",
    "Its leaves have been chewed by farm workers for generations.",
    "Researchers are still studying how the plant works.",
    "Talk to your doctor before using any supplement.",
    "Orders ship within two business days.",
)
TOKEN_RE = re.compile(r"lf-[0-9a-f]{8}-\d+-\d+")


# --------------------------------------------------------------------------------------------
# /proc: gunicorn's processes and who holds which connection


def children(pid: int) -> list[int]:
    """Child pids of ``pid`` (of any of its threads)."""
    out: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    return sorted(set(out))


def _tcp_table() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket."""
    rows = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            rows.append((int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16), parts[3],
                         int(parts[9])))
    return rows


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def master_pid(port: int) -> int:
    """The gunicorn master this process started: the child holding the listening socket on ``port``."""
    listening = {inode for local, _, state, inode in _tcp_table() if local == port and state == "0A"}
    for pid in children(os.getpid()):
        if _socket_inodes(pid) & listening:
            return pid
    raise RuntimeError(f"no child process of {os.getpid()} listens on port {port}")


def held_client_ports(pid: int, port: int) -> list[int]:
    """Client-side ports of the connections to ``port`` that process ``pid`` has accepted."""
    mine = _socket_inodes(pid)
    return sorted(remote for local, remote, state, inode in _tcp_table()
                  if local == port and state != "0A" and inode in mine)


def _owner_of(port: int, client_port: int, pids: Sequence[int]) -> int | None:
    inode = next((i for local, remote, _, i in _tcp_table() if local == port and remote == client_port and i), None)
    if inode is None:
        return None  # still in the accept queue
    return next((pid for pid in pids if inode in _socket_inodes(pid)), None)


def _wait_stopped(pid: int, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                    return True
        except FileNotFoundError:
            return False
        time.sleep(0.0005)
    return False


def kill_busy_worker(master: int, port: int, attempts: int = 2000) -> dict[str, Any]:
    """SIGKILL a worker while it holds a client connection; return which, when, and the ports it held."""
    for _ in range(attempts):
        for pid in children(master):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            held: list[int] = []
            try:
                if _wait_stopped(pid):
                    held = held_client_ports(pid, port)
                if held:
                    t = time.monotonic()
                    os.kill(pid, signal.SIGKILL)
                    return {"pid": pid, "t": t, "held_client_ports": held, "busy": True}
            finally:
                if not held:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)
    pid = children(master)[0]
    t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    return {"pid": pid, "t": t, "held_client_ports": [], "busy": False}


def probe_workers(port: int, master: int, key: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Ask every worker, by name, which model it serves (``POST /v1/moderate``, store: false).

    Each probe sends half a request first; a sync worker that accepted it waits for the rest, so
    the next probe can only be accepted by another worker. /proc says which pid holds each.
    """
    workers = children(master)
    body = json.dumps({"text": "Kratom cures anxiety with zero side effects.", "store": False}).encode()
    head = b"POST /v1/moderate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    rest = (f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body
    held: list[tuple[socket.socket, int | None]] = []
    out: list[dict[str, Any]] = []
    try:
        for _ in workers:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(head)
            owner, deadline = None, time.monotonic() + timeout
            while owner is None and time.monotonic() < deadline:
                owner = _owner_of(port, s.getsockname()[1], workers)
                if owner is None:
                    time.sleep(0.002)
            held.append((s, owner))
        for s, owner in held:
            s.sendall(rest)
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
            head_raw, _, payload = raw.partition(b"\r\n\r\n")
            status = int(head_raw.split(b" ", 2)[1]) if head_raw else None
            version = None
            with contextlib.suppress(ValueError, KeyError, TypeError):
                version = json.loads(payload)["model"]["version"]
            out.append({"pid": owner, "status": status, "model_version": version})
    finally:
        for s, _ in held:
            s.close()
    return out


# --------------------------------------------------------------------------------------------
# the load generator (runs in its own process)


def _text(rng: random.Random, token: str, high: bool) -> str:
    lines = rng.sample(LOW, rng.randint(1, 3)) + (rng.sample(HIGH, rng.randint(1, 2)) if high else [])
    rng.shuffle(lines)
    return "\n".join([*lines, f"Reference {token}."])


def _html(rng: random.Random, token: str, high: bool) -> str:
    body = rng.sample(LOW, 2) + (rng.sample(HIGH, 2) if high else [])
    rng.shuffle(body)
    title = HIGH[0] if high else LOW[0]
    return (f'<html><head><title>{title}</title><meta name="description" content="{LOW[3]}"></head>'
            f"<body><h1>{LOW[1]}</h1><p>{body[0]} {body[1]}</p><ul>"
            + "".join(f"<li>{b}</li>" for b in body[2:])
            + f'</ul><p>Reference {token}.</p><img src="leaf.jpg" alt="{LOW[0]}"><script>var x = 1;</script>'
            "</body></html>")


class _Load:
    """Closed-loop load: ``concurrency`` threads, each sending the next planned request until none is left."""

    def __init__(self, spec: dict[str, Any], progress: Any) -> None:
        self.spec = spec
        self.progress = progress
        self.port = spec["port"]
        self.run_id = spec["run"]
        kinds = list(MIX)
        rng = random.Random(spec["seed"])
        self.plan = rng.choices(kinds, weights=[MIX[k] for k in kinds], k=spec["requests"])
        self.next = 0
        self.lock = threading.Lock()
        self.pool: list[tuple[int, int]] = []  # (review id, version) moderators may decide
        self.pooled: set[tuple[int, int]] = set()  # every pair ever pooled: a listing re-adds none
        self.documents: list[str] = []  # document ids sent for review, some resubmitted
        self.records: list[dict[str, Any]] = []

    # one request ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any, key: str | None, rid: str) -> dict[str, Any]:
        rec: dict[str, Any] = {"status": None, "error": None, "port": None, "request_id": rid}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.spec["timeout"])
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Request-ID": rid, "Connection": "close"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Authorization"] = f"Bearer {key}"
        rec["t0"] = time.monotonic()
        payload = None
        try:
            conn.connect()
            rec["port"] = conn.sock.getsockname()[1]
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            rec["status"] = resp.status
            with contextlib.suppress(ValueError):
                payload = json.loads(raw)
        except (OSError, http.client.HTTPException) as exc:
            rec["error"] = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            rec["t1"] = time.monotonic()
            conn.close()
        rec["payload"] = payload
        return rec

    # the kinds -----------------------------------------------------------------------------

    def _doc(self, rng: random.Random, token: str, kind: str) -> dict[str, Any]:
        high = rng.random() < 0.5
        if kind == "moderate_html":
            doc: dict[str, Any] = {"text": _html(rng, token, high), "format": "html"}
            if rng.random() < 0.3:
                doc["document_id"] = f"{token}-doc"
        elif kind == "moderate_draft":
            high = rng.random() < 0.6
            doc = {"text": _text(rng, token, high), "store": False}
            if high:
                doc["document_id"] = f"{token}-doc"  # would be queued by its risk, if kept
        elif kind == "moderate_review":
            with self.lock:
                reuse = self.documents and rng.random() < 0.35
                document_id = rng.choice(self.documents[-40:]) if reuse else f"{token}-doc"
                if not reuse:
                    self.documents.append(document_id)
            doc = {"text": _text(rng, token, high), "document_id": document_id, "review": True}
        else:
            doc = {"text": _text(rng, token, high)}
            if rng.random() < 0.5:
                doc["document_id"] = f"{token}-doc"  # queued when the risk reaches REVIEW_LEVEL
        return doc

    def _moderate(self, rng: random.Random, seq: int, kind: str, key: str, rid: str) -> dict[str, Any]:
        if kind == "batch":
            docs = []
            for j in range(rng.randint(2, 8)):
                sub = rng.choice(("moderate", "moderate_html", "moderate_draft", "review"))
                token = f"lf-{self.run_id}-{seq}-{j}"
                if sub == "review":
                    docs.append({"text": _text(rng, token, True), "document_id": f"{token}-doc", "review": True})
                else:
                    docs.append(self._doc(rng, token, sub))
            rec = self._send("POST", "/v1/moderate/batch", {"documents": docs}, key, rid)
        else:
            docs = [self._doc(rng, f"lf-{self.run_id}-{seq}-0", kind)]
            rec = self._send("POST", "/v1/moderate", docs[0], key, rid)
        ok = rec["status"] == 200 and isinstance(rec["payload"], dict)
        results = (rec["payload"].get("results", []) if kind == "batch" else [rec["payload"]]) if ok else []
        rec["versions"] = sorted({r["model"]["version"] for r in results})
        rec["writes"] = []
        for j, doc in enumerate(docs):
            review = results[j]["review"] if j < len(results) else None
            rec["writes"].append({"type": "review", "token": TOKEN_RE.search(doc["text"]).group(0),
                                  "store": doc.get("store", True), "document_id": doc.get("document_id"),
                                  "id": review["id"] if review else None})
            if review:
                self._pool([(review["id"], review["version"])])
        return rec

    def _reviews(self, rng: random.Random, key: str, rid: str) -> dict[str, Any]:
        query = "?status=pending&limit=50" + (f"&risk={rng.choice(('high', 'medium', 'low'))}"
                                              if rng.random() < 0.3 else "")
        rec = self._send("GET", "/v1/reviews" + query, None, key, rid)
        if rec["status"] == 200 and isinstance(rec["payload"], dict):
            self._pool([(item["id"], item["version"]) for item in rec["payload"]["items"]])
        return rec

    def _pool(self, pairs: list[tuple[int, int]]) -> None:
        with self.lock:
            for pair in pairs:
                if pair not in self.pooled:
                    self.pooled.add(pair)
                    self.pool.append(pair)

    def _decision(self, rng: random.Random, seq: int, key: str, rid: str) -> dict[str, Any] | None:
        with self.lock:
            if not self.pool:
                return None
            i = rng.randrange(len(self.pool))
            review_id, version = self.pool[i]
            if rng.random() < 0.7:  # else leave it for another moderator: a race, one of the two gets 409
                self.pool[i] = self.pool[-1]
                self.pool.pop()
        token = f"lf-{self.run_id}-{seq}-0"
        corrections = ([{"sentence_index": 0, "labels": ["efficacy"], "flags": ["disease_claim"]}]
                       if rng.random() < 0.3 else [])
        action = rng.choice(("approve", "reject", "request_changes"))
        rec = self._send("POST", f"/v1/reviews/{review_id}/decision",
                         {"action": action, "version": version, "note": token, "corrections": corrections}, key, rid)
        write = {"type": "decision", "token": token, "review_id": review_id, "version": version, "action": action,
                 "corrections": len(corrections), "id": None}
        if rec["status"] == 200 and isinstance(rec["payload"], dict):
            mine = [d for d in rec["payload"].get("decisions", []) if d.get("note") == token]
            write["id"] = mine[0]["id"] if mine else -1  # -1: acknowledged, but the answer does not show it
            if rng.random() < 0.25:  # decide again later, on the new version (a change of mind)
                self._pool([(review_id, rec["payload"]["version"])])
        elif rec["status"] == 409 and isinstance(rec["payload"], dict):
            # superseded by a resubmission, or decided by another moderator since it was read
            rec["conflict"] = "superseded" if rec["payload"].get("review_status") == "superseded" else "stale version"
        rec["writes"] = [write]
        return rec

    def _feedback(self, seq: int, key: str, rid: str) -> dict[str, Any]:
        token = f"lf-{self.run_id}-{seq}-0"
        rec = self._send("POST", "/v1/feedback", {"text": f"Sentence {token} says kratom eased my back pain.",
                                                  "labels": ["efficacy"], "flags": [], "note": token}, key, rid)
        ok = rec["status"] == 201 and isinstance(rec["payload"], dict)
        rec["writes"] = [{"type": "feedback", "token": token, "id": rec["payload"]["id"] if ok else None}]
        return rec

    # the threads ---------------------------------------------------------------------------

    def _one(self, rng: random.Random, thread: int, seq: int) -> dict[str, Any]:
        kind = self.plan[seq]
        client, moderator = self.spec["client_keys"][thread], self.spec["moderator_keys"][thread]
        rid = f"lf-{self.run_id}-{seq}"
        rec: dict[str, Any] | None = None
        if kind == "decision":
            rec = self._decision(rng, seq, moderator, rid)
            if rec is None:  # nothing to decide yet: look at the queue instead
                kind = "reviews"
                rec = self._reviews(rng, moderator, rid)
        elif kind in ("moderate", "moderate_html", "moderate_draft", "moderate_review", "batch"):
            rec = self._moderate(rng, seq, kind, client, rid)
        elif kind == "reviews":
            rec = self._reviews(rng, self.spec["dashboard_key"], rid)
        elif kind == "feedback":
            rec = self._feedback(seq, moderator, rid)
        else:
            rec = self._send("GET", "/healthz", None, None, rid)
        rec.pop("payload", None)
        rec.update(seq=seq, kind=kind, thread=thread)
        rec.setdefault("writes", [])
        rec.setdefault("versions", [])
        return rec

    def _thread(self, thread: int) -> None:
        rng = random.Random(self.spec["seed"] * 7919 + thread)
        while True:
            with self.lock:
                seq = self.next
                if seq >= len(self.plan):
                    return
                self.next += 1
            rec = self._one(rng, thread, seq)
            with self.lock:
                self.records.append(rec)
            with self.progress.get_lock():
                self.progress.value += 1

    def run(self) -> dict[str, Any]:
        threads = [threading.Thread(target=self._thread, args=(i,), daemon=True)
                   for i in range(self.spec["concurrency"])]
        t_start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"t_start": t_start, "t_end": time.monotonic(), "records": sorted(self.records, key=lambda r: r["seq"])}


def generate(spec: dict[str, Any], progress: Any) -> None:
    """Entry point of the load process: run the plan, write every record to ``spec['results']``."""
    result = _Load(spec, progress).run()
    Path(spec["results"]).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# the run: server, keys, load, faults, checks


def prepare_models(source: Path, target: Path) -> tuple[str, str]:
    """Copy the active model of ``source`` into ``target`` and register a copy of it as a newer version.

    The copy's files are byte-identical, so they pass the hash check against its card; only the
    card's version (and the directory name) differ. Returns (active version, second version).
    """
    from service.analysis.classifier import CARD_FILE, ModelRegistry, load_model

    registry = ModelRegistry(source)
    old = registry.active_version()
    if not old:
        raise SystemExit(f"no active model in {source}: run `make model`")
    directory = registry.directory(old)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(directory, target / directory.name)
    card = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
    new = f"{old}.lf2"
    copy = target / f"{card['name']}-{new}"
    shutil.copytree(directory, copy)
    card.update(version=new, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    (copy / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
    ModelRegistry(target).set_active(old)
    load_model(copy)  # what activation will check
    return old, new


def _post(url: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # nosec B310 (127.0.0.1)
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def run(*, database_url: str, models_dir: Path, old: str, new: str, work: Path, requests: int = 5000,
        concurrency: int = 32, rate_limit: str = DEFAULT_RATE_LIMIT, kill_at: float = 0.3,
        switch_at: float = 0.55, seed: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the load with both faults against a fresh gunicorn; return the raw result and its summary."""
    from service.store import Store
    from tests.servers import gunicorn

    run_id = uuid.uuid4().hex[:8]
    work.mkdir(parents=True, exist_ok=True)
    env = {"MODELS_DIR": str(models_dir), "DATABASE_URL": database_url, "DATA_DIR": str(work / "data"),
           "RATE_LIMIT": rate_limit, "RATE_LIMIT_STORAGE": "", "LOG_REQUESTS": "true", "WORKERS": "2",
           "REFRESH_SECONDS": str(REFRESH_SECONDS)}
    server_dir = work / "server"
    result: dict[str, Any] = {
        "run": run_id, "database": database_url.split(":", 1)[0].split("+")[0], "requests": requests,
        "concurrency": concurrency, "rate_limit": rate_limit, "models": {"before": old, "after": new},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with gunicorn(server_dir, **env) as (base, admin_key):
        port = int(base.rsplit(":", 1)[1])
        master = master_pid(port)
        store = Store(database_url)
        try:
            keys = [store.create_key(f"lf-{run_id}-{role}-{i}", role, actor="load_fault")[1]
                    for role in ("client", "moderator") for i in range(concurrency)]
            dashboard = store.create_key(f"lf-{run_id}-dashboard", "moderator", actor="load_fault")[1]
        finally:
            store.dispose()
        result["workers_before"] = probe_workers(port, master, admin_key)
        log(f"gunicorn master {master}, workers {[w['pid'] for w in result['workers_before']]} serving "
            f"{sorted({w['model_version'] for w in result['workers_before']})}; {requests} requests at "
            f"concurrency {concurrency}")

        ctx = multiprocessing.get_context("spawn")
        progress = ctx.Value("i", 0)
        spec = {"port": port, "run": run_id, "requests": requests, "concurrency": concurrency, "seed": seed,
                "client_keys": keys[:concurrency], "moderator_keys": keys[concurrency:], "dashboard_key": dashboard,
                "results": str(work / "load.json"), "timeout": 60.0}
        proc = ctx.Process(target=generate, args=(spec, progress), name="load-generator")
        proc.start()
        try:
            kill, activation = _drive(proc, progress, requests, kill_at, switch_at, master, port, base, new,
                                      admin_key, [w["pid"] for w in result["workers_before"]], log)
        finally:
            if proc.is_alive():  # only if the controller failed: do not leave the load running
                proc.kill()
            proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"the load generator failed (exit code {proc.exitcode})")
        deadline = time.monotonic() + 30
        while "replacement" not in kill and time.monotonic() < deadline:
            _note_replacement(kill, master)
            time.sleep(0.01)
        # A worker looks for a newly activated model on its first request once REFRESH_SECONDS have
        # passed since its last look, so only after that bound must every worker serve it. When the
        # load ends sooner after the activation (a busy machine), wait the rest before probing.
        time.sleep(max(0.0, activation["t0"] + REFRESH_SECONDS + 0.25 - time.monotonic()))
        result["workers_after"] = probe_workers(port, master, admin_key)
        result["metrics"] = scrape_metrics(base)
    load = json.loads((work / "load.json").read_text())
    result.update(kill=kill, activation=activation, load={"t_start": load["t_start"], "t_end": load["t_end"]})
    result["server_log"] = read_server_log(server_dir / "gunicorn.log", run_id)
    result["writes"] = check_writes(database_url, load["records"])
    result["summary"] = summarise(result, load["records"])
    return result


def _note_replacement(kill: dict[str, Any], master: int) -> None:
    new = [p for p in children(master) if p not in kill["before"]]
    if new and "replacement" not in kill:
        kill["replacement"] = new[0]
        kill["replacement_after_s"] = time.monotonic() - kill["t"]


def _drive(proc: Any, progress: Any, requests: int, kill_at: float, switch_at: float, master: int, port: int,
           base: str, new: str, admin_key: str, before: list[int],
           log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Watch the load's progress; kill a worker and activate ``new`` when it reaches each mark."""
    kill: dict[str, Any] | None = None
    activation: dict[str, Any] | None = None
    while True:
        done = progress.value
        alive = proc.is_alive()
        if kill is None and (done >= kill_at * requests or not alive):
            kill = kill_busy_worker(master, port)
            kill.update(at_request=done, mid_run=alive, before=before)
            log(f"SIGKILL worker {kill['pid']} after {done} requests (it held client ports "
                f"{kill['held_client_ports']})")
        if kill is not None:
            _note_replacement(kill, master)
        if activation is None and (done >= switch_at * requests or not alive):
            t0 = time.monotonic()
            status, body = _post(f"{base}/v1/models/{new}/activate", {}, admin_key)
            activation = {"t0": t0, "t1": time.monotonic(), "status": status, "at_request": done,
                          "mid_run": alive, "body": body if status != 200 else None}
            log(f"activated {new} after {done} requests: HTTP {status}")
        if not alive:
            assert kill is not None and activation is not None
            return kill, activation
        time.sleep(0.002)


METRIC_RE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')
ROUTE_OF_KIND = {
    "moderate": ("POST", "/v1/moderate"), "moderate_html": ("POST", "/v1/moderate"),
    "moderate_draft": ("POST", "/v1/moderate"), "moderate_review": ("POST", "/v1/moderate"),
    "batch": ("POST", "/v1/moderate/batch"), "reviews": ("GET", "/v1/reviews"),
    "decision": ("POST", "/v1/reviews/<int:review_id>/decision"), "feedback": ("POST", "/v1/feedback"),
    "healthz": ("GET", "/healthz"),
}


def scrape_metrics(base: str) -> dict[str, Any]:
    """``model_active_info`` and ``http_requests_total`` per (method, route) from ``/metrics``: after a
    SIGKILL the dead worker's counts must still be in the sums, and only the new model marked active."""
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:  # nosec B310 (127.0.0.1)
        text = r.read().decode()
    active: dict[str, float] = {}
    requests: dict[str, float] = collections.defaultdict(float)
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if m.group(1) == "model_active_info":
            active[labels["version"]] = float(m.group(3))
        elif m.group(1) == "http_requests_total":
            requests[f"{labels['method']} {labels['route']}"] += float(m.group(3))
    return {"model_active_info": active, "http_requests_total": dict(requests)}


def read_server_log(path: Path, run_id: str) -> dict[str, Any]:
    """Statuses and durations the service logged for this run's requests (by X-Request-ID), and its
    error lines: client latency includes the wait in the accept queue, the logged duration does not."""
    statuses: dict[str, int] = {}
    durations: dict[str, float] = {}
    errors: list[str] = []
    expected: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        entry = None
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
        if entry and entry.get("logger") == "service.access" and str(entry.get("request_id", "")).startswith(
                f"lf-{run_id}-"):
            statuses[entry["request_id"]] = entry["status"]
            durations[entry["request_id"]] = entry["duration_ms"]
        elif "was sent SIGKILL" in line:
            expected.append(line[:500])  # gunicorn reporting the kill this run made
        elif (entry and entry.get("level") in ("ERROR", "CRITICAL")) or (
                entry is None and ("[ERROR]" in line or "Traceback" in line)):
            errors.append(line[:500])
    return {"statuses": statuses, "durations_ms": durations, "errors": errors, "expected": expected}


def check_writes(database_url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Look every write up in the store by its token: acknowledged ones must be there exactly once,
    refused ones not at all; those whose connection dropped are reported as found or not."""
    from sqlalchemy import select

    from service.store import Store
    from service.store.schema import AuditEntry, Decision, Review
    from service.store.schema import Correction as CorrectionRow

    store = Store(database_url)
    try:
        with store.session() as s:
            reviews = s.execute(select(Review.id, Review.document_id, Review.text, Review.status,
                                       Review.superseded_by)).all()
            decisions = s.execute(select(Decision.id, Decision.review_id, Decision.action, Decision.note,
                                         Decision.review_version)).all()
            corrections = s.execute(select(CorrectionRow.id, CorrectionRow.source, CorrectionRow.note,
                                           CorrectionRow.decision_id)).all()
            audit = s.execute(select(AuditEntry.action, AuditEntry.target, AuditEntry.detail)).all()
    finally:
        store.dispose()
    reviews_of: dict[str, list[Any]] = collections.defaultdict(list)
    for r in reviews:
        for token in set(TOKEN_RE.findall(r.text or "")):  # the "Reference <token>." line
            reviews_of[token].append(r)
    decisions_of: dict[str, list[Any]] = collections.defaultdict(list)
    for d in decisions:
        decisions_of[d.note].append(d)
    fixes_of: dict[int, int] = collections.Counter(c.decision_id for c in corrections if c.decision_id)
    feedback_of: dict[str, list[Any]] = collections.defaultdict(list)
    for c in corrections:
        if c.source == "feedback":
            feedback_of[c.note].append(c)
    audits = collections.Counter()
    for a in audit:
        if a.action == "review.decide":
            audits[(a.action, a.target, (a.detail or {}).get("version"))] += 1
        else:
            audits[(a.action, a.target, None)] += 1

    out: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for kind in ("review", "decision", "feedback"):
        out[kind] = dict.fromkeys(("acknowledged", "verified", "lost", "duplicated", "mismatched",
                                   "stored_though_refused", "stored_though_answer_said_not", "audit_mismatch",
                                   "unknown_outcome", "unknown_outcome_stored"), 0)
    for rec in records:
        answered_ok = rec["status"] is not None and 200 <= rec["status"] < 300
        for w in rec["writes"]:
            c = out[w["type"]]
            if w["type"] == "review":
                found = reviews_of.get(w["token"], [])
            elif w["type"] == "decision":
                found = decisions_of.get(w["token"], [])
            else:
                found = feedback_of.get(w["token"], [])
            where = {"seq": rec["seq"], "kind": rec["kind"], "status": rec["status"], "error": rec["error"],
                     "write": w, "found": [f.id for f in found]}
            if rec["status"] is None:
                c["unknown_outcome"] += 1
                c["unknown_outcome_stored"] += bool(found)
                if len(found) > 1:
                    c["duplicated"] += 1
                    problems.append({"problem": "duplicated", **where})
                continue
            if not answered_ok:
                if found:
                    c["stored_though_refused"] += 1
                    problems.append({"problem": "stored though refused", **where})
                continue
            if w["id"] is None:  # 2xx saying nothing was kept (review: null)
                if found:
                    c["stored_though_answer_said_not"] += 1
                    problems.append({"problem": "stored though the answer said not", **where})
                continue
            c["acknowledged"] += 1
            if not found:
                c["lost"] += 1
                problems.append({"problem": "lost", **where})
                continue
            if len(found) > 1:
                c["duplicated"] += 1
                problems.append({"problem": "duplicated", **where})
                continue
            row = found[0]
            if w["type"] == "review":
                ok = row.id == w["id"] and row.document_id == w["document_id"]
                audit_key = ("review.enqueue", f"review:{row.id}", None)
            elif w["type"] == "decision":
                ok = (row.review_id == w["review_id"] and row.review_version == w["version"]
                      and row.action == w["action"] and w["id"] in (row.id, -1)
                      and fixes_of.get(row.id, 0) == w["corrections"])
                audit_key = ("review.decide", f"review:{row.review_id}", row.review_version)
            else:
                ok = row.id == w["id"]
                audit_key = ("feedback.add", f"correction:{row.id}", None)
            if not ok:
                c["mismatched"] += 1
                problems.append({"problem": "mismatched", **where})
                continue
            if audits.get(audit_key, 0) != 1:
                c["audit_mismatch"] += 1
                problems.append({"problem": f"{audits.get(audit_key, 0)} audit entries", **where})
            c["verified"] += 1
    pending = collections.Counter(r.document_id for r in reviews if r.status == "pending" and r.document_id)
    out["invariants"] = {
        "documents_with_two_pending_reviews": sum(1 for n in pending.values() if n > 1),
        "superseded_without_successor": sum(1 for r in reviews if r.status == "superseded" and not r.superseded_by),
        "reviews_in_store": len(reviews), "decisions_in_store": len(decisions),
        "corrections_in_store": len(corrections),
    }
    out["problems"] = problems[:50]
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 1])."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _latency(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    ms = [(r["t1"] - r["t0"]) * 1000 for r in records if r["status"] is not None]
    return {f"p{q}": (round(v, 1) if (v := percentile(ms, q / 100)) is not None else None) for q in (50, 90, 99)}


def _is_error(rec: dict[str, Any]) -> bool:
    """An answer that is neither success, 429, 503, nor a decision's legitimate 409."""
    s = rec["status"]
    if s is None or s < 400 or s in (429, 503):
        return False
    return not (rec["kind"] == "decision" and s == 409)


def summarise(result: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the report shows, from the raw records."""
    kill = result["kill"] or {}
    held = set(kill.get("held_client_ports", []))
    t_kill = kill.get("t", math.inf)

    def dropped_by_kill(r: dict[str, Any]) -> bool:
        return r["status"] is None and r["port"] in held and r["t0"] <= t_kill <= r["t1"]

    conn_errors = [r for r in records if r["status"] is None]
    dropped = [r for r in conn_errors if dropped_by_kill(r)]
    other_conn = [r for r in conn_errors if not dropped_by_kill(r)]
    errors = [r for r in records if _is_error(r)]
    t_start, t_end = result["load"]["t_start"], result["load"]["t_end"]
    durations = result["server_log"]["durations_ms"]

    def server(rs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
        ms = [durations[r["request_id"]] for r in rs if r["request_id"] in durations]
        return {f"server_p{q}": (round(v, 1) if (v := percentile(ms, q / 100)) is not None else None)
                for q in (50, 99)}

    per_kind: dict[str, Any] = {}
    for kind in MIX:
        rs = [r for r in records if r["kind"] == kind]
        statuses = collections.Counter(r["status"] for r in rs if r["status"] is not None)
        per_kind[kind] = {"sent": len(rs), "statuses": dict(sorted(statuses.items())),
                          "connection_errors": sum(r["status"] is None for r in rs),
                          "errors": sum(_is_error(r) for r in rs), **_latency(rs), **server(rs)}
    act = result["activation"] or {}
    old, new = result["models"]["before"], result["models"]["after"]
    old_after = [r for r in records if old in r["versions"] and r["t0"] >= act.get("t1", math.inf)]
    # Which worker answered is not known per request, so: the switch is complete when the last answer
    # carrying the old version arrives (none later, from either worker). It counts as observed only
    # if the load went on long enough after it to show that (20 more model answers).
    last_old = max((r["t1"] for r in records if old in r["versions"]), default=None)
    switch_s = None
    if act.get("status") == 200:
        done_at = max(act["t1"], last_old or act["t1"])
        if sum(1 for r in records if r["versions"] and r["t0"] > done_at) >= 20:
            switch_s = done_at - act["t0"]
    logged = result["server_log"]["statuses"]
    answered = [r for r in records if r["status"] is not None]
    after = result["workers_after"]
    counted = result["metrics"]["http_requests_total"]
    client: dict[str, int] = collections.Counter(" ".join(ROUTE_OF_KIND[r["kind"]]) for r in answered)
    client["POST /v1/moderate"] += sum(w["status"] is not None for w in result["workers_before"] + after)  # probes
    # a request the killed worker finished but could not send may be counted, never more than that
    count_mismatch = {route: {"metrics": counted.get(route, 0), "client": n} for route, n in client.items()
                      if not 0 <= counted.get(route, 0) - n <= len(dropped)}
    shown_active = sorted(v for v, value in result["metrics"]["model_active_info"].items() if value == 1)
    writes = result["writes"]
    return {
        "requests_sent": len(records),
        "duration_s": round(t_end - t_start, 2),
        "requests_per_s": round(len(records) / (t_end - t_start), 1),
        "statuses": dict(sorted(collections.Counter(r["status"] for r in answered).items())),
        "connection_errors": len(conn_errors),
        "dropped_by_killed_worker": len(dropped),
        "dropped_requests": [{"seq": r["seq"], "kind": r["kind"], "error": r["error"],
                              "logged_by_service": logged.get(r["request_id"])} for r in dropped],
        "other_connection_errors": len(other_conn),
        "decision_conflicts_409": sum(1 for r in records if r["kind"] == "decision" and r["status"] == 409),
        "decision_conflicts_by_cause": dict(collections.Counter(r.get("conflict", "?") for r in records
                                                                if r["kind"] == "decision" and r["status"] == 409)),
        "errors_other_than_429_503": len(errors) + len(other_conn),
        "server_errors_5xx": sum(1 for r in answered if r["status"] >= 500),
        "error_examples": [{"seq": r["seq"], "kind": r["kind"], "status": r["status"], "error": r["error"]}
                           for r in (errors + other_conn)[:20]],
        "lost_writes": sum(writes[k]["lost"] for k in ("review", "decision", "feedback")),
        "write_problems": sum(writes[k][p] for k in ("review", "decision", "feedback")
                              for p in ("lost", "duplicated", "mismatched", "stored_though_refused",
                                        "stored_though_answer_said_not", "audit_mismatch")),
        "latency_ms": _latency(records),
        "server_ms": server(records),
        "per_kind": per_kind,
        "kill": {
            "pid": kill.get("pid"), "mid_run": kill.get("mid_run"), "busy": kill.get("busy"),
            "at_s": round(t_kill - t_start, 3) if kill else None, "at_request": kill.get("at_request"),
            "replacement_pid": kill.get("replacement"),
            "replacement_spawned_after_s": round(kill["replacement_after_s"], 3) if "replacement_after_s" in kill
            else None,
            "replacement_served": any(w["pid"] == kill.get("replacement") and w["status"] == 200 for w in after),
        },
        "switch": {
            "status": act.get("status"), "mid_run": act.get("mid_run"), "at_request": act.get("at_request"),
            "at_s": round(act["t0"] - t_start, 3) if act else None,
            "activation_request_s": round(act["t1"] - act["t0"], 3) if act else None,
            "both_workers_switched_after_s": round(switch_s, 3) if switch_s is not None else None,
            "old_version_answers_after_activation": len(old_after),
            "workers_after": after,
            "all_workers_serve_new": bool(after) and all(w["status"] == 200 and w["model_version"] == new
                                                         for w in after),
            "worker_pids_after": sorted(w["pid"] for w in after if w["pid"] is not None),
        },
        "metrics": {
            "model_active_info_1": shown_active,
            "only_new_model_shown_active": shown_active == [new],
            "request_count_mismatches": count_mismatch,
        },
        "server_log": {
            "answered_not_logged": sum(1 for r in answered if r["request_id"] not in logged),
            "status_differs_from_log": sum(1 for r in answered if logged.get(r["request_id"], r["status"])
                                           != r["status"]),
            "error_lines": len(result["server_log"]["errors"]),
        },
    }


# --------------------------------------------------------------------------------------------
# report


def markdown(result: dict[str, Any]) -> str:
    """The report as Markdown: the run's figures, then one row per kind of request."""
    s = result["summary"]
    k, sw, w = s["kill"], s["switch"], result["writes"]

    def fmt(v: Any) -> str:
        return "—" if v is None else str(v)

    lat = s["latency_ms"]
    acked = sum(w[x]["acknowledged"] for x in ("review", "decision", "feedback"))
    lines = [
        f"## Load and faults: {result['database']}, {s['requests_sent']} requests at concurrency "
        f"{result['concurrency']}",
        "",
        f"Run {result['started_at']} on {result['machine']['cpus']} CPUs, Python {result['machine']['python']}: "
        f"gunicorn as `make run` (2 sync workers, preloaded), load from a second process on 127.0.0.1; "
        f"RATE_LIMIT={result['rate_limit']} per key, counted in each worker's memory; models "
        f"{result['models']['before']} → {result['models']['after']}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests sent | {s['requests_sent']} in {s['duration_s']} s ({s['requests_per_s']} req/s) |",
        f"| answered, per status | {', '.join(f'{st}: {n}' for st, n in s['statuses'].items())} |",
        f"| connection errors | {s['connection_errors']} ({s['dropped_by_killed_worker']} dropped in flight by the "
        f"killed worker, {s['other_connection_errors']} other) |",
        f"| errors other than 429/503 | {s['errors_other_than_429_503']} (decisions' 409 conflicts, legitimate: "
        f"{s['decision_conflicts_409']}: "
        f"{', '.join(f'{n} {c}' for c, n in sorted(s['decision_conflicts_by_cause'].items())) or 'none'}) |",
        f"| 5xx | {s['server_errors_5xx']} |",
        f"| lost writes | {s['lost_writes']} (of {acked} acknowledged; other write problems: "
        f"{s['write_problems'] - s['lost_writes']}) |",
        f"| acknowledged and verified once | reviews {w['review']['verified']}/{w['review']['acknowledged']}, "
        f"decisions {w['decision']['verified']}/{w['decision']['acknowledged']}, feedback "
        f"{w['feedback']['verified']}/{w['feedback']['acknowledged']} |",
        "| writes with unknown outcome (connection dropped) | "
        + ", ".join(f"{x}: {w[x]['unknown_outcome']} (stored: {w[x]['unknown_outcome_stored']})"
                    for x in ("review", "decision", "feedback")) + " |",
        f"| latency p50 / p90 / p99 | {fmt(lat['p50'])} / {fmt(lat['p90'])} / {fmt(lat['p99'])} ms |",
        f"| worker killed (SIGKILL) | pid {k['pid']} at {fmt(k['at_s'])} s (request {k['at_request']}), "
        f"{'holding a request' if k['busy'] else 'idle'}; replacement pid {k['replacement_pid']} spawned after "
        f"{fmt(k['replacement_spawned_after_s'])} s, {'served' if k['replacement_served'] else 'did NOT serve'} |",
        f"| model switch | activated at {fmt(sw['at_s'])} s (HTTP {sw['status']}, {fmt(sw['activation_request_s'])} s);"
        f" both workers on it after {fmt(sw['both_workers_switched_after_s'])} s |",
        "| workers at the end | "
        + ", ".join(f"pid {x['pid']}: {x['model_version']}" for x in sw["workers_after"])
        + (" (all on the new model)" if sw["all_workers_serve_new"] else " (NOT all on the new model)") + " |",
        f"| /metrics | model_active_info = 1 for {', '.join(s['metrics']['model_active_info_1']) or 'none'}"
        + ("" if s["metrics"]["only_new_model_shown_active"] else " (**not only the new model**)")
        + f"; http_requests_total per route vs answers received: "
        f"{'equal' if not s['metrics']['request_count_mismatches'] else s['metrics']['request_count_mismatches']} |",
        f"| service log | {s['server_log']['answered_not_logged']} answers not logged, "
        f"{s['server_log']['status_differs_from_log']} logged with another status, "
        f"{s['server_log']['error_lines']} error lines |",
        "",
        "Latency as the client sees it (connect to last byte, so including the wait in gunicorn's accept "
        "queue), and the time inside the app as the service logged it (server p50, p99).",
        "",
        "| kind | sent | statuses | conn. errors | errors | p50 ms | p90 ms | p99 ms | server p50 ms | "
        "server p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, pk in s["per_kind"].items():
        lines.append(f"| {kind} | {pk['sent']} | {', '.join(f'{st}: {n}' for st, n in pk['statuses'].items())} | "
                     f"{pk['connection_errors']} | {pk['errors']} | {fmt(pk['p50'])} | {fmt(pk['p90'])} | "
                     f"{fmt(pk['p99'])} | {fmt(pk['server_p50'])} | {fmt(pk['server_p99'])} |")
    sv = s["server_ms"]
    lines.append(f"| **all** | {s['requests_sent']} | | {s['connection_errors']} | {s['errors_other_than_429_503']} "
                 f"| {fmt(lat['p50'])} | {fmt(lat['p90'])} | {fmt(lat['p99'])} | {fmt(sv['server_p50'])} | "
                 f"{fmt(sv['server_p99'])} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``<database>.json`` and ``<database>.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{result['database']}.json", out / f"{result['database']}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str))
    md_path.write_text(markdown(result))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    """CLI: set up a temporary store and models directory, run, report; exit 1 if the goals are missed."""
    from tests.servers import POSTGRES_URL, postgres_database

    parser = argparse.ArgumentParser(prog="python -m bench.load_fault", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server to create a scratch database on")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="where the active model is")
    parser.add_argument("--rate-limit", default=DEFAULT_RATE_LIMIT, help="RATE_LIMIT for the service ('off': none)")
    parser.add_argument("--kill-at", type=float, default=0.3, help="fraction of the requests done at the kill")
    parser.add_argument("--switch-at", type=float, default=0.55, help="fraction done at the model activation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="load-fault-") as tmp:
        work = Path(tmp)
        old, new = prepare_models(args.models_dir, work / "models")
        with (postgres_database("kratom_claims_loadfault", args.postgres_url) if args.database == "postgresql"
              else contextlib.nullcontext(f"sqlite:///{work}/data/store.db")) as url:
            result = run(database_url=url, models_dir=work / "models", old=old, new=new, work=work,
                         requests=args.requests, concurrency=args.concurrency, rate_limit=args.rate_limit,
                         kill_at=args.kill_at, switch_at=args.switch_at, seed=args.seed,
                         log=lambda m: print(m, file=sys.stderr))
    json_path, md_path = write_report(result, args.out)
    print(markdown(result))
    print(f"written: {json_path}, {md_path}", file=sys.stderr)
    s = result["summary"]
    ok = (s["errors_other_than_429_503"] == 0 and s["write_problems"] == 0 and s["kill"]["replacement_served"]
          and s["switch"]["all_workers_serve_new"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
