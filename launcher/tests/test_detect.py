import os
from pathlib import Path

import pytest

from launcher import detect
from launcher.errors import EX_CONFIG, LauncherError

SCRIPT = '# /// script\n# dependencies = ["rich>=13", "tqdm"]\n# ///\nprint(1)\n'


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


@pytest.mark.parametrize(
    ("files", "method", "args"),
    [
        (
            {"requirements.txt": "", "pyproject.toml": "", "setup.py": ""},
            "requirements.txt",
            ["-r", "requirements.txt"],
        ),
        ({"pyproject.toml": "", "setup.py": ""}, "project (pyproject.toml)", ["."]),
        ({"setup.py": ""}, "project (setup.py)", ["."]),
        ({"setup.cfg": ""}, "project (setup.cfg)", ["."]),
        ({"main.py": SCRIPT, "helper.py": "x = 1\n"}, "inline script metadata of main.py", ["rich>=13", "tqdm"]),
        ({"requirements.txt": "", "Pipfile": ""}, "requirements.txt", ["-r", "requirements.txt"]),
    ],
)
def test_detection_order(tmp_path, config, files, method, args):
    plan = detect.plan(write(tmp_path, files), config())
    assert (plan.method, plan.args) == (method, args)


def test_requirements_txt_wins_and_says_what_it_shadows(tmp_path, config):
    plan = detect.plan(write(tmp_path, {"requirements.txt": "", "pyproject.toml": ""}), config())
    assert "not used: pyproject.toml" in plan.reason


def test_nothing_to_install(tmp_path, config):
    assert detect.plan(write(tmp_path, {"main.py": "print(1)\n"}), config()) is None


@pytest.mark.parametrize("name", ["Pipfile", "environment.yml"])
def test_unsupported_managers_are_named(tmp_path, config, name):
    with pytest.raises(LauncherError, match=f"found {name}") as error:
        detect.plan(write(tmp_path, {name: "", "main.py": ""}), config())
    assert error.value.code == EX_CONFIG


def test_several_scripts_with_metadata_are_ambiguous(tmp_path, config):
    with pytest.raises(LauncherError, match=r"a\.py, b\.py"):
        detect.plan(write(tmp_path, {"a.py": SCRIPT, "b.py": SCRIPT}), config())


def test_invalid_inline_metadata_is_a_config_error(tmp_path, config):
    bad = "# /// script\n# dependencies = [\n# ///\n"
    with pytest.raises(LauncherError, match="not valid TOML") as error:
        detect.plan(write(tmp_path, {"main.py": bad}), config())
    assert error.value.code == EX_CONFIG


@pytest.mark.parametrize(
    ("setting", "method", "args"),
    [
        ("deps/prod.txt", "deps/prod.txt", ["-r", "deps/prod.txt"]),
        ("main.py", "inline script metadata of main.py", ["rich>=13", "tqdm"]),
    ],
)
def test_the_user_can_name_the_requirements(tmp_path, config, setting, method, args):
    root = write(tmp_path / "job", {"requirements.txt": "", "deps/prod.txt": "", "main.py": SCRIPT})
    plan = detect.plan(root, config(LAUNCHER_REQUIREMENTS=setting))
    assert (plan.method, plan.args) == (method, args)


def test_the_user_can_turn_installation_off(tmp_path, config):
    assert detect.plan(write(tmp_path, {"requirements.txt": "x\n"}), config(LAUNCHER_REQUIREMENTS="none")) is None


def test_a_named_file_that_is_missing_is_a_config_error(tmp_path, config):
    with pytest.raises(LauncherError, match="no such file"):
        detect.plan(tmp_path, config(LAUNCHER_REQUIREMENTS="nope.txt"))


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt"])
def test_a_named_file_must_stay_inside_the_bundle_through_links(tmp_path, config, target):
    root = tmp_path / "job"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("x\n")
    os.symlink(target, root / "reqs.txt")
    with pytest.raises(LauncherError, match=r"reqs\.txt leads outside the bundle") as error:
        detect.plan(root, config(LAUNCHER_REQUIREMENTS="reqs.txt"))
    assert error.value.code == EX_CONFIG


@pytest.mark.parametrize(
    ("files", "setting", "shim"),
    [
        ({"setup.cfg": ""}, "", "setup.py"),
        ({"setup.cfg": "", "setup.py": ""}, "", None),
        ({"pkg/setup.cfg": ""}, "pkg/setup.cfg", "pkg/setup.py"),
        ({"pkg/setup.cfg": "", "pkg/pyproject.toml": ""}, "pkg/setup.cfg", None),
    ],
)
def test_a_setup_cfg_only_project_gets_a_setup_py_shim(tmp_path, config, files, setting, shim):
    root = write(tmp_path / "job", files)
    plan = detect.plan(root, config(LAUNCHER_REQUIREMENTS=setting))
    assert plan.setup_py_shim == (root / shim if shim else None)


def test_a_dangling_setup_py_link_gets_no_shim(tmp_path, config):
    root = write(tmp_path / "job", {"setup.cfg": ""})
    os.symlink("nowhere.py", root / "setup.py")
    assert detect.plan(root, config()).setup_py_shim is None


def test_a_malformed_pyproject_is_a_config_error(tmp_path, config):
    with pytest.raises(LauncherError, match=r"pyproject.toml is not valid TOML \(.*line 1") as error:
        detect.plan(write(tmp_path, {"pyproject.toml": "[project\nname = 'x'\n"}), config())
    assert error.value.code == EX_CONFIG
