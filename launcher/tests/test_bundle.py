import gzip
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import make_bundle
import pytest

from launcher import bundle, entries, libarchive
from launcher.errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from launcher.policy import LeftOut


def extract(tmp_path: Path, settings, data: bytes) -> Path:
    """Extract data as a bundle file into a fresh root beside it; return the root."""
    source = tmp_path / "bundle"
    source.write_bytes(data)
    root = tmp_path / "root"
    root.mkdir()
    bundle.extract(source, root, settings)
    return root


def refused(tmp_path: Path, settings, data: bytes) -> LauncherError:
    with pytest.raises(LauncherError) as error:
        extract(tmp_path, settings, data)
    # All or nothing: the root is empty, and nothing was written beside it.
    assert list((tmp_path / "root").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "root"]
    return error.value


REFUSED = [
    *(name for name in make_bundle.REFUSALS if name != "bomb"),  # the bomb is 4 GiB to make (conformance has it)
    "hardlink-escape.tar",
    "device.tbz2",
    "absolute.txz",
]


@pytest.mark.parametrize("scenario", REFUSED)
def test_hostile_bundles_are_refused_with_their_line_and_leave_nothing(tmp_path, config, scenario):
    error = refused(tmp_path, config(), make_bundle.scenario(scenario))
    assert error.code == EX_BUNDLE
    assert str(error) == f"{tmp_path / 'bundle'}{make_bundle.refusal(scenario)}"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("hardlink-copies", "content exceeds 1073741824 bytes at 'copy-"),
        ("zip-bad-crc", "zip archive is truncated or corrupt (ZIP bad CRC"),
    ],
)
def test_hostile_bundles_whose_line_varies_are_refused_and_leave_nothing(tmp_path, config, scenario, message):
    error = refused(tmp_path, config(), make_bundle.scenario(scenario))
    assert error.code == EX_BUNDLE
    assert message in str(error)


@pytest.mark.parametrize("scenario", ["names", "names.tar", "names.tbz2", "names.txz"])
def test_names_are_bytes(tmp_path, config, scenario):
    root = extract(tmp_path, config(), make_bundle.scenario(scenario))
    names = sorted(os.listdir(os.fsencode(root)))
    assert names == sorted([b"main.py", b"with space.txt", "ünïcødé-名前.txt".encode(), b"latin1-caf\xe9.txt"])


def test_a_zip_is_extracted_with_its_modes(tmp_path, config):
    root = extract(tmp_path, config(), make_bundle.scenario("zip"))
    assert (root / "main.py").read_text() == "print('hello from a zip')\n"
    assert (root / "data" / "ünï.txt").read_text() == "x\n"
    assert stat.S_IMODE((root / "tool.sh").stat().st_mode) == 0o755


def test_links_inside_the_bundle_are_kept(tmp_path, config):
    root = extract(tmp_path, config(), make_bundle.scenario("links-inside"))
    assert (root / "sym.txt").is_symlink()
    assert (root / "hard.txt").stat().st_ino == (root / "data" / "a.txt").stat().st_ino


def test_setuid_and_setgid_bits_are_dropped(tmp_path, config):
    root = extract(tmp_path, config(), make_bundle.scenario("setuid"))
    assert stat.S_IMODE((root / "tool").stat().st_mode) == 0o755


def test_modes_always_let_the_owner_use_and_remove(tmp_path, config):
    members = [make_bundle.special("locked", b"5"), make_bundle.regular("locked/secret", b"x", mode=0o000)]
    members[0][0].mode = 0o000
    root = extract(tmp_path, config(), gzip.compress(make_bundle.tar_of(members)))
    assert stat.S_IMODE((root / "locked").stat().st_mode) == 0o700
    assert (root / "locked" / "secret").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("scenario", "path", "content"),
    [
        ("duplicates", "main.py", b"print('second')\n"),
        ("replace-empty-directory", "data", b"a file now\n"),
        ("mtime-2-80", "late.py", b"x = 1\n"),
    ],
)
def test_later_members_replace_earlier_ones(tmp_path, config, scenario, path, content):
    root = extract(tmp_path, config(), make_bundle.scenario(scenario))
    assert (root / path).read_bytes() == content


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAUNCHER_MAX_MEMBERS": "3"}, "more than 3 members, counting the directories they are in"),
        ({"LAUNCHER_MAX_BYTES": "100"}, "content exceeds 100 bytes at 'f1' (limit: LAUNCHER_MAX_BYTES)"),
    ],
)
def test_the_caps(tmp_path, config, environ, message):
    data = make_bundle.tar_of([make_bundle.regular(f"f{i}", b"x" * 60) for i in range(5)])
    assert message in str(refused(tmp_path, config(**environ), data))


