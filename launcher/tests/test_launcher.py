import io
import re
import tarfile
from pathlib import Path

import pytest


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--", "python", "main.py"], ["python", "main.py"]),
        (["--", "echo", "a b", "--", "$HOME"], ["echo", "a b", "--", "$HOME"]),
        (["--", "printf", "line1\nline2"], ["printf", "line1\nline2"]),
    ],
)
def test_command_is_everything_after_the_first_double_dash(launcher, argv, command):
    assert launcher.parse_command(argv) == command


@pytest.mark.parametrize("argv", [[], ["python"], ["--"]])
def test_missing_command_is_a_usage_error(launcher, argv):
    with pytest.raises(launcher.LauncherError) as error:
        launcher.parse_command(argv)
    assert error.value.code == launcher.EX_USAGE


@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_extracts_gzip_and_plain_tar_by_content(launcher, tmp_path, mode):
    bundle = make_tar(tmp_path / "code", [file("main.py", b"print(1)\n")], mode)
    root = tmp_path / "root"
    root.mkdir()
    launcher.extract(bundle, root)
    assert (root / "main.py").read_bytes() == b"print(1)\n"


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (file("/etc/evil"), "absolute path"),
        (file("../evil"), "leaves the bundle"),
        (file("a/../../evil"), "leaves the bundle"),
        (link("escape", "/etc/passwd"), "symlink to absolute path"),
        (link("escape", "../outside"), "points outside"),
        (link("hard", "../outside", tarfile.LNKTYPE), "hardlink"),
    ],
)
def test_refuses_members_that_leave_the_root(launcher, tmp_path, member, reason):
    bundle = make_tar(tmp_path / "code", [member])
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(launcher.LauncherError, match=reason) as error:
        launcher.extract(bundle, root)
    assert error.value.code == launcher.EX_BUNDLE
    assert not (tmp_path / "evil").exists()


def test_refuses_writing_through_a_symlink_extracted_earlier(launcher, tmp_path):
    inner = tmp_path / "root" / "sub"
    inner.mkdir(parents=True)
    bundle = make_tar(tmp_path / "code", [link("sub/up", ".."), file("sub/up/../evil")])
    with pytest.raises(launcher.LauncherError, match="leaves the bundle"):
        launcher.extract(bundle, tmp_path / "root")
    assert not (tmp_path / "evil").exists()


def test_refuses_a_link_that_climbs_out_once_a_later_link_exists(launcher, tmp_path):
    # x -> y/.. is inside while y is missing; once y -> . exists, x/evil would land beside the root.
    root = tmp_path / "root"
    root.mkdir()
    bundle = make_tar(tmp_path / "code", [link("x", "y/.."), link("y", "."), file("x/evil")])
    with pytest.raises(launcher.LauncherError, match="'x/evil': path leaves the bundle"):
        launcher.extract(bundle, root)
    assert not (tmp_path / "evil").exists()


