"""Export moderators' corrections as training rows: ``python -m training.export_feedback -o feedback.jsonl``.

Reads the service's store directly (``DATABASE_URL``, or the embedded SQLite
under ``DATA_DIR``), so it runs where the service's database is reachable,
with or without the service. ``GET /v1/feedback/export`` returns the same rows.
"""

from __future__ import annotations

import argparse
import json
import sys

from service.config import load_config
from service.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export_feedback", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: the service's DATABASE_URL")
    parser.add_argument("-o", "--output", default="-", help="JSONL file (default: standard output)")
    args = parser.parse_args(argv)
    url = args.database_url or load_config()["DATABASE_URL"]
    store = Store(url)
    store.migrate()
    rows = list(store.export_feedback())
    store.dispose()
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"exported {len(rows)} corrected sentences", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
