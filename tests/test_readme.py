"""The README stays true: its quick start and its configuration table."""

from pathlib import Path

from service.config import SETTINGS

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_quick_start_is_the_two_make_commands():
    assert "make run" in README and "make test" in README


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert f"`{setting.name}`" in README, setting.name
