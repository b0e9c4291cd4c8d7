#!/usr/bin/env python3
"""Time two commands, alternating, and print every sample as JSON (on the host, or in a container).

usage: alternate.py SPEC_JSON
SPEC: {"runs": N, "a": {"run": [...]}, "b": {"run": [...]}}. One run of each comes
first as a warm-up and is not counted.
"""

import json
import subprocess
import sys
import time


def timed(side: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(side["run"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{side['run']} exited {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def main(spec: dict) -> int:
    samples: dict[str, list[float]] = {"a": [], "b": []}
    for side in ("a", "b"):  # a warm-up run of each, not counted
        timed(spec[side])
    for i in range(spec["runs"]):
        # Alternate which goes first, so that neither always runs on a warmer machine.
        for side in ("a", "b") if i % 2 == 0 else ("b", "a"):
            samples[side].append(timed(spec[side]))
    print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
