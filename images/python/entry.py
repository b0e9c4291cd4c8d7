#!/usr/bin/python3 -IS
"""/build/launcher.py: runs the launcher package from /build/lib, where the image keeps it compiled.

-I keeps the job's PYTHONPATH, PYTHONHOME and other PYTHON* settings away from the
launcher (the job still receives them); -S leaves site-packages out: the launcher
needs only the standard library.
"""

import sys

sys.path.insert(0, "/build/lib")
from launcher.main import main

sys.exit(main(sys.argv[1:]))
