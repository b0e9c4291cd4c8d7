"""What each default library of the python image costs, run in the image by make bench.

For every library named in base_requirements.in (given as arguments), prints as JSON
its own size on disk, its size compressed as a registry push compresses a layer (gzip
level 6, file by file), and what leaving it out of the image would save: the library
and the dependencies that no other default library needs.
"""

import json
import re
import sys
import zlib
from importlib import metadata
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def files_of(dist: metadata.Distribution) -> list[Path]:
    found = []
    for item in dist.files or []:
        path = Path(str(dist.locate_file(item)))
        if path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def sizes(paths: list[Path]) -> tuple[int, int]:
    raw = compressed = 0
    for path in paths:
        data = path.read_bytes()
        raw += len(data)
        compressed += len(zlib.compress(data, 6))
    return raw, compressed


def main(requested: list[str]) -> None:
    dists = {normalize(d.metadata["Name"]): d for d in metadata.distributions()}
    needs: dict[str, set[str]] = {}
    for name, dist in dists.items():
        needs[name] = set()
        for requirement in dist.requires or []:
            # Extras are not installed by default; environment markers other than extras are taken as met.
            if "extra ==" in requirement.replace('"', "'").replace("extra==", "extra =="):
                continue
            match = NAME.match(requirement)
            if match and normalize(match[1]) in dists:
                needs[name].add(normalize(match[1]))

    def closure(roots: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(needs.get(name, ()))
        return seen

    cost = {name: sizes(files_of(dist)) for name, dist in dists.items()}
    wanted = [normalize(name) for name in requested if normalize(name) in dists]
    rows = []
    for name in wanted:
        others = closure(set(wanted) - {name})
        alone = closure({name}) - others
        rows.append(
            {
                "library": name,
                "version": dists[name].version,
                "bytes": cost[name][0],
                "compressed": cost[name][1],
                "only_it_needs": sorted(alone - {name}),
                "saved_bytes": sum(cost[n][0] for n in alone),
                "saved_compressed": sum(cost[n][1] for n in alone),
            }
        )
    total = sum(raw for raw, _ in cost.values()), sum(packed for _, packed in cost.values())
    print(json.dumps({"rows": rows, "all_bytes": total[0], "all_compressed": total[1], "distributions": len(dists)}))


if __name__ == "__main__":
    main(sys.argv[1:])
