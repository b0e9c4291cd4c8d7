import random
import re

import pytest

from launcher import manifests
from launcher.errors import EX_CONFIG, LauncherError
from launcher.locks import BY_KIND, Kind

# PEP 723's reference expression, which is quadratic on some inputs: the one-pass reader must agree with it.
PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
PIECES = ["# /// script", "# ///", "# /// a", "#", "# x = 1", "print(1)", "", "# ///x", "#///", " # ///", "# a\u2028b"]


def reference(text: str) -> list[tuple[str, str]]:
    blocks = []
    for match in PEP723.finditer(text):
        lines = match.group("content").splitlines(keepends=True)
        blocks.append((match.group("type"), "".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)))
    return blocks


def test_metadata_blocks_are_found_as_pep_723_finds_them():
    rnd = random.Random(723)
    for _ in range(20000):
        text = "\n".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 8))) + rnd.choice(["", "\n"])
        assert manifests.metadata_blocks(text) == reference(text), repr(text)


def test_metadata_blocks_take_linear_time():
    # 60 000 opening lines with no end: the reference expression takes minutes.
    assert manifests.metadata_blocks("# /// a\n" * 60000) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            '[project]\ndependencies = "greeting"\n',
            "pyproject.toml [project] dependencies must be a list of strings, not a string",
        ),
        ('[project]\ndependencies = ["--help"]\n', "holds '--help', which is not a requirement"),
        ("[project]\ndependencies = [1]\n", "must be a list of strings; it holds a number"),
        ("project = 1\n", "pyproject.toml project must be a table, not a number"),
        ("[project]\noptional-dependencies = []\n", "pyproject.toml [project] optional-dependencies must be a table"),
        ("x = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ],
)
def test_wrong_documents_are_config_errors_naming_the_key(tmp_path, document, message):
    (tmp_path / "pyproject.toml").write_text(document)
    with pytest.raises(LauncherError) as error:
        pyproject = manifests.Pyproject.read(tmp_path / "pyproject.toml")
        pyproject.check_project()
    assert error.value.code == EX_CONFIG
    assert message in str(error.value)


def test_a_manifest_that_is_a_folder_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").mkdir()
    with pytest.raises(LauncherError, match=r"pyproject\.toml is not a regular file") as error:
        manifests.Pyproject.read(tmp_path / "pyproject.toml")
    assert error.value.code == EX_CONFIG


def test_a_long_chain_of_included_groups_is_followed_in_order():
    groups = {f"g{i}": [f"pkg{i}", {"include-group": f"g{i + 1}"}] for i in range(1500)}
    groups["g1500"] = ["last"]
    found = manifests.Pyproject({"dependency-groups": groups}).group("g0")
    assert found == [*(f"pkg{i}" for i in range(1500)), "last"]


def test_a_group_that_includes_itself_is_a_config_error():
    pyproject = manifests.Pyproject(
        {"dependency-groups": {"a": [{"include-group": "b"}], "b": [{"include-group": "a"}]}}
    )
    with pytest.raises(LauncherError, match="dependency group a includes itself"):
        pyproject.group("a")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("Pipfile.lock", "[]", "is not a lock Pipenv wrote"),
        ("Pipfile.lock", "{", "is not valid JSON"),
        ("Pipfile.lock", '{"_meta": {}, "default": []}', "default must be a table"),
        ("poetry.lock", "x = 1\n", "is not a lock Poetry wrote"),
        ("pylock", 'lock-version = "9.0"\n', "has lock-version '9.0'"),
        ("pylock", 'lock-version = "1.0"\npackages = "x"\n', "must list its packages as tables"),
        ("pylock", "[[", "is not valid TOML"),
    ],
)
def test_a_lock_that_its_tool_did_not_write_is_a_config_error(tmp_path, kind, text, message):
    (tmp_path / "lock").write_text(text)
    with pytest.raises(LauncherError, match=re.escape(message)) as error:
        manifests.check_lock(tmp_path / "lock", BY_KIND[Kind(kind)], "the lock")
    assert error.value.code == EX_CONFIG