def test_the_directories_a_member_needs_count_as_members(tmp_path, config):
    error = refused(tmp_path, config(LAUNCHER_MAX_MEMBERS="1000"), make_bundle.scenario("deep-name"))
    assert "more than 1000 members, counting the directories they are in" in str(error)
    members = [make_bundle.special("a", b"5"), *(make_bundle.regular(f"a/b/f{i}") for i in range(3))]
    within = tmp_path / "within"
    within.mkdir()
    # a, a/b (made on the way) and three files: five, with a counted once.
    extract(within, config(LAUNCHER_MAX_MEMBERS="5"), make_bundle.tar_of(members))


def test_a_hardlink_counts_at_the_size_of_what_it_links_to(tmp_path, config):
    data = make_bundle.hardlinks(count=3, size=1000)  # main.py (15 bytes), data.bin and three links: 4015 bytes
    assert "content exceeds 4000 bytes at 'copy-00002'" in str(
        refused(tmp_path, config(LAUNCHER_MAX_BYTES="4000"), data)
    )
    within = tmp_path / "within"
    within.mkdir()
    root = extract(within, config(LAUNCHER_MAX_BYTES="4015"), data)
    assert (root / "copy-00002").stat().st_nlink == 4


def test_data_beyond_what_a_zip_declares_counts(tmp_path, config):
    # The central directory says 10 bytes; the member inflates to 1 MiB.
    data = bytearray(make_bundle.zip_of([("a.txt", bytes(1 << 20), 0o100644)]))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        index = data.index(signature) + offset
        data[index : index + 4] = (10).to_bytes(4, "little")
    assert "content exceeds 65536 bytes at 'a.txt'" in str(refused(tmp_path, config(LAUNCHER_MAX_BYTES="64k"), data))


def test_the_decompressed_stream_is_capped(tmp_path, config):
    # Data that no member writes (a directory that claims a size) still has to be decompressed.
    hidden = make_bundle.header(b"dir/", 8 << 20, b"5") + bytes(8 << 20) + make_bundle.END
    error = refused(tmp_path, config(LAUNCHER_MAX_BYTES="1k", LAUNCHER_MAX_MEMBERS="10"), gzip.compress(hidden))
    assert str(error).endswith(
        "decompressed, the archive exceeds 41984 bytes (limit: LAUNCHER_MAX_BYTES, plus room for headers per member)"
    )


def test_a_full_disk_is_no_space(tmp_path, config, monkeypatch):
    def full(*args):
        error = libarchive.WriteError.__new__(libarchive.WriteError)  # as write_disk reports it
        Exception.__init__(error, "Write failed")
        error.errno = 28
        raise error

    monkeypatch.setattr(entries, "write", full)
    error = refused(tmp_path, config(), make_bundle.scenario("links-inside"))
    assert error.code == EX_CANTCREATE
    assert "no space left in" in str(error)
    assert "while extracting member 'main.py'; give the job a larger /tmp" in str(error)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just text\n", "is not a tar or zip archive"),
        (gzip.compress(b"just text\n"), "is gzip data with no tar archive in it"),
        (b"\x1f\x8b\x08\x00garbage", "gzip archive is truncated or corrupt"),
    ],
)
def test_what_is_not_a_bundle(tmp_path, config, content, message):
    assert message in str(refused(tmp_path, config(), content))


# --- The working directory ------------------------------------------------------------


def test_an_existing_working_directory_with_files_is_not_deleted(tmp_path, config):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "precious.txt").write_text("keep\n")
    with pytest.raises(LauncherError, match="already exists and is not an empty directory") as error:
        bundle.prepare(config())
    assert error.value.code == EX_CANTCREATE
    assert (tmp_path / "job" / "precious.txt").read_text() == "keep\n"


def test_an_empty_working_directory_is_used(tmp_path, config):
    (tmp_path / "job").mkdir()
    assert bundle.prepare(config()) == tmp_path / "job"


def test_a_working_directory_an_earlier_run_made_is_replaced(tmp_path, config):
    settings = config()
    bundle.prepare(settings)
    (tmp_path / "job" / "stale.txt").write_text("from the first run\n")
    bundle.prepare(settings)
    assert list((tmp_path / "job").iterdir()) == []