def test_a_duplicate_member_replaces_the_earlier_one_and_never_writes_through_a_link(launcher, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    members = [
        file("a.txt", b"A"),
        link("b.txt", "a.txt"),
        file("b.txt", b"B"),
        file("c.txt", b"1"),
        file("c.txt", b"2"),
    ]
    launcher.extract(make_tar(tmp_path / "code", members), root)
    assert [(root / name).read_bytes() for name in ("a.txt", "b.txt", "c.txt")] == [b"A", b"B", b"2"]
    assert not (root / "b.txt").is_symlink()


@pytest.mark.parametrize(
    ("cap", "value", "message"),
    [("MAX_MEMBERS", 3, "more than 3 members"), ("MAX_BYTES", 100, "content exceeds 100 bytes at 'f1'")],
)
def test_a_bundle_over_a_cap_is_refused_before_anything_is_written(
    launcher, tmp_path, monkeypatch, cap, value, message
):
    monkeypatch.setattr(launcher, cap, value)
    bundle = make_tar(tmp_path / "code", [file(f"f{i}", b"x" * 60) for i in range(5)])
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(launcher.LauncherError, match=message):
        launcher.extract(bundle, root)
    assert list(root.iterdir()) == []


def test_links_inside_the_bundle_are_kept(launcher, tmp_path):
    bundle = make_tar(tmp_path / "code", [file("data/a.txt", b"A"), link("a.txt", "data/a.txt")])
    root = tmp_path / "root"
    root.mkdir()
    launcher.extract(bundle, root)
    assert (root / "a.txt").read_bytes() == b"A"


def test_drops_setuid_and_setgid_bits(launcher, tmp_path):
    bundle = make_tar(tmp_path / "code", [file("tool", mode=0o6755)])
    root = tmp_path / "root"
    root.mkdir()
    launcher.extract(bundle, root)
    assert (root / "tool").stat().st_mode & 0o7777 == 0o755


def test_refuses_devices_and_fifos(launcher, tmp_path):
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    bundle = make_tar(tmp_path / "code", [(fifo, None)])
    with pytest.raises(launcher.LauncherError, match="device or FIFO"):
        launcher.extract(bundle, tmp_path)


def test_caps_total_size(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "MAX_BYTES", 10)
    bundle = make_tar(tmp_path / "code", [file("big", b"x" * 11)])
    with pytest.raises(launcher.LauncherError, match="exceeds 10 bytes"):
        launcher.extract(bundle, tmp_path)


def test_caps_member_count(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "MAX_MEMBERS", 2)
    bundle = make_tar(tmp_path / "code", [file(f"f{i}") for i in range(3)])
    with pytest.raises(launcher.LauncherError, match="more than 2 members"):
        launcher.extract(bundle, tmp_path)


def test_not_an_archive_is_a_bundle_error(launcher, tmp_path):
    bundle = tmp_path / "code"
    bundle.write_text("just text\n")
    with pytest.raises(launcher.LauncherError, match="is not a tar archive") as error:
        launcher.extract(bundle, tmp_path)
    assert error.value.code == launcher.EX_BUNDLE


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["project/"], "project"),
        (["project/", "__MACOSX/"], "project"),
        (["project/", "README.md"], "."),
        (["main.py"], "."),
    ],
)
def test_single_top_level_directory_becomes_the_working_directory(launcher, tmp_path, entries, expected):
    for entry in entries:
        target = tmp_path / entry
        if entry.endswith("/"):
            target.mkdir()
        else:
            target.write_text("")
    assert launcher.single_top_level(tmp_path) == (tmp_path / expected).resolve()


def test_zip_bundles_are_refused_by_content(launcher, tmp_path):
    bundle = tmp_path / "code.tgz"
    bundle.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(launcher.LauncherError, match="is a zip archive"):
        launcher.extract(bundle, tmp_path)


def test_empty_archive_is_refused(launcher, tmp_path):
    bundle = make_tar(tmp_path / "code", [])
    with pytest.raises(launcher.LauncherError, match="empty archive"):
        launcher.extract(bundle, tmp_path / "code")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


SCRIPT = '# /// script\n# dependencies = ["rich>=13", "tqdm"]\n# ///\nprint(1)\n'


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
def test_detection_order(launcher, tmp_path, monkeypatch, files, method, args):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    plan = launcher.detect(write(tmp_path, files))
    assert (plan.method, plan.args) == (method, args)


