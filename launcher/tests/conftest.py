import importlib.util
import sys
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parents[1] / "launcher.py"


@pytest.fixture(scope="session")
def launcher():
    """The launcher module, loaded from its file (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("launcher", LAUNCHER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["launcher"] = module
    spec.loader.exec_module(module)
    return module
