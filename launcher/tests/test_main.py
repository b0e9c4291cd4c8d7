import pytest

from launcher import main
from launcher.errors import EX_NOTFOUND, EX_USAGE, LauncherError


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--", "python", "main.py"], ["python", "main.py"]),
        (["--", "echo", "a b", "--", "$HOME"], ["echo", "a b", "--", "$HOME"]),
        (["--", "printf", "line1\nline2"], ["printf", "line1\nline2"]),
    ],
)
def test_command_is_everything_after_the_first_double_dash(argv, command):
    assert main.parse_command(argv) == command


@pytest.mark.parametrize("argv", [[], ["python"], ["--"]])
def test_missing_command_is_a_usage_error(argv):
    with pytest.raises(LauncherError) as error:
        main.parse_command(argv)
    assert error.value.code == EX_USAGE


def test_an_empty_command_name_is_not_found():
    with pytest.raises(LauncherError) as error:
        main.parse_command(["--", "", "arg"])
    assert error.value.code == EX_NOTFOUND
