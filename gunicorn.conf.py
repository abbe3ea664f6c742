"""gunicorn settings for `make run` and the container (all from the environment)."""

import os
import shutil
import tempfile

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", "2"))
preload_app = os.environ.get("PRELOAD", "1") != "0"  # load the model once, before forking
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app writes one JSON line per request itself
errorlog = "-"

# Prometheus multiprocess mode: the directory must exist, empty, before the app
# is preloaded (the metrics' value files are created when the app is built).
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"kratom-metrics-{os.getpid()}")
)
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
