from launcher.log import Log


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
