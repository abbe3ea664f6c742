"""Operator commands: ``flask --app service <command>`` or ``python -m service <command>``."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
from flask import Flask, current_app

from .store import Store


def _store() -> Store:
    return current_app.extensions["store"]


@click.command("purge")
@click.option("--days", type=int, default=None, help="Keep this many days (default: RETENTION_DAYS).")
def purge(days: int | None) -> None:
    """Delete submitted texts older than the retention period."""
    days = current_app.config["RETENTION_DAYS"] if days is None else days
    n = _store().purge(timedelta(days=days), actor="cli")
    click.echo(f"purged the texts of {n} reviews older than {days} days")


@click.command("migrate")
def migrate() -> None:
    """Bring the database schema up to date (also done at start unless AUTO_MIGRATE=false)."""
    _store().migrate()
    click.echo("database schema is up to date")


@click.command("export-feedback")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="-", help="File (default: stdout).")
def export_feedback(output: str) -> None:
    """Write moderators' corrections as training JSONL."""
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    n = 0
    try:
        for row in _store().export_feedback():
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    click.echo(f"exported {n} corrected sentences", err=True)


def init_app(app: Flask) -> None:
    for command in (purge, migrate, export_feedback):
        app.cli.add_command(command)
