import json
from pathlib import Path

import pytest

from launcher import commands, defaults, failures, install
from launcher.errors import LauncherError
from launcher.log import Log


def test_pip_settings_are_given_to_uv_too(config):
    env = commands.installer_env(
        config(
            PIP_INDEX_URL="http://127.0.0.1:1/simple",
            PIP_EXTRA_INDEX_URL="http://a/simple http://b/simple",
            PIP_FIND_LINKS="/wheels /more",
            PIP_TRUSTED_HOST="a b",
            PIP_CERT="/ca.pem",
            PIP_CACHE_DIR="/cache",
            PIP_TIMEOUT="3",
            PIP_RETRIES="1",
        )
    )
    assert env["UV_INDEX_URL"] == "http://127.0.0.1:1/simple"
    assert env["UV_EXTRA_INDEX_URL"] == "http://a/simple http://b/simple"
    assert env["UV_FIND_LINKS"] == "/wheels,/more"
    assert env["UV_INSECURE_HOST"] == "a b"
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["UV_CACHE_DIR"] == "/cache/uv"
    assert (env["UV_HTTP_TIMEOUT"], env["UV_HTTP_RETRIES"]) == ("3", "1")


def test_uv_waits_15_seconds_per_request_by_default(config):
    assert commands.installer_env(config())["UV_HTTP_TIMEOUT"] == "15"


def test_uv_own_settings_win(config):
    env = commands.installer_env(config(PIP_INDEX_URL="http://a/simple", UV_INDEX_URL="http://b/simple"))
    assert env["UV_INDEX_URL"] == "http://b/simple"


def test_the_installer_gets_none_of_the_jobs_python_variables(config):
    env = commands.installer_env(config(PYTHONPATH="/tmp/job", PYTHONHOME="/nowhere", PYTHONSTARTUP="/x", KEEP="1"))
    assert not [name for name in env if name.startswith("PYTHON")]
    assert env["KEEP"] == "1"


@pytest.mark.parametrize(
    ("output", "code", "hint"),
    [
        ("error: Couldn't parse requirement in `requirements.txt` at position 0", 78, "is not valid"),
        ("Invalid requirement: 'x>>=1'", 78, "is not valid"),
        ("error: File not found: `other.txt`", 78, "missing from the bundle"),
        ("  cause: tcp connect error\n  cause: Connection refused (os error 111)", 69, "could not be reached"),
        ("  cause: operation timed out", 69, "did not answer in time"),
        ("  cause: Because nosuchpkg was not found in the package registry", 69, "nosuchpkg is not available from"),
        (
            "  cause: Because notthere was not found in the provided package locations and all versions of "
            "needsmissing depend on notthere>=1, we can conclude that all versions of needsmissing cannot be used.",
            69,
            "notthere is not available from",
        ),
        (
            "  cause: Because winonly==1.0 has no wheels with a matching platform tag (e.g., "
            "`manylinux_2_36_x86_64`) and you require winonly==1.0, we can conclude that your requirements are "
            "unsatisfiable.\n\nhint: Wheels are available for `winonly` (v1.0) on the following platform: `win_amd64`",
            69,
            f"winonly has no wheel for this image (Linux, CPython {failures.PYTHON}), only for win_amd64",
        ),
        ("error: No solution found when resolving dependencies", 69, "requirements conflict"),
        (
            "error: No solution found when resolving dependencies\n  cause: Because cext==0.1.0 has no usable wheels "
            "and you require cext==0.1.0, we can conclude that your requirements are unsatisfiable.",
            69,
            "cext has no wheel that fits, and building from source is off (--only-binary or --no-build)",
        ),
        (
            "error: Distribution not found at: file:///home/conda/feedstock_root/build_artifacts/pkg_1/work",
            78,
            "the requirements name file:///home/conda/feedstock_root/build_artifacts/pkg_1/work, a path that is not",
        ),
        (
            "   Updating https://user:****@github.com/org/repo.git (v1)\nerror: Git operation failed\n"
            "  cause: failed to clone into: /root/.cache/uv/git-v2/db/81b6",
            69,
            "fetching the Git repository https://github.com/org/repo.git failed",
        ),
        (
            "   Updating https://127.0.0.1:9/org/repo.git (v1)\nerror: Git operation failed",
            69,
            "fetching the Git repository https://127.0.0.1:9/org/repo.git failed (git's error is above)",
        ),
        (
            "error: Expected '=' or whitespace, found Some('s'): requirements.txt:1:3",
            78,
            "uv does not read an option joined to its value (such as -rfile.txt)",
        ),
        ("error: Failed to build `x @ file:///tmp/job`", 69, "building the project failed"),
        ("error: [Errno 28] No space left on device\nerror: Failed to build `cext`", 73, "the disk filled up"),
        ("something new", 69, "see the installer's error above"),
    ],
)
def test_install_failures_are_explained(config, output, code, hint):
    assert failures.explain_failure(output.split("\n"), config())[0] == code
    assert hint in failures.explain_failure(output.split("\n"), config())[1]


