"""``python -m service <command>``: the same commands as ``flask --app service``."""

from flask.cli import FlaskGroup

from . import create_app

cli = FlaskGroup(create_app=lambda: create_app())

if __name__ == "__main__":
    cli(prog_name="python -m service")
