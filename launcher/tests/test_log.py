import os

from launcher.log import Log, say


def test_outputs_that_is_not_a_directory_is_reported_and_skipped(tmp_path, capsys):
    (tmp_path / "outputs").write_text("a file\n")
    assert Log.open(tmp_path / "outputs").file is None
    assert capsys.readouterr().err == f"launcher: {tmp_path / 'outputs'} is not a directory; going on without the log\n"
    assert (tmp_path / "outputs").read_text() == "a file\n"


def test_steps_are_appended(tmp_path):
    (tmp_path / "requirements.log").write_text("an earlier line\n")
    log = Log.open(tmp_path)
    log.step("detect: something")
    log.write("stdout| a line")
    log.close()
    lines = (tmp_path / "requirements.log").read_text().splitlines()
    assert lines[0] == "an earlier line"
    assert lines[1].startswith("== ") and lines[1].endswith(" detect: something")
    assert lines[2] == "stdout| a line"


def test_a_fifo_or_a_link_at_the_log_is_reported_and_left_alone(tmp_path, capsys):
    os.mkfifo(tmp_path / "requirements.log")
    assert Log.open(tmp_path).file is None  # without waiting for a reader
    os.unlink(tmp_path / "requirements.log")
    (tmp_path / "other.txt").write_text("keep\n")
    os.symlink("other.txt", tmp_path / "requirements.log")
    assert Log.open(tmp_path).file is None
    assert (tmp_path / "other.txt").read_text() == "keep\n"
    assert capsys.readouterr().err.splitlines() == [
        f"launcher: {tmp_path / 'requirements.log'} is a FIFO, not a regular file; going on without the log",
        f"launcher: {tmp_path / 'requirements.log'} is a symbolic link, not a regular file; going on without the log",
    ]


def test_every_line_written_is_one_printable_line(tmp_path, capsys):
    log = Log.open(tmp_path)
    log.write("stdout| a\x1b[2Jb\rlauncher: forged\u202e")
    log.close()
    say("name: x\nlauncher: forged")
    assert (tmp_path / "requirements.log").read_text() == "stdout| a\\x1b[2Jb\\rlauncher: forged\\u202e\n"
    assert capsys.readouterr().err == "launcher: name: x\\nlauncher: forged\n"
