"""The constants scripts/check-contract compares with CONTRACT.md say what the launcher does:
OTHER_SETTINGS and DEFAULTS hold every setting it reads, DETECTION_ORDER is the order it detects in."""

from itertools import combinations
from pathlib import Path

import pytest

from launcher import commands, detect, install, settings

SETTINGS = {**settings.DEFAULTS, **settings.OTHER_SETTINGS}
APP = '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["rich"]\n'
SCRIPT = '# /// script\n# dependencies = ["rich"]\n# ///\nprint(1)\n'
# A bundle for each file of DETECTION_ORDER: the file as named there, and what must come with it.
BUNDLES = {
    "uv.lock": {"uv.lock": "version = 1\n", "pyproject.toml": APP},
    "poetry.lock": {"poetry.lock": "[metadata]\n", "pyproject.toml": APP},
    "Pipfile.lock": {"Pipfile.lock": '{"_meta": {}}', "Pipfile": ""},
    "pylock.toml": {"pylock.toml": 'lock-version = "1.0"\n'},
    "pylock.NAME.toml": {"pylock.dev.toml": 'lock-version = "1.0"\n'},
    "requirements.txt": {"requirements.txt": "rich\n"},
    "pyproject.toml": {"pyproject.toml": APP},
    "setup.py": {"setup.py": ""},
    "setup.cfg": {"setup.cfg": ""},
    ".py": {"job.py": SCRIPT},
}
MARKERS = [(place, name) for place, row in enumerate(detect.DETECTION_ORDER) for name in row]


class Recording(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str], seen: set[str]) -> None:
        super().__init__(values)
        self.seen = seen

    def get(self, name, default=None):
        self.seen.add(name)
        return super().get(name, default)

    def __contains__(self, name):
        self.seen.add(name)
        return super().__contains__(name)

    def __getitem__(self, name):
        self.seen.add(name)
        return super().__getitem__(name)


def bundle(root: Path, *names: str) -> Path:
    for name in names:
        for file, content in BUNDLES[name].items():
            (root / file).write_text(content)
    return root


# pip's settings, given: the launcher then also looks up uv's spelling of each.
PIP_SETTINGS = {
    "PIP_INDEX_URL": "https://index.example/simple",
    "PIP_EXTRA_INDEX_URL": "https://extra.example/simple",
    "PIP_FIND_LINKS": "/wheels",
    "PIP_TRUSTED_HOST": "index.example",
    "PIP_RETRIES": "2",
    "PIP_CERT": "/ca.crt",
}


@pytest.fixture
def looked_up(tmp_path, monkeypatch) -> set[str]:
    """The names the launcher looks up in the environment, reading its settings and preparing an
    install: without settings, and with pip's."""
    seen: set[str] = set()
    monkeypatch.setattr(commands, "clean_environ", lambda values: Recording(values, seen))
    for given in ({"UV_CACHE_DIR": str(tmp_path / "uv-cache")}, {**PIP_SETTINGS, "PIP_CACHE_DIR": str(tmp_path)}):
        environ = Recording({"LAUNCHER_WORKDIR": str(tmp_path / "job"), **given}, seen)
        config = settings.read(environ)
        settings.debug_requested(environ)
        commands.installer_env(config)
        install.cache_settings(config, tmp_path, log=None)
    return seen


def test_every_setting_looked_up_is_listed(looked_up):
    assert looked_up - SETTINGS.keys() == set()


def test_every_setting_listed_is_looked_up(looked_up):
    assert SETTINGS.keys() - looked_up == set()


@pytest.mark.parametrize(("place", "name"), MARKERS, ids=[name for _, name in MARKERS])
def test_each_detection_file_alone_is_used(tmp_path, config, place, name):
    file = next(iter(BUNDLES[name]))
    assert file in detect.plan(bundle(tmp_path, name), config()).method


PAIRS = [(first, then) for first, then in combinations(MARKERS, 2) if first[0] < then[0]]


@pytest.mark.parametrize(("first", "then"), PAIRS, ids=[f"{first[1]} over {then[1]}" for first, then in PAIRS])
def test_detection_follows_detection_order(tmp_path, config, first, then):
    file = next(iter(BUNDLES[first[1]]))
    assert file in detect.plan(bundle(tmp_path, first[1], then[1]), config()).method
