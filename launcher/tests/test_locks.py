import pytest

from launcher.detect import DETECTION_ORDER
from launcher.locks import LOCK_NAMES, LOCKS, Kind, lock_named


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("uv.lock", Kind.UV_LOCK),
        ("poetry.lock", Kind.POETRY_LOCK),
        ("Pipfile.lock", Kind.PIPFILE_LOCK),
        ("pylock.toml", Kind.PYLOCK),
        ("pylock.dev-1.toml", Kind.PYLOCK),
    ],
)
def test_a_lock_is_known_by_its_file_name(name, kind):
    found = lock_named(name)
    assert found is not None and found.kind == kind


@pytest.mark.parametrize(
    "name", ["pylock..toml", "pylock.a.b.toml", "uv.lock.bak", "Poetry.lock", "pipfile.lock", "pdm.lock", "x/uv.lock"]
)
def test_other_names_are_no_lock(name):
    assert lock_named(name) is None


def test_every_kind_of_lock_has_one_record_and_detection_names_its_files():
    assert len({lock.kind for lock in LOCKS}) == len(LOCKS)
    assert DETECTION_ORDER[0] == LOCK_NAMES
    for name in LOCK_NAMES:
        assert lock_named(name.replace("NAME", "dev")) is not None


def test_a_lock_with_a_manifest_is_exported_by_its_tool_and_says_how_to_lock_again():
    for lock in LOCKS:
        assert lock.exported == bool(lock.manifest)
        assert lock.relock
        if lock.exported:
            readable, stale = lock.check_failures()
            assert lock.relock in readable[2] and lock.manifest in stale[2] and lock.check in stale[2]
