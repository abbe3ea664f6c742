"""Alembic environment: runs on the engine the service passes in (see ``db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from service.store.schema import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand, with -x url=...
    engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
