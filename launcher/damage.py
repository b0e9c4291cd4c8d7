"""What a damaged, unreadable or unwritable bundle means: one line for each error that
libarchive, zlib and zipfile raise while a bundle is written (CONTRACT.md, L1.4, L1.6, L2).

A zip's small members are checked here too, with zipfile, which verifies their CRC:
libarchive takes a symlink's target from such a member without checking it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .decompress import StreamTooLong
from .errors import EX_BUNDLE, EX_CANTCREATE, LauncherError
from .log import quoted

MAKE_ONE = "make the bundle with: tar czf bundle.tgz -C DIR . (or zip it)"
# What zlib's messages about a damaged gzip stream mean.
STREAM_ERRORS = {
    "incorrect data check": "its CRC does not match its data",
    "incorrect length check": "its length does not match its data",
}
# zip members this small are read by zipfile (libarchive refuses larger link entries).
ZIP_LINK_MAX = 64 << 10


def damaged(source: Path, kind: str, error: BaseException, stream_limit: int) -> LauncherError:
    """A bundle of this kind (an archive, or a compressed stream of one) that cannot be read through."""
    if isinstance(error, StreamTooLong):
        return LauncherError(
            EX_BUNDLE,
            f"{source}: decompressed, the archive exceeds {stream_limit} bytes "
            "(limit: LAUNCHER_MAX_BYTES, plus room for headers per member)",
        )
    detail = str(error) or type(error).__name__
    detail = STREAM_ERRORS.get(detail.removeprefix("Error -3 while decompressing data: "), detail)
    if kind == "zip" and "Passphrase" in detail:
        return LauncherError(
            EX_BUNDLE, f"{source}: the zip archive is encrypted ({detail}); zip the bundle without a password"
        )
    if detail == "Unrecognized archive format":
        if kind == "zip":
            detail = "its central directory, at the end, is missing"
        elif kind == "tar":
            return LauncherError(EX_BUNDLE, f"{source} is not a tar or zip archive; {MAKE_ONE}")
        else:
            return LauncherError(EX_BUNDLE, f"{source} is {kind} data with no tar archive in it; {MAKE_ONE}")
    return LauncherError(
        EX_BUNDLE, f"{source}: {kind} archive is truncated or corrupt ({detail}); make and upload the bundle again"
    )


def unreadable(source: Path, name: bytes, error: BaseException) -> LauncherError:
    """A directory bundle, or the member at name in it (as the walk names it, `./a/b`), that the job cannot read."""
    member = f"{source}/{os.fsdecode(name[2:])}" if name.startswith(b"./") else str(source)
    return LauncherError(
        EX_BUNDLE, f"cannot read {quoted(member)} ({error}); the bundle must be readable by the job's uid {os.getuid()}"
    )


def cannot_write(source: Path, root: Path, name: bytes, error: BaseException) -> LauncherError:
    """The member at name could not be written into root: the disk is full, or libarchive refused it."""
    member = f" member {quoted(name)}" if name else ""
    if getattr(error, "errno", 0) in (errno.ENOSPC, errno.EDQUOT):
        return LauncherError(
            EX_CANTCREATE, f"{source}: no space left in {root} while extracting{member}; give the job a larger /tmp"
        )
    return LauncherError(EX_BUNDLE, f"{source}: cannot extract{member} ({error})")


def verify_zip(source: Path) -> None:
    """Read the zip's small members with zipfile, which checks their CRC."""
    import zipfile

    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.compress_size > ZIP_LINK_MAX or info.flag_bits & 0x1:
                    continue  # an encrypted one is libarchive's to refuse, with its own message
                with archive.open(info) as member:
                    while member.read(1 << 16):
                        pass
    except NotImplementedError:
        return  # a compression method zipfile lacks: libarchive has read the zip
    except Exception as error:  # whatever zipfile makes of a damaged zip (BadZipFile, zlib.error, ValueError...)
        raise LauncherError(
            EX_BUNDLE, f"{source}: zip archive is truncated or corrupt ({error}); make and upload the bundle again"
        ) from error
