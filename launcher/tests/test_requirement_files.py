import pytest

from launcher.errors import EX_CONFIG, LauncherError
from launcher.requirement_files import name_own_index


@pytest.mark.parametrize(
    "line",
    [
        "-r /tmp/outside.txt",
        "-r ../outside.txt",
        "--requirement=../../etc/passwd",
        "-c sub/../../outside.txt",
        "-r link.txt",
        "-r/tmp/outside.txt",
        "-c=../outside.txt",
    ],
)
def test_an_include_outside_the_bundle_is_a_config_error(tmp_path, line):
    root = tmp_path / "bundle"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("six\n")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "requirements.txt").write_text(f"greeting\n{line}\n")
    with pytest.raises(LauncherError) as error:
        name_own_index(root / "requirements.txt", root)
    assert error.value.code == EX_CONFIG
    assert "requirements.txt includes" in str(error.value) and "which is outside the bundle" in str(error.value)


def test_an_include_outside_is_found_after_an_index_line_and_through_nested_files(tmp_path):
    (tmp_path / "services").mkdir()
    (tmp_path / "requirements.txt").write_text("-i https://idx.example/simple\n-r services/etl.txt\n")
    (tmp_path / "services" / "etl.txt").write_text("-c ../../constraints.txt\n")
    with pytest.raises(LauncherError, match=r"^services/etl.txt includes ../../constraints.txt, which is outside"):
        name_own_index(tmp_path / "requirements.txt", tmp_path)


def test_includes_inside_the_bundle_and_urls_pass(tmp_path):
    (tmp_path / "services").mkdir()
    (tmp_path / "common.txt").write_text("-i https://idx.example/simple\n")
    (tmp_path / "services" / "etl.txt").write_text("-r ../common.txt\n-c https://example.com/constraints.txt\n")
    assert name_own_index(tmp_path / "services" / "etl.txt", tmp_path)
