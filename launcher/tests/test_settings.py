import subprocess
import sys
from pathlib import Path

import pytest

from launcher import indexes
from launcher.errors import EX_CONFIG, LauncherError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("1000", 1000),
        ("1k", 1024),
        ("2M", 2 << 20),
        ("1g", 1 << 30),
        ("1GiB", 1 << 30),
        ("1gb", 1 << 30),
        ("5MB", 5 << 20),
        ("3 tb", 3 << 40),
    ],
)
def test_sizes_take_binary_suffixes(config, value, expected):
    assert config(LAUNCHER_MAX_BYTES=value).max_bytes == expected


@pytest.mark.parametrize(
    ("name", "value", "form"),
    [
        ("LAUNCHER_MAX_BYTES", "1e5", "optionally with a k, m, g or t suffix"),
        ("LAUNCHER_MAX_BYTES", "0", "at least 1"),
        ("LAUNCHER_MAX_BYTES", "1.5g", "a whole number of bytes"),
        ("LAUNCHER_MAX_MEMBERS", "1e5", "a whole number, at least 1"),
        ("LAUNCHER_MAX_MEMBERS", "\u0661\u0660", "a whole number"),  # digits, but not ASCII ones
        ("LAUNCHER_INSTALLER", "conda", "choose one of uv, pip"),
        ("LAUNCHER_CODE", "code", "give an absolute path"),
        ("PIP_TIMEOUT", "nan", "a number of seconds from 0.001 to 3600"),
        ("PIP_TIMEOUT", "inf", "a number of seconds from 0.001 to 3600"),
        ("PIP_TIMEOUT", "0", "a number of seconds from 0.001 to 3600"),
        ("PIP_TIMEOUT", "1e30", "a number of seconds from 0.001 to 3600"),
        ("UV_HTTP_TIMEOUT", "2.5", "a whole number of seconds"),
        ("PIP_RETRIES", "two", "a whole number of retries from 0 to 100"),
        ("PIP_RETRIES", "100000000000000000000", "a whole number of retries from 0 to 100"),
        ("UV_HTTP_RETRIES", "x", "a whole number of retries from 0 to 100"),
        ("UV_LINK_MODE", "bogus", "choose one of clone, copy, hardlink, symlink"),
        ("PIP_TRUSTED_HOST", "a b/c", "give host names or host:port"),
        ("LAUNCHER_INSTALL_TIMEOUT", "0", "a number of seconds from 1 to 604800"),
        ("LAUNCHER_LOCK_TIMEOUT", "soon", "a number of seconds from 1 to 604800"),
        ("PIP_NO_INDEX", "perhaps", "give 1, true, yes or on"),
        ("LAUNCHER_REQUIREMENTS", "/etc/passwd", "name a file inside the bundle"),
        ("LAUNCHER_REQUIREMENTS", "a/../../x", "name a file inside the bundle"),
    ],
)
def test_malformed_settings_name_the_setting_and_the_form(config, name, value, form):
    with pytest.raises(LauncherError) as error:
        config(**{name: value})
    assert error.value.code == EX_CONFIG
    assert str(error.value).startswith(f"{name}={value!r} is not valid: ")
    assert form in str(error.value)


def test_empty_values_count_as_unset(config):
    read = config(LAUNCHER_MAX_BYTES=" ", LAUNCHER_INSTALLER="", LAUNCHER_REQUIREMENTS="", PIP_TIMEOUT="")
    assert (read.max_bytes, read.installer, read.requirements, read.index.timeout) == (1 << 30, "uv", None, 15)


@pytest.mark.parametrize(
    ("value", "expected"), [("none", "none"), ("NONE", "none"), ("deps/./prod.txt", "deps/prod.txt")]
)
def test_the_requirements_setting(config, value, expected):
    assert config(LAUNCHER_REQUIREMENTS=value).requirements == expected


def test_the_working_directory_and_the_job_environment_must_not_overlap(config, tmp_path):
    with pytest.raises(LauncherError, match="overlap"):
        config(LAUNCHER_JOB_ENV=str(tmp_path / "job" / "env"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://index.example/simple/", "https://index.example/simple/"),
        ("https://user:s3cret@index.example/simple/", "https://index.example/simple/"),
        ("https://user:p@ss@index.example:8443/simple/", "https://index.example:8443/simple/"),
        ("https://token@index.example/simple/?key=abc", "https://index.example/simple/"),
        # '@' past the host: what is host and what is password cannot be told apart.
        ("https://t0k/en@index.example/simple/", None),
        ("https://pkgs.dev.azure.com/org/_packaging/feed@Local/pypi/simple/", None),
    ],
)
def test_index_urls_are_shown_without_credentials(url, shown):
    assert indexes.public_url(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("https://user:s3cret@index.example/simple/", {"s3cret"}),
        ("https://user:p%40ss1@index.example/simple/", {"p%40ss1", "p@ss1"}),
        ("https://t0ken-value@index.example/simple/", {"t0ken-value"}),
        ("https://user:ab@index.example/", {"ab"}),  # hidden where it stands alone
        ("https://index.example/simple/?token=t0ken-value", {"t0ken-value"}),
        ("https://t0k/en-rest@index.example/simple/", {"t0k/en-rest"}),
    ],
)
def test_secrets_in_index_urls(url, secrets):
    assert indexes.secrets_in(url) == secrets


@pytest.mark.parametrize(
    "url",
    ["ftp://x/simple", "https:///simple", "https://host:port/simple", "index.example/simple", "http://us er:pw@h/s"],
)
def test_malformed_index_urls_are_refused_without_being_shown(config, url):
    with pytest.raises(LauncherError) as error:
        config(PIP_INDEX_URL=url)
    assert str(error.value).startswith("PIP_INDEX_URL (value not shown) is not valid")
    assert url not in str(error.value)


def test_the_index_settings(config):
    index = config(
        PIP_INDEX_URL="https://user:s3cret@a.example/simple",
        UV_INDEX_URL="https://b.example/simple",
        PIP_EXTRA_INDEX_URL="https://user:other-pw@c.example/simple",
        PIP_FIND_LINKS="/wheels /more",
        PIP_TIMEOUT="2.5",
        PIP_CACHE_DIR="/cache",
        PIP_NO_INDEX="yes",
    ).index
    assert (index.url, index.url_setting) == ("https://b.example/simple", "UV_INDEX_URL")
    assert index.find_links == ("/wheels", "/more")
    assert (index.timeout, index.cache_dir, index.no_index) == (3, "/cache/uv", True)
    assert set(index.secrets) == {"other-pw", "s3cret"}
    assert index.describe() == "(no index: PIP_NO_INDEX is set)"


def test_the_original_environment_is_what_the_process_was_given():
    # In the C locale, Python adds LC_CTYPE=C.UTF-8 to its own environment (PEP 538).
    code = (
        f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); from launcher import settings; "
        "print(sorted(settings.original_environment().items()), 'LC_CTYPE' in os.environ)"
    )
    result = subprocess.run(
        ["/usr/bin/env", "-i", "JOB=a b", "LANG=C", sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "[('JOB', 'a b'), ('LANG', 'C')] True\n"