@pytest.mark.parametrize(
    ("output", "shown"),
    [
        (
            "error: Failed to fetch: `https://user:s3cret@extra.example/simple/greeting/`\n  cause: tcp connect error",
            "https://extra.example/simple/greeting/ could not be reached",
        ),
        (
            "  cause: Failed to fetch: https://user:p@ss@private.example:8443/simple/x/\n  cause: Connection refused",
            "https://private.example:8443/simple/x/ could not be reached",
        ),
        (
            "  cause: Failed to fetch: https://t0k/en@index.example/simple/x/\n  cause: dns error",
            "an index URL (not shown, as it may hold credentials) could not be reached",
        ),
        (
            "  cause: Failed to fetch: https://user:****@index.example/simple/x/\n  cause: dns error",
            "an index URL (not shown, as it may hold credentials) could not be reached",
        ),
        (
            "WARNING: Retrying after connection broken by 'NewConnectionError(HTTPConnectionPool(host='10.0.0.9', "
            "port=3141): Failed to establish a new connection'",
            "the package index at 10.0.0.9:3141 could not be reached",
        ),
        ("error: something; Connection refused", "a package index (see the installer's error above) could not be"),
    ],
)
def test_failures_name_what_failed_without_credentials(config, output, shown):
    # The configured index is not the one that failed: it must not be blamed.
    hint = failures.explain_failure(
        output.split("\n"), config(PIP_INDEX_URL="https://user:pw1234@pypi.example/simple")
    )[1]
    assert hint.startswith(shown)
    assert "pw1234" not in hint and "s3cret" not in hint and "pypi.example" not in hint


def test_a_missing_requirement_names_the_indexes_looked_in(config):
    pip = [
        "Looking in indexes: https://user:pw1234@a.example/simple, https://b.example/simple",
        "ERROR: No matching distribution found for x",
    ]
    assert failures.explain_failure(pip, config())[1] == (
        "x is not available from https://a.example/simple, https://b.example/simple"
    )
    uv = ["  cause: Because x was not found in the package registry"]
    assert failures.explain_failure(uv, config(PIP_INDEX_URL="https://c.example/simple"))[1] == (
        "x is not available from https://c.example/simple"
    )


def test_credentials_are_scrubbed_from_the_installers_output(config):
    secrets = config(PIP_INDEX_URL="https://user:p%40ss-w0rd@index.example/simple/").index.secrets
    line = "Failed to fetch `https://user:p%40ss-w0rd@index.example/simple/x/` as user:p@ss-w0rd"
    assert failures.scrub(line, secrets) == "Failed to fetch `https://****@index.example/simple/x/` as user:****"


def test_the_shim_is_never_written_through_a_link(tmp_path):
    (tmp_path / "setup.py").symlink_to(tmp_path / "elsewhere.py")
    with pytest.raises(LauncherError, match="cannot create"):
        install.write_new_file(tmp_path / "setup.py", install.SHIM)
    assert not (tmp_path / "elsewhere.py").exists()


