import os
from pathlib import Path

import pytest

from launcher import detect
from launcher.errors import EX_CONFIG, LauncherError

SCRIPT = '# /// script\n# dependencies = ["rich>=13", "tqdm"]\n# ///\nprint(1)\n'
BUILT = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
APP = """[project]
name = "app"
version = "0.1.0"
dependencies = ["requests>=2", "rich"]

[project.optional-dependencies]
plot = ["matplotlib"]
S3 = ["boto3"]

[dependency-groups]
test = ["pytest"]
dev = [{include-group = "test"}, "ruff"]
"""


# The least each lock holds in outline (manifests.check_lock), for tests that only need one to be there.
LOCK_OUTLINES = {"uv.lock": "version = 1\n", "poetry.lock": "[metadata]\n", "Pipfile.lock": '{"_meta": {}}'}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        if not content and (name in LOCK_OUTLINES or name.startswith("pylock")):
            content = LOCK_OUTLINES.get(name, 'lock-version = "1.0"\n')
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
        ({"pyproject.toml": BUILT, "setup.py": ""}, "project (pyproject.toml)", ["."]),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n", "setup.py": ""}, "project (setup.py)", ["."]),
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
    found = detect.plan(write(tmp_path, {"main.py": "print(1)\n"}), config())
    assert (found.kind, found.reason) == ("nothing", "no requirements file found")


@pytest.mark.parametrize("name", ["pdm.lock", "environment.yml"])
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
    found = detect.plan(write(tmp_path, {"requirements.txt": "x\n"}), config(LAUNCHER_REQUIREMENTS="none"))
    assert (found.kind, found.reason) == ("nothing", "LAUNCHER_REQUIREMENTS=none")


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


@pytest.mark.parametrize(
    ("files", "kind", "method", "unused"),
    [
        ({"pyproject.toml": APP, "uv.lock": ""}, "uv.lock", "uv.lock (the locked versions)", []),
        (
            {"pyproject.toml": APP, "uv.lock": "", "requirements.txt": ""},
            "uv.lock",
            "uv.lock (the locked versions)",
            ["requirements.txt"],
        ),
        (
            {"pylock.toml": "", "requirements.txt": ""},
            "pylock",
            "pylock.toml (the locked versions)",
            ["requirements.txt"],
        ),
        ({"pylock.prod.toml": ""}, "pylock", "pylock.prod.toml (the locked versions)", []),
        ({"pyproject.toml": APP, "poetry.lock": ""}, "poetry.lock", "poetry.lock (the locked versions)", []),
        (
            {"Pipfile": "", "Pipfile.lock": "", "requirements.txt": ""},
            "Pipfile.lock",
            "Pipfile.lock (the locked versions)",
            ["requirements.txt"],
        ),
    ],
)
def test_a_lock_wins(tmp_path, config, files, kind, method, unused):
    found = detect.plan(write(tmp_path, files), config())
    assert (found.kind, found.method, found.unused) == (kind, method, unused)


def test_several_locks_are_an_error(tmp_path, config):
    with pytest.raises(LauncherError, match=r"found several locks \(pylock.toml, uv.lock\)") as error:
        detect.plan(write(tmp_path, {"pyproject.toml": APP, "uv.lock": "", "pylock.toml": ""}), config())
    assert error.value.code == EX_CONFIG


def test_a_uv_lock_needs_its_pyproject(tmp_path, config):
    with pytest.raises(LauncherError, match=r"uv\.lock without the pyproject\.toml it locks"):
        detect.plan(write(tmp_path, {"uv.lock": ""}), config())


def test_locks_can_be_left_out(tmp_path, config):
    found = detect.plan(write(tmp_path, {"pyproject.toml": APP, "uv.lock": ""}), config(LAUNCHER_IGNORE_LOCK="1"))
    assert (found.kind, found.args) == ("requirements", ["requests>=2", "rich"])


@pytest.mark.parametrize(
    ("environ", "args"),
    [
        ({}, ["requests>=2", "rich"]),
        ({"LAUNCHER_EXTRAS": "plot,s3"}, ["requests>=2", "rich", "matplotlib", "boto3"]),
        ({"LAUNCHER_GROUPS": "dev"}, ["requests>=2", "rich", "pytest", "ruff"]),
    ],
)
def test_an_application_installs_its_dependencies_without_being_built(tmp_path, config, environ, args):
    found = detect.plan(write(tmp_path, {"pyproject.toml": APP, "app.py": "", "lib.py": ""}), config(**environ))
    assert (found.kind, found.method, found.args) == (
        "requirements",
        "dependencies of the application in pyproject.toml",
        args,
    )


