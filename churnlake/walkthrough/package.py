"""The release package: ``dist/churnlake-<version>.zip`` with code, data, docs, video and evidence.

    python -m churnlake.walkthrough.package --run-date 2026-12-02      # or: make package RUN_DATE=…

Inside one top folder ``churnlake-<version>/``:

- the source tree as the repository holds it (``git ls-files``: jobs/ by stage, churnlake/,
  luigi_tasks/, conf/, schemas/, sql/, notebooks/, tests/, docs/, benchmarks/, the bundled
  data in data/, README.md, Makefile, spark-submit.sh, engine.sh);
- ``video/``: walkthrough.mp4, .srt, .chapters.txt, .json. The video must have been made from
  the commit being packaged (its .json says which); when it is missing or older, it is made
  first (:func:`churnlake.walkthrough.video.make_video`, which also runs the demo for the
  date unless it is done);
- ``evidence/``: :func:`churnlake.walkthrough.evidence.collect` of the run date, with its README.

A test (tests/integration/test_package.py) unpacks the zip and checks every listed file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from churnlake.config import Config, load_config
from churnlake.walkthrough import evidence

log = logging.getLogger(__name__)

VIDEO_FILES = ("walkthrough.mp4", "walkthrough.srt", "walkthrough.chapters.txt", "walkthrough.json")
#: Media that zip cannot shrink: stored as they are.
STORED = (".mp4", ".png", ".pdf", ".zip", ".gz", ".parquet", ".pkl")


class PackageError(RuntimeError):
    """The package cannot be built; the message names what is missing."""


def project_version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def source_files(root: Path) -> list[str]:
    """The repository's files (tracked, and new ones not ignored), relative to ``root``."""
    try:
        res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                             capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PackageError(f"{root} is not a git checkout (the source list comes from git ls-files): {exc}") from exc
    names = sorted({n for n in res.stdout.decode().split("\0") if n})
    return [n for n in names if (root / n).is_file()]


def video_is_current(video_dir: Path, commit: str | None) -> tuple[bool, str]:
    """Whether ``video_dir`` holds a complete video made from ``commit``, and why not."""
    missing = [n for n in VIDEO_FILES if not (video_dir / n).is_file() or (video_dir / n).stat().st_size == 0]
    if missing:
        return False, f"missing {', '.join(missing)} in {video_dir}"
    made_from = json.loads((video_dir / "walkthrough.json").read_text(encoding="utf-8")).get("commit")
    if commit and (made_from != commit or commit.endswith("-dirty")):
        return False, f"the video was made from commit {str(made_from)[:10]}, the checkout is at {commit[:10]}"
    return True, "current"


def build_package(cfg: Config, run_date: dt.date, out_dir: Path, *, video_dir: Path, evidence_dir: Path,
                  env: dict | None = None, notebook: bool = True, screenshots: Path | None = None) -> Path:
    """Collect the evidence and write the zip; returns its path."""
    root = cfg.root_dir
    files = evidence.collect(cfg, run_date, evidence_dir, screenshots=screenshots, notebook=notebook, env=env)
    missing = [n for n in VIDEO_FILES if not (video_dir / n).is_file()]
    if missing:
        raise PackageError(f"no video to package ({', '.join(missing)} missing in {video_dir}): run make video")
    top = f"churnlake-{project_version(root)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{top}.zip"
    partial = out_dir / f".{top}.zip.partial"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        def add(path: Path, arcname: str) -> None:
            kind = zipfile.ZIP_STORED if path.suffix.lower() in STORED else zipfile.ZIP_DEFLATED
            zf.write(path, f"{top}/{arcname}", compress_type=kind)

        for name in source_files(root):
            add(root / name, name)
        for name in VIDEO_FILES:
            add(video_dir / name, f"video/{name}")
        for path in files:  # evidence/README.md among them
            add(path, f"evidence/{path.relative_to(evidence_dir)}")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    from churnlake.walkthrough import video

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date.today())
    parser.add_argument("--out-dir", type=Path, default=None, help="default: <project>/dist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config()
    out_dir = args.out_dir or cfg.root_dir / "dist"
    current, why = video_is_current(out_dir, video.git_commit(cfg.root_dir))
    try:
        if not current:
            log.info("making the video first: %s", why)
            video.make_video(cfg, args.run_date, out_dir)
        shots = cfg.root_dir / "build" / video.NAME / "shots"
        path = build_package(cfg, args.run_date, out_dir, video_dir=out_dir,
                             evidence_dir=cfg.root_dir / "build" / "package" / "evidence",
                             screenshots=shots if shots.is_dir() else None)
    except (PackageError, evidence.EvidenceError, RuntimeError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    with zipfile.ZipFile(path) as zf:
        count = len(zf.namelist())
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {count} files (evidence/README.md maps the deliverables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
