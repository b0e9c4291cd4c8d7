"""scripts/check-contract: CONTRACT.md's tables against the launcher's constants. Each case doctors a
copy of CONTRACT.md (one replacement) and expects the lines that name the disagreement, and exit 1."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-contract"
CONTRACT = (ROOT / "CONTRACT.md").read_text()
PYPROJECT_ROW = (
    "`pyproject.toml` that declares a project | the project (L3.2), or only its dependencies when it is an "
    "application (L3.9) |"
)
SETUP_ROW = "`setup.py` or `setup.cfg` | the project (L3.3) |"
SUMMARY = (
    r"check-contract: \d+ clauses, \d+ tests, every clause covered; "
    r"\d+ exit codes, \d+ settings \(\d+ defaults\), \d+ detection rows as in the launcher\n"
)

# name: (text of CONTRACT.md, what replaces it, the lines expected; {doc} is the copy, {line} the
# line the replacement starts on).
CASES = {
    "clause without a test": (
        "## L8 Container limits\n",
        "## L8 Container limits\n\n- **L8.9** A job runs.\n",
        ["no conformance test for L8.9 of {doc}"],
    ),
    "exit code the launcher does not define": (
        "  | 127 | the command is not found |\n",
        "  | 127 | the command is not found |\n  | 71 | the job environment is broken |\n",
        ["{doc} L7.1 lists exit 71, which launcher/errors.py does not define"],
    ),
    "exit code the contract does not list": (
        "  | 126 | the command cannot be run: not executable, a directory, a missing `#!` interpreter, "
        "a filesystem mounted noexec |\n",
        "",
        ["launcher/errors.py defines exit 126 (EX_NOEXEC), which {doc} L7.1 does not list"],
    ),
    "exit code listed twice": (
        "  | 127 | the command is not found |\n",
        "  | 127 | the command is not found |\n  | 127 | the command is missing |\n",
        ["{doc} L7.1 lists exit 127 twice"],
    ),
    "no exit code table": (
        "  | code | meaning |\n",
        "  | status | meaning |\n",
        ["{doc} has no `| code | meaning |` table in L7.1, for the exit codes of launcher/errors.py"],
    ),
    "setting the launcher does not read": (
        "  | `LAUNCHER_DEBUG` | off |",
        "  | `LAUNCHER_COLOUR` | off | coloured lines |\n  | `LAUNCHER_DEBUG` | off |",
        ["{doc} L7.2 lists the setting LAUNCHER_COLOUR, which launcher/settings.py does not read"],
    ),
    "setting the contract does not list": (
        "  | `LAUNCHER_OUTPUTS` | `/outputs` | where `requirements.log` goes (L5) |\n",
        "",
        ["launcher/settings.py reads LAUNCHER_OUTPUTS, which {doc} L7.2 does not list"],
    ),
    "default that differs": (
        "  | `LAUNCHER_WORKDIR` | `/tmp/job` |",
        "  | `LAUNCHER_WORKDIR` | `/tmp/jobs` |",
        ["{doc} L7.2 gives LAUNCHER_WORKDIR the default /tmp/jobs, and launcher/settings.py the default /tmp/job"],
    ),
    "default the contract leaves out": (
        "  | `PIP_TIMEOUT` | `15` |",
        "  | `PIP_TIMEOUT` | 15 s |",
        ["{doc} L7.2 gives PIP_TIMEOUT no default, and launcher/settings.py the default 15"],
    ),
    "default the launcher does not have": (
        "  | `PIP_RETRIES` | the installer's |",
        "  | `PIP_RETRIES` | `5` |",
        ["{doc} L7.2 gives PIP_RETRIES the default 5, and launcher/settings.py no default"],
    ),
    "defaults that do not pair with settings": (
        "  | `LAUNCHER_EXTRAS`, `LAUNCHER_GROUPS` | none |",
        "  | `LAUNCHER_EXTRAS`, `LAUNCHER_GROUPS` | `a` |",
        [
            "{doc} line {line}: a row of L7.2 names 2 settings and gives 1 defaults; "
            "give one `value` per setting, or none",
            "launcher/settings.py reads LAUNCHER_EXTRAS, which {doc} L7.2 does not list",
            "launcher/settings.py reads LAUNCHER_GROUPS, which {doc} L7.2 does not list",
        ],
    ),
    "setting the text names that the launcher does not read": (
        "`PIP_RETRIES` retries",
        "`PIP_MAX_RETRIES` retries",
        ["{doc} line {line} names the setting PIP_MAX_RETRIES, which launcher/settings.py does not read"],
    ),
    "default in the text that differs": (
        "`LAUNCHER_MAX_BYTES` (default 1 GiB)",
        "`LAUNCHER_MAX_BYTES` (default 2 GiB)",
        ["{doc} line {line} gives LAUNCHER_MAX_BYTES the default 2 GiB, and launcher/settings.py the default 1g"],
    ),
    "default in the text before the setting that differs": (
        "`/tmp/job` (`LAUNCHER_WORKDIR`)",
        "`/tmp/work` (`LAUNCHER_WORKDIR`)",
        [
            "{doc} line {line} gives LAUNCHER_WORKDIR the default /tmp/work, "
            "and launcher/settings.py the default /tmp/job"
        ],
    ),
    "timeout in the text that differs": (
        "(default 15, for uv too)",
        "(default 30, for uv too)",
        ["{doc} line {line} gives PIP_TIMEOUT the default 30, and launcher/settings.py the default 15"],
    ),
    "no settings table": (
        "  | setting | default | what it sets |\n",
        "  | name | default | what it sets |\n",
        ["{doc} has no `| setting | default |` table in L7.2, for the settings of launcher/settings.py"],
    ),
    "detection rows swapped": (
        f"| 3 | {PYPROJECT_ROW}\n| 4 | {SETUP_ROW}\n",
        f"| 3 | {SETUP_ROW}\n| 4 | {PYPROJECT_ROW}\n",
        [
            "{doc} L3 finds setup.py at 3, and launcher/detect.py DETECTION_ORDER at 4",
            "{doc} L3 finds setup.cfg at 3, and launcher/detect.py DETECTION_ORDER at 4",
            "{doc} L3 finds pyproject.toml at 4, and launcher/detect.py DETECTION_ORDER at 3",
        ],
    ),
    "detection file the launcher does not look for": (
        "or `pylock.toml` / `pylock.NAME.toml`",
        "`pdm.lock`, or `pylock.toml` / `pylock.NAME.toml`",
        ["{doc} L3 finds pdm.lock at 1, which launcher/detect.py DETECTION_ORDER does not have"],
    ),
    "detection file the contract does not list": (
        "| 4 | `setup.py` or `setup.cfg` |",
        "| 4 | `setup.py` |",
        ["launcher/detect.py DETECTION_ORDER finds setup.cfg at 4, which {doc} L3 does not list"],
    ),
    "detection row misnumbered": (
        "| 2 | `requirements.txt` |",
        "| 7 | `requirements.txt` |",
        ["{doc} line {line}: row 2 of the L3 table is numbered '7'"],
    ),
}


def check_contract(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def tests(tmp_path_factory) -> Path:
    """Every test, listed once (vitest list and pytest's collection take seconds) for all the cases."""
    listed = tmp_path_factory.mktemp("tests") / "tests.json"
    result = check_contract("--write-tests", str(listed))
    assert (result.returncode, result.stderr) == (0, "")
    return listed


@pytest.fixture(scope="module")
def unrelated(tests) -> set[str]:
    """What the script says of the real files (nothing, when they agree), so that each case
    sees only the lines its own change causes."""
    result = check_contract("--tests", str(tests))
    return set() if result.returncode == 0 else set(result.stdout.splitlines())


def test_the_contract_and_the_launcher_agree(tests):
    result = check_contract("--tests", str(tests))
    assert (result.returncode, result.stderr) == (0, "")
    assert re.fullmatch(SUMMARY, result.stdout)


def test_only_tests_that_run_count(tmp_path, tests):
    # A skipped test is not in vitest's list; a string in a comment or a data row is no test.
    listed = [test for test in json.loads(tests.read_text()) if not test["name"].startswith("P1.5 ")]
    fewer = tmp_path / "tests.json"
    fewer.write_text(json.dumps(listed))
    result = check_contract("--tests", str(fewer))
    assert result.returncode == 1
    assert result.stdout == "check-contract: no conformance test for P1.5 of CONTRACT.md\n"


def test_a_unit_test_named_after_a_clause_counts(tmp_path, tests):
    listed = [test for test in json.loads(tests.read_text()) if not test["name"].startswith("P1.5 ")]
    listed.append({"file": "launcher/tests/test_images.py", "name": "test_P1_5_tini_is_pid_1"})
    fewer = tmp_path / "tests.json"
    fewer.write_text(json.dumps(listed))
    assert check_contract("--tests", str(fewer)).returncode == 0


@pytest.mark.parametrize(("old", "new", "expected"), CASES.values(), ids=CASES.keys())
def test_a_disagreement_is_named_on_one_line(tmp_path, tests, unrelated, old, new, expected):
    assert CONTRACT.count(old) == 1, f"the case no longer matches CONTRACT.md: {old!r}"
    doctored = tmp_path / "CONTRACT.md"
    doctored.write_text(CONTRACT.replace(old, new))
    line = CONTRACT[: CONTRACT.index(old)].count("\n") + 1
    where = {"doc": doctored.resolve(), "line": line}
    result = check_contract("--contract", str(doctored), "--tests", str(tests))
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line not in unrelated]
    assert sorted(lines) == sorted(f"check-contract: {e.format(**where)}" for e in expected)