def test_a_job_environment_that_is_not_empty_is_not_the_launchers(tmp_path, config):
    settings = config(VIRTUAL_ENV=str(tmp_path / "read-only-base"))
    (tmp_path / "job-env").mkdir()
    (tmp_path / "job-env" / "precious.txt").write_text("keep\n")
    with pytest.raises(LauncherError, match="neither an environment nor empty") as error:
        install.target_env(settings, Log(None))
    assert error.value.code == 73
    assert (tmp_path / "job-env" / "precious.txt").read_text() == "keep\n"


def test_a_cache_the_uid_cannot_write_is_not_used(tmp_path, config, capsys):
    (tmp_path / "cache").write_text("a file where the cache should go\n")  # root may write anywhere else
    settings = config(UV_CACHE_DIR=str(tmp_path / "cache" / "uv"))
    assert install.cache_settings(settings, tmp_path, Log(None)) == {
        "UV_NO_CACHE": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    assert "installing without a cache" in capsys.readouterr().err


def test_a_cache_on_another_filesystem_is_copied_from(tmp_path, config):
    settings = config(UV_CACHE_DIR="/dev/shm/launcher-test-cache")
    try:
        assert install.cache_settings(settings, tmp_path, Log(None)) == {"UV_LINK_MODE": "copy"}
        assert install.cache_settings(config(UV_CACHE_DIR=str(tmp_path / "c")), tmp_path, Log(None)) == {}
    finally:
        (Path("/dev/shm/launcher-test-cache")).rmdir()


def test_what_a_default_requires_is_read_from_uvs_explanation():
    from launcher.defaults import required_of

    output = (
        "  cause: Because pandas was not found in the provided package locations and pandas==3.1.1 depends on "
        "numpy{python_full_version < '3.14'}>=2.0.2, we can conclude that pandas==3.1.1 depends on numpy>=2.0.2.\n"
        "  cause: Because scipy==1.17.1 depends on numpy>=1.26.4,<2.7, we can conclude that all versions of scipy"
    )
    assert required_of(output, "pandas", "numpy") == "numpy>=2.0.2"
    assert required_of(output, "scipy", "numpy") == "numpy>=1.26.4,<2.7"
    assert required_of("no explanation", "duckdb", "numpy") == "numpy"


def test_a_dry_run_says_what_would_be_replaced():
    from launcher.defaults import Resolution

    resolution = Resolution.from_uv(
        "Would install 3 packages\n + greeting==2.0.0\n - numpy==2.4.6\n + numpy==1.0.0\n + jobtool @ file:///tmp/job\n"
    )
    assert resolution.replaced() == [("numpy", "2.4.6", "1.0.0")]
    assert resolution.installs == {"greeting": "2.0.0", "numpy": "1.0.0"}


def test_pips_report_says_what_would_be_replaced():
    from launcher.defaults import Resolution

    install = [{"metadata": {"name": "NumPy", "version": "1.0.0"}}, {"metadata": {"name": "g", "version": "2"}}]
    report = json.dumps({"install": install})
    defaults = {"numpy": ("2.4.6", []), "pandas": ("3.1.1", ["numpy>=2"])}
    resolution = Resolution.from_pip(report, defaults)
    assert resolution.replaced() == [("numpy", "2.4.6", "1.0.0")]


def test_the_launchers_own_file_names_are_not_taken_from_the_bundle(tmp_path, config):
    from launcher.plans import Plan

    (tmp_path / commands.EXPORTED).symlink_to(tmp_path / "main.py")
    with pytest.raises(LauncherError, match="a name the launcher keeps for itself") as error:
        commands.Commands(Plan("uv.lock", "uv.lock", "found"), config(), tmp_path, {}, tmp_path)
    assert error.value.code == 78


@pytest.mark.parametrize(
    ("new", "said"),
    [
        ("2.0.0", True),
        ("1.6.0rc1", True),
        ("1.5.9", False),
        ("1.4.0", False),
    ],
)
def test_a_newer_duckdb_says_its_files_may_not_open_in_exec_duckdb(new, said):
    line = defaults.describe("duckdb", "1.5.5", new, [], {})
    assert line.startswith(f"the requirements replace the default library duckdb 1.5.5 with {new}")
    assert ("ATTACH them with (STORAGE_VERSION 'v1.5.0') to keep them readable" in line) is said