def test_requirements_txt_wins_and_says_what_it_shadows(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    plan = launcher.detect(write(tmp_path, {"requirements.txt": "", "pyproject.toml": ""}))
    assert "not used: pyproject.toml" in plan.reason


def test_nothing_to_install(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    assert launcher.detect(write(tmp_path, {"main.py": "print(1)\n"})) is None


@pytest.mark.parametrize("name", ["Pipfile", "environment.yml"])
def test_unsupported_managers_are_named(launcher, tmp_path, monkeypatch, name):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    with pytest.raises(launcher.LauncherError, match=f"found {name}") as error:
        launcher.detect(write(tmp_path, {name: "", "main.py": ""}))
    assert error.value.code == launcher.EX_CONFIG


def test_several_scripts_with_metadata_are_ambiguous(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    with pytest.raises(launcher.LauncherError, match=r"a\.py, b\.py"):
        launcher.detect(write(tmp_path, {"a.py": SCRIPT, "b.py": SCRIPT}))


def test_invalid_inline_metadata_is_a_config_error(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    bad = "# /// script\n# dependencies = [\n# ///\n"
    with pytest.raises(launcher.LauncherError, match="not valid TOML") as error:
        launcher.detect(write(tmp_path, {"main.py": bad}))
    assert error.value.code == launcher.EX_CONFIG


@pytest.mark.parametrize(
    ("setting", "method", "args"),
    [
        ("deps/prod.txt", "deps/prod.txt", ["-r", "deps/prod.txt"]),
        ("main.py", "inline script metadata of main.py", ["rich>=13", "tqdm"]),
    ],
)
def test_the_user_can_name_the_requirements(launcher, tmp_path, monkeypatch, setting, method, args):
    monkeypatch.setenv("LAUNCHER_REQUIREMENTS", setting)
    plan = launcher.detect(write(tmp_path, {"requirements.txt": "", "deps/prod.txt": "", "main.py": SCRIPT}))
    assert (plan.method, plan.args) == (method, args)


def test_the_user_can_turn_installation_off(launcher, tmp_path, monkeypatch):
    monkeypatch.setenv("LAUNCHER_REQUIREMENTS", "none")
    assert launcher.detect(write(tmp_path, {"requirements.txt": "x\n"})) is None


def test_a_named_file_that_is_missing_is_a_config_error(launcher, tmp_path, monkeypatch):
    monkeypatch.setenv("LAUNCHER_REQUIREMENTS", "nope.txt")
    with pytest.raises(launcher.LauncherError, match="no such file"):
        launcher.detect(tmp_path)


def test_pip_settings_are_given_to_uv_too(launcher, monkeypatch):
    for name, value in {
        "PIP_INDEX_URL": "http://127.0.0.1:1/simple",
        "PIP_EXTRA_INDEX_URL": "http://a/simple http://b/simple",
        "PIP_FIND_LINKS": "/wheels /more",
        "PIP_TRUSTED_HOST": "a b",
        "PIP_CERT": "/ca.pem",
        "PIP_CACHE_DIR": "/cache",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
        "UV_INSECURE_HOST",
        "SSL_CERT_FILE",
        "UV_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    env = launcher.installer_env()
    assert env["UV_INDEX_URL"] == "http://127.0.0.1:1/simple"
    assert env["UV_EXTRA_INDEX_URL"] == "http://a/simple http://b/simple"
    assert env["UV_FIND_LINKS"] == "/wheels,/more"
    assert env["UV_INSECURE_HOST"] == "a b"
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["UV_CACHE_DIR"] == "/cache/uv"


@pytest.mark.parametrize(
    ("files", "setting", "shim"),
    [
        ({"setup.cfg": ""}, "", "setup.py"),
        ({"setup.cfg": "", "setup.py": ""}, "", None),
        ({"pkg/setup.cfg": ""}, "pkg/setup.cfg", "pkg/setup.py"),
        ({"pkg/setup.cfg": "", "pkg/pyproject.toml": ""}, "pkg/setup.cfg", None),
    ],
)
def test_a_setup_cfg_only_project_gets_a_setup_py_shim(launcher, tmp_path, monkeypatch, files, setting, shim):
    monkeypatch.setenv("LAUNCHER_REQUIREMENTS", setting)
    plan = launcher.detect(write(tmp_path, files))
    assert plan.setup_py_shim == (tmp_path / shim if shim else None)


@pytest.mark.parametrize(
    ("output", "code", "hint"),
    [
        ("error: Couldn't parse requirement in `requirements.txt` at position 0", 78, "is not valid"),
        ("Invalid requirement: 'x>>=1'", 78, "is not valid"),
        ("error: File not found: `other.txt`", 78, "missing from the bundle"),
        ("  cause: tcp connect error\n  cause: Connection refused (os error 111)", 69, "could not be reached"),
        ("  cause: operation timed out", 69, "did not answer in time"),
        ("  cause: Because nosuchpkg was not found in the package registry", 69, "is not available from"),
        ("error: No solution found when resolving dependencies", 69, "requirements conflict"),
        ("error: Failed to build `x @ file:///tmp/job`", 69, "building the project failed"),
        ("error: [Errno 28] No space left on device\nerror: Failed to build `cext`", 73, "the disk filled up"),
        ("something new", 69, "see the installer's error above"),
    ],
)
def test_install_failures_are_explained(launcher, output, code, hint):
    assert launcher.explain_failure(output.split("\n"))[0] == code
    assert hint in launcher.explain_failure(output.split("\n"))[1]


def test_credentials_never_appear_in_messages(launcher, monkeypatch):
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:s3cret@index.example/simple/")
    assert launcher.index_url() == "https://index.example/simple/"


def test_timeouts_and_retries_are_given_to_uv(launcher, monkeypatch):
    monkeypatch.delenv("UV_HTTP_TIMEOUT", raising=False)
    monkeypatch.delenv("UV_HTTP_RETRIES", raising=False)
    monkeypatch.delenv("PIP_TIMEOUT", raising=False)
    assert launcher.installer_env()["UV_HTTP_TIMEOUT"] == launcher.DEFAULT_HTTP_TIMEOUT
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    monkeypatch.setenv("PIP_RETRIES", "1")
    env = launcher.installer_env()
    assert (env["UV_HTTP_TIMEOUT"], env["UV_HTTP_RETRIES"]) == ("3", "1")


def test_a_malformed_pyproject_is_a_config_error(launcher, tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_REQUIREMENTS", raising=False)
    with pytest.raises(launcher.LauncherError, match=r"pyproject.toml is not valid TOML \(.*line 1") as error:
        launcher.detect(write(tmp_path, {"pyproject.toml": "[project\nname = 'x'\n"}))
    assert error.value.code == launcher.EX_CONFIG


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bundle.tgz", b"PK\x03\x04 a zip", "is a zip archive"),
        ("bundle.tar.gz", b"plain text", "is not a tar archive"),
        ("upload", b"PK\x03\x04 a zip", "is a zip archive"),
    ],
)
def test_a_lone_file_in_a_code_directory_that_is_not_a_tar_is_refused(
    launcher, tmp_path, monkeypatch, name, content, message
):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / name).write_bytes(content)
    monkeypatch.setattr(launcher, "CODE", tmp_path / "code")
    monkeypatch.setattr(launcher, "WORKDIR", tmp_path / "job")
    with pytest.raises(launcher.LauncherError, match=message):
        launcher.prepare_bundle()


def test_a_lone_data_file_in_a_code_directory_is_copied(launcher, tmp_path, monkeypatch):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "main.py").write_text("print(1)\n")
    monkeypatch.setattr(launcher, "CODE", tmp_path / "code")
    monkeypatch.setattr(launcher, "WORKDIR", tmp_path / "job")
    assert (launcher.prepare_bundle() / "main.py").read_text() == "print(1)\n"


@pytest.mark.parametrize(
    ("files", "command", "code", "message"),
    [
        ({}, "no-such-command", 127, "command not found on PATH: 'no-such-command'"),
        ({}, "./missing.sh", 127, "command not found: './missing.sh'"),
        ({"plain.sh": ("#!/bin/sh\n", 0o644)}, "./plain.sh", 126, "command './plain.sh' is not executable"),
        ({"tools/.keep": ("", 0o644)}, "./tools", 126, "command './tools' is a directory"),
        (
            {"orphan.sh": ("#!/no/such/interpreter -x\n", 0o755)},
            "./orphan.sh",
            126,
            "its interpreter '/no/such/interpreter' (from its #! line) does not exist",
        ),
    ],
)
def test_a_command_that_cannot_run_says_why(launcher, tmp_path, monkeypatch, files, command, code, message):
    for name, (content, mode) in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
        (tmp_path / name).chmod(mode)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(launcher.LauncherError, match=re.escape(message)) as error:
        launcher.run([command], tmp_path, {"PATH": "/nonexistent"})
    assert error.value.code == code


def test_outputs_that_is_not_a_directory_is_reported_and_skipped(launcher, tmp_path, monkeypatch, capsys):
    (tmp_path / "outputs").write_text("a file\n")
    monkeypatch.setattr(launcher, "OUTPUTS", tmp_path / "outputs")
    assert launcher.Log.open().file is None
    assert capsys.readouterr().err == f"launcher: {tmp_path / 'outputs'} is not a directory; going on without the log\n"
    assert (tmp_path / "outputs").read_text() == "a file\n"