@pytest.mark.parametrize(
    "pyproject",
    [
        BUILT + "[tool.uv]\npackage = false\n" + APP,
        BUILT
        + '[tool.poetry]\npackage-mode = false\n\n[project]\nname = "app"\ndependencies = ["requests>=2", "rich"]\n',
    ],
)
def test_a_tool_can_say_a_project_is_an_application(tmp_path, config, pyproject):
    found = detect.plan(write(tmp_path, {"pyproject.toml": pyproject}), config())
    assert (found.kind, found.args) == ("requirements", ["requests>=2", "rich"])


def test_a_built_project_takes_extras_and_groups(tmp_path, config):
    found = detect.plan(
        write(tmp_path, {"pyproject.toml": BUILT + APP}), config(LAUNCHER_EXTRAS="plot", LAUNCHER_GROUPS="test")
    )
    assert (found.kind, found.args) == ("project", [".[plot]", "pytest"])


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"LAUNCHER_EXTRAS": "gpu"},
            "LAUNCHER_EXTRAS names gpu, which pyproject.toml does not declare (it declares: S3, plot)",
        ),
        (
            {"LAUNCHER_GROUPS": "docs"},
            "LAUNCHER_GROUPS names docs, which pyproject.toml does not declare (it declares: dev, test)",
        ),
    ],
)
def test_extras_and_groups_that_are_not_declared(tmp_path, config, environ, message):
    with pytest.raises(LauncherError) as error:
        detect.plan(write(tmp_path, {"pyproject.toml": APP}), config(**environ))
    assert (error.value.code, str(error.value)) == (EX_CONFIG, message)


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', "declares its dependencies dynamic"),
        ('[project]\nname = "x"\ndependencies = []\n', None),
    ],
)
def test_applications_that_declare_nothing_to_read(tmp_path, config, pyproject, message):
    if message:
        with pytest.raises(LauncherError, match=message):
            detect.plan(write(tmp_path, {"pyproject.toml": pyproject}), config())
    else:
        found = detect.plan(write(tmp_path, {"pyproject.toml": pyproject}), config())
        assert (found.kind, found.reason) == ("nothing", "pyproject.toml declares no dependencies")


def test_a_script_with_no_dependencies_installs_nothing(tmp_path, config):
    found = detect.plan(write(tmp_path, {"main.py": "# /// script\n# dependencies = []\n# ///\n"}), config())
    assert (found.kind, found.reason) == ("nothing", "main.py declares no dependencies in its inline metadata")


def test_requirement_files_below_the_top_are_named(tmp_path, config):
    found = detect.plan(
        write(tmp_path, {"requirements/prod.txt": "", "requirements/dev.txt": "", "main.py": ""}), config()
    )
    assert found.kind == "nothing"
    assert found.reason == (
        "no requirements file at the top of the bundle; found requirements/dev.txt, requirements/prod.txt: "
        "name one with LAUNCHER_REQUIREMENTS=FILE to install it"
    )


def test_a_pipfile_needs_its_lock(tmp_path, config):
    with pytest.raises(LauncherError, match=r"found Pipfile without Pipfile\.lock; run `pipenv lock`") as error:
        detect.plan(write(tmp_path, {"Pipfile": "", "main.py": ""}), config())
    assert error.value.code == EX_CONFIG


def test_requirement_files_of_a_monorepo_are_named_a_few_levels_down(tmp_path, config):
    for name in (
        "services/etl/requirements.txt",
        "services/api/requirements-prod.txt",
        "libs/a/requirements/base.txt",
        "deep/b/c/d/requirements.txt",  # four folders down: past the walk
        "node_modules/x/requirements.txt",
        ".git/requirements.txt",
        "services/etl/notes.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("greeting\n")
    found = detect.plan(tmp_path, config())
    assert (found.kind, found.reason) == (
        "nothing",
        "no requirements file at the top of the bundle; found libs/a/requirements/base.txt, "
        "services/api/requirements-prod.txt, services/etl/requirements.txt: "
        "name one with LAUNCHER_REQUIREMENTS=FILE to install it",
    )


def test_past_five_nested_requirement_files_the_line_says_how_many_more(tmp_path, config):
    for index in range(7):
        (tmp_path / f"svc{index}").mkdir()
        (tmp_path / f"svc{index}" / "requirements.txt").write_text("greeting\n")
    found = detect.plan(tmp_path, config())
    assert "svc4/requirements.txt, and 2 more: name one with LAUNCHER_REQUIREMENTS=FILE" in found.reason