def test_a_directory_holding_only_an_archive_has_it_extracted(tmp_path, config):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "upload.zip").write_bytes(make_bundle.scenario("zip-in-folder"))
    assert bundle.prepare(config()) == tmp_path / "job" / "project"


def test_a_lone_data_file_in_a_code_directory_is_copied(tmp_path, config):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "main.py").write_text("print(1)\n")
    assert (bundle.prepare(config()) / "main.py").read_text() == "print(1)\n"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["project/"], "project"),
        (["project/", "__MACOSX/"], "project"),
        (["project/", "README.md"], "."),
        (["main.py"], "."),
    ],
)
def test_single_top_level_directory_becomes_the_working_directory(tmp_path, entries, expected):
    for entry in entries:
        target = tmp_path / entry
        if entry.endswith("/"):
            target.mkdir()
        else:
            target.write_text("")
    assert bundle.single_top_level(tmp_path) == (tmp_path / expected).resolve()


# --- What is left out -------------------------------------------------------------


def test_virtual_environments_caches_and_macos_files_are_left_out(tmp_path, config):
    left_out = LeftOut()
    source = tmp_path / "bundle"
    source.write_bytes(make_bundle.scenario("project-with-venv"))
    root = tmp_path / "root"
    root.mkdir()
    bundle.extract(source, root, config(), left_out)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["proj", "proj/main.py"]
    assert left_out.describe() == (
        "proj/.venv/ (a virtual environment), 1 __pycache__ folder, 2 macOS ._ files; "
        "the image provides the environment, and the job makes its own caches"
    )
    assert bundle.single_top_level(root) == root / "proj"


def test_a_folder_is_a_virtual_environment_once_its_pyvenv_cfg_comes(tmp_path, config):
    left_out = LeftOut()
    source = tmp_path / "bundle"
    source.write_bytes(make_bundle.scenario("project-with-named-venv"))
    (tmp_path / "root").mkdir()
    bundle.extract(source, tmp_path / "root", config(), left_out)
    root = tmp_path / "root"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == ["main.py", "tools", "tools/run.sh"]
    assert left_out.venvs == {b"tools/env"}


def test_a_directory_bundle_leaves_out_the_same(tmp_path, config):
    code = tmp_path / "code"
    (code / "proj" / ".venv" / "bin").mkdir(parents=True)
    (code / "proj" / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (code / "proj" / "env").mkdir()
    (code / "proj" / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (code / "proj" / "__pycache__").mkdir()
    (code / "proj" / "main.py").write_text("print(1)\n")
    (code / "._proj").write_bytes(b"\0")
    assert bundle.prepare(config()) == tmp_path / "job" / "proj"
    assert sorted(p.name for p in (tmp_path / "job" / "proj").iterdir()) == ["main.py"]


@pytest.mark.skipif(os.getuid() != 0, reason="switches to another uid")
def test_extraction_does_not_need_a_readable_current_directory(config):
    # libarchive writes relative to the current directory; the launcher comes back to the one it
    # started in, which `docker run -w` may make a folder the job's uid cannot read (mode 0111).
    place = Path(tempfile.mkdtemp(prefix="cwd-", dir="/tmp"))
    try:
        place.chmod(0o755)
        (place / "bundle").write_bytes(make_bundle.scenario("links-inside"))
        (place / "root").mkdir()
        os.chown(place / "root", 65534, 65534)
        (place / "here").mkdir(mode=0o111)
        (place / "here").chmod(0o111)
        script = (
            "import os, sys; from pathlib import Path; from launcher import bundle, settings; "
            "os.chdir(sys.argv[1] + '/here'); "
            "bundle.extract(Path(sys.argv[1]) / 'bundle', Path(sys.argv[1]) / 'root', "
            "settings.read({'PATH': '/usr/bin', 'LAUNCHER_CODE': sys.argv[1] + '/bundle'})); "
            "print(os.getcwd())"
        )
        done = subprocess.run(
            ["/usr/bin/python3", "-c", script, str(place)],
            cwd="/",
            capture_output=True,
            text=True,
            user=65534,
            group=65534,
            env={"PYTHONPATH": str(Path(__file__).parents[2])},
        )
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == f"{place}/here\n"
        assert (place / "root" / "data" / "a.txt").is_file()
    finally:
        shutil.rmtree(place)
