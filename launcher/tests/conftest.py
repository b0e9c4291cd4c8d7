import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The launcher package, and the scenario bundles the conformance suite uses.
sys.path[:0] = [str(ROOT), str(ROOT / "conformance" / "fixtures")]

from launcher import settings  # noqa: E402


@pytest.fixture
def config(tmp_path):
    """Settings read from an environment (the given names over a few defaults), with paths under tmp_path."""

    def make(**environ: str) -> settings.Settings:
        base = {
            "LAUNCHER_CODE": str(tmp_path / "code"),
            "LAUNCHER_OUTPUTS": str(tmp_path / "outputs"),
            "LAUNCHER_WORKDIR": str(tmp_path / "job"),
            "LAUNCHER_JOB_ENV": str(tmp_path / "job-env"),
        }
        return settings.read({**base, **environ})

    return make
