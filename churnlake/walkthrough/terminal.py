"""Commands run for real and shown as a terminal would show them (a PNG per command).

:func:`run_shown` runs a shell command from the project root and keeps its output;
:func:`capture` also renders it as a terminal slide. A command that fails, or whose output
lacks what it must show, raises :class:`CaptureError` naming the command and the cause, so a
picture of an error message is never passed off as the real thing.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from churnlake.config import Config

#: Lines dropped from shown output: JVM and Spark start-up chatter that says nothing about the command.
NOISE = re.compile(r"^(WARNING: Using incubator modules|Picked up JAVA_TOOL_OPTIONS|\s*$)")


class CaptureError(RuntimeError):
    """A shown command failed or did not print what it is meant to show."""


@dataclass(frozen=True)
class Shown:
    command: str
    output: str
    returncode: int
    seconds: float


#: beeline echoes its prompt before the first result of ``-e``.
PROMPT = re.compile(r"^\d+: jdbc:hive2://\S+> ")


def clean(output: str) -> str:
    """Output without the noise lines, beeline's prompt and carriage-return redraws."""
    lines = [PROMPT.sub("", line.rsplit("\r", 1)[-1]) for line in output.splitlines()]
    return "\n".join(line for line in lines if not NOISE.match(line))


def run_shown(cfg: Config, command: str, *, expect: tuple[str, ...] = (), env: dict | None = None,
              timeout: float = 900, stderr: bool = False, ok_codes: tuple[int, ...] = (0,),
              min_table_rows: int = 0) -> Shown:
    """Run ``command`` with bash in the project root; its cleaned stdout (and stderr when asked).
    ``min_table_rows``: the output's ``| … |`` table must have at least that many data rows (a
    query that returns nothing is not shown as if it showed something)."""
    import time

    started = time.monotonic()
    venv_bin = cfg.root_dir / ".venv" / "bin"
    run_env = {**os.environ, **(env or {})}
    run_env["PATH"] = f"{venv_bin}{os.pathsep}{run_env.get('PATH', '')}"
    try:
        res = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cfg.root_dir, env=run_env,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"`{command}` did not finish within {timeout:.0f}s") from exc
    output = clean(res.stdout + (res.stderr if stderr else ""))
    if res.returncode not in ok_codes:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or [""])[-1]
        raise CaptureError(f"`{command}` exited {res.returncode}: {last[:400]}")
    missing = [text for text in expect if text not in output]
    if missing or not output.strip():
        raise CaptureError(f"`{command}` printed {'nothing' if not output.strip() else 'no ' + repr(missing)}; "
                           f"first lines: {output[:300]!r}")
    rows = [line for line in output.splitlines() if line.startswith("|")]
    if min_table_rows and len(rows) - 1 < min_table_rows:  # the first | line is the header
        raise CaptureError(f"`{command}` returned {max(0, len(rows) - 1)} rows, expected at least {min_table_rows}")
    return Shown(command, output, res.returncode, round(time.monotonic() - started, 2))


def capture(cfg: Config, png: Path, title: str, command: str, **kwargs) -> Shown:
    """:func:`run_shown`, then a terminal slide of it at ``png``."""
    from churnlake.walkthrough.slides import terminal_slide

    shown = run_shown(cfg, command, **kwargs)
    terminal_slide(png, title, command, shown.output)
    return shown
