import os

import pytest

from launcher import beneath


@pytest.fixture
def root(tmp_path):
    """A root with a canary beside it, and a handle on the root."""
    (tmp_path / "root").mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.txt").write_text("keep\n")
    fd = os.open(tmp_path / "root", beneath.DIRECTORY)
    yield tmp_path / "root", fd
    os.close(fd)


def test_removal_never_follows_a_link_out_of_the_root(root):
    path, fd = root
    os.symlink(".", path / "d")
    os.symlink("d/..", path / "s")  # the root's parent, though it reads as inside
    beneath.remove_beneath(fd, b"s/victim")
    assert (path.parent / "victim" / "keep.txt").read_text() == "keep\n"
    beneath.remove_beneath(fd, b"s")  # the link itself goes, not what it leads to
    assert not os.path.lexists(path / "s")
    assert (path.parent / "victim" / "keep.txt").exists()


def test_a_tree_deeper_than_the_recursion_limit_is_removed(root):
    path, fd = root
    here = os.dup(fd)
    for _ in range(1500):  # os.makedirs recurses
        os.mkdir("d", dir_fd=here)
        inner = os.open("d", beneath.DIRECTORY, dir_fd=here)
        os.close(here)
        here = inner
    os.symlink("/", "to-root", dir_fd=here)
    os.close(here)
    beneath.empty(fd)
    assert os.listdir(path) == []
    assert (path.parent / "victim" / "keep.txt").exists()


@pytest.mark.parametrize(
    ("links", "name", "inside"),
    [
        ({"d": ".", "s": "d/.."}, b"s", False),
        ({"x": "y/..", "y": "."}, b"x", False),
        ({"a": "b", "b": "a"}, b"a", True),  # a loop leads nowhere
        ({"up": "sub/../.."}, b"up", False),
        ({"ok": "sub/../main.py"}, b"ok", True),
        ({"abs": "/etc"}, b"abs", False),
        ({"later": "not-yet/../../x"}, b"later", False),
    ],
)
def test_links_are_followed_to_their_end(root, links, name, inside):
    path, fd = root
    (path / "sub").mkdir()
    (path / "main.py").write_text("")
    for link, target in links.items():
        os.symlink(target, path / link)
    assert beneath.resolves_inside(fd, name) is inside


def test_a_lookup_stops_at_a_link(root):
    path, fd = root
    (path / "real").mkdir()
    (path / "real" / "f").write_text("x")
    os.symlink("real", path / "alias")
    assert beneath.lstat_beneath(fd, b"real/f") is not None
    assert beneath.lstat_beneath(fd, b"alias/f") is None
