"""The lakehouse's folder structure as a compact listing (docs/storage_layout.md, evidence/).

    python -m churnlake.walkthrough.layout                  # the configured local lakehouse root
    python -m churnlake.walkthrough.layout --root /tmp/lake

Every folder, one per line; the data files of a folder summarised as ``<pattern>  (N files,
size)``; ``_delta_log/`` shown with its number of commits and checkpoints, not its content;
``.crc`` files left out. A folder with more than ``--max-children`` subfolders of the same kind
(partitions ``key=value``) shows the first and last two and how many lie between; a Spark ML
model folder (``metadata/`` + ``stages/`` or ``data/``) is one line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from churnlake.config import load_config


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _pattern(name: str) -> str:
    """The file's kind: Delta/Parquet parts share one pattern; dated names (hourly logs) share
    the name with its numbers as ``*`` (``access-2026-12-02-20.log`` -> ``access-*.log``)."""
    if name.startswith("part-"):
        return "part-*" + "".join(Path(name).suffixes[-2:])
    return re.sub(r"\*(?:[-_.T:]\*)+", "*", re.sub(r"\d+", "*", name))


def listing(root: Path, max_children: int = 6) -> list[str]:
    """The lines of the listing of ``root`` (paths relative to it)."""
    lines: list[str] = []

    def walk(folder: Path, rel: str) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        files = [p for p in entries if p.is_file() and not p.name.endswith(".crc") and p.name != ".gitkeep"]
        dirs = [p for p in entries if p.is_dir()]
        groups: dict[str, list[Path]] = defaultdict(list)
        for f in files:
            groups[_pattern(f.name)].append(f)
        for pattern, members in sorted(groups.items()):
            if len(members) == 1:
                lines.append(f"{rel}{members[0].name}  ({_size(members[0].stat().st_size)})")
            else:
                total = sum(m.stat().st_size for m in members)
                lines.append(f"{rel}{pattern}  ({len(members)} file{'s' if len(members) != 1 else ''}, {_size(total)})")
        partitions = [d for d in dirs if "=" in d.name]
        elide = len(partitions) == len(dirs) and len(dirs) > max_children
        shown = dirs[:2] + dirs[-2:] if elide else dirs
        for i, d in enumerate(shown):
            if d.name == "_delta_log":
                commits = len(list(d.glob("*.json")))
                checkpoints = len(list(d.glob("*.checkpoint*.parquet")))
                lines.append(f"{rel}_delta_log/  ({commits} commits" +
                             (f", {checkpoints} checkpoints)" if checkpoints else ")"))
                continue
            if (d / "metadata").is_dir() and ((d / "stages").is_dir() or (d / "data").is_dir()):
                stages = len(list((d / "stages").iterdir())) if (d / "stages").is_dir() else 0
                size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
                lines.append(f"{rel}{d.name}/  (Spark ML model" + (f", {stages} stages" if stages else "")
                             + f", {_size(size)})")
                continue
            lines.append(f"{rel}{d.name}/")
            walk(d, f"{rel}{d.name}/")
            if elide and i == 1:
                lines.append(f"{rel}…  ({len(dirs) - 4} more partitions like these)")

    walk(root, "")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="default: the configured lakehouse root")
    parser.add_argument("--max-children", type=int, default=6)
    args = parser.parse_args(argv)
    root = args.root
    if root is None:
        uri = load_config().lakehouse_root
        if not uri.startswith("file:"):
            print(f"layout: {uri} is not a local folder; list it with `hdfs dfs -ls -R`", file=sys.stderr)
            return 2
        root = Path(uri.removeprefix("file://"))
    if not root.is_dir():
        print(f"layout: {root} does not exist (run make demo first)", file=sys.stderr)
        return 2
    print("\n".join(listing(root, args.max_children)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
