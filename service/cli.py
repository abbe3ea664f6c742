"""Operator commands: ``flask --app service <command>`` or ``python -m service <command>``."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
from flask import Flask, current_app

from .store import Store
from .store.schema import ROLES


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


@click.group("keys")
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
def create_key(name: str, role: str) -> None:
    """Create a key and print it (it is shown this once)."""
    record, key = _store().create_key(name, role, actor="cli")
    click.echo(f"created {record['role']} key {record['name']!r} (id {record['id']}); keep it, it is not shown again:")
    click.echo(key)


@keys.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves)."""
    for k in _store().api_keys():
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else f"last used {k['last_used_at'] or 'never'}"
        click.echo(f"{k['id']:>4}  {k['name']:<24} {k['role']:<10} {k['prefix']}…  {state}")


@keys.command("revoke")
@click.argument("key")
def revoke_key(key: str) -> None:
    """Revoke a key by id or name; it stops working on the next request."""
    record = _store().revoke_key(int(key) if key.isdigit() else key, actor="cli")
    click.echo(f"revoked key {record['name']!r} (id {record['id']})")


@keys.command("ensure-dev")
def ensure_dev_key() -> None:
    """For `make run`: on first start (no key at all), create an admin key for local use and print it once."""
    store = _store()
    if store.api_keys():
        return
    _, key = store.create_key("local-dev", "admin", actor="make run")
    click.echo(f"Created a local development admin key (shown once; `python -m service keys --help`):\n  {key}")


def init_app(app: Flask) -> None:
    for command in (purge, migrate, export_feedback, keys):
        app.cli.add_command(command)
