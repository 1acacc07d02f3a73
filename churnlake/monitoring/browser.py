"""Headless Chromium, driven from the command line: rendered DOM and PNG screenshots.

    html = render_dom("http://127.0.0.1:8082/history", wait_ms=5000)
    screenshot("file:///…/report.html", "docs/screenshots/data-quality.png", width=1400, height=900)

Each call runs one ``chromium --headless=new`` process with a throw-away profile
(``--dump-dom`` or ``--screenshot``), so no WebDriver and no extra Python package is
needed. ``--virtual-time-budget`` lets single-page apps (the Luigi visualiser, the MLflow
UI) fetch their data and draw before the DOM is dumped or the picture taken: the browser's
clock only advances while no network request is pending. The binary is
``$CHURNLAKE_CHROMIUM``, else ``chromium`` (Debian; ``scripts/ensure-chromium.sh``
installs it), ``chromium-browser``, ``google-chrome`` or ``google-chrome-stable`` on PATH.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

ENV_BINARY = "CHURNLAKE_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LOAD_FAILED = re.compile(r"Page load failed: (\S+)")
# Chromium's own chatter on stderr (no D-Bus, no GPU in a container): left out of error messages.
_NOISE = re.compile(r"dbus|Fontconfig|unexpected operator|viz_main_impl|gpu_init|sandbox_linux")


class BrowserNotInstalledError(RuntimeError):
    """No Chromium binary was found."""


class BrowserError(RuntimeError):
    """Chromium could not load or render the page; the message says why."""


def find_chromium() -> str:
    """The Chromium binary to run: ``$CHURNLAKE_CHROMIUM`` or the first candidate on PATH."""
    configured = os.environ.get(ENV_BINARY)
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise BrowserNotInstalledError(
                f"${ENV_BINARY}={configured} is not an executable; unset it, or install Chromium "
                "with: bash scripts/ensure-chromium.sh")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotInstalledError(
        f"no Chromium found on PATH (tried {', '.join(CANDIDATES)}); install it with: "
        f"bash scripts/ensure-chromium.sh (Debian package 'chromium'), or set ${ENV_BINARY}")


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Fail early and clearly when ``url`` cannot be loaded (missing file, no server, HTTP error)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
        if not path.is_file():
            raise BrowserError(f"cannot render {url}: {path} does not exist")
        return
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http(s):// and file:// URLs are rendered, got {url!r}")
    page = urllib.parse.urlunsplit(parts._replace(fragment=""))  # the fragment is the app's, not the server's
    try:
        with urllib.request.urlopen(page, timeout=timeout) as resp:
            resp.read(1)
    except urllib.error.HTTPError as exc:
        raise BrowserError(f"cannot render {url}: the server answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BrowserError(f"cannot render {url}: the server is not reachable ({reason})") from exc


def _stderr_summary(stderr: str, lines: int = 12) -> str:
    kept = [line for line in stderr.splitlines() if line.strip() and not _NOISE.search(line)]
    return "\n".join(kept[-lines:]) or "(nothing on stderr)"


def _run_chromium(url: str, args: list[str], wait_ms: int, timeout: float) -> subprocess.CompletedProcess:
    """Run one headless Chromium on ``url`` with ``args``; kill its whole process group on timeout."""
    if wait_ms < 0:
        raise ValueError(f"wait_ms must be >= 0, got {wait_ms}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    binary = find_chromium()
    check_reachable(url)
    with tempfile.TemporaryDirectory(prefix="churnlake-chromium-") as profile:
        cmd = [
            binary, "--headless=new",
            # Only the project's own local pages are opened; the sandbox needs user namespaces
            # (and a non-root user) that containers and CI machines often lack.
            "--no-sandbox",
            "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}", f"--virtual-time-budget={int(wait_ms)}",
            *args, url,
        ]
        log.debug("running %s", " ".join(cmd))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                cwd=profile, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise BrowserError(f"Chromium did not finish rendering {url} within {timeout:.0f}s "
                               f"(killed it):\n{_stderr_summary(err.decode(errors='replace'))}") from exc
        finally:
            # Helpers (zygote, GPU/utility processes) of this one browser, should any outlive it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    result = subprocess.CompletedProcess(cmd, proc.returncode, out.decode(errors="replace"),
                                         err.decode(errors="replace"))
    failed = _LOAD_FAILED.search(result.stderr)
    if failed:
        raise BrowserError(f"Chromium could not load {url}: {failed.group(1)}")
    if result.returncode != 0:
        raise BrowserError(f"Chromium exited with code {result.returncode} on {url}:\n"
                           f"{_stderr_summary(result.stderr)}")
    return result


def render_dom(url: str, wait_ms: int = 5000, timeout: float = 90.0) -> str:
    """The page's DOM (serialised HTML) after its scripts ran for up to ``wait_ms`` of virtual time."""
    result = _run_chromium(url, ["--dump-dom"], wait_ms, timeout)
    if not result.stdout.strip():
        raise BrowserError(f"Chromium returned an empty DOM for {url}:\n{_stderr_summary(result.stderr)}")
    return result.stdout


def screenshot(url: str, png_path: str | Path, width: int = 1400, height: int = 900, wait_ms: int = 5000,
               timeout: float = 90.0) -> Path:
    """Save a ``width`` x ``height`` PNG of ``url`` (the viewport) to ``png_path``; return the path.

    The picture is written beside ``png_path`` and renamed into place only when it is a PNG,
    so a failed capture never leaves a broken or half-written file behind.
    """
    if width < 100 or height < 100:
        raise ValueError(f"a screenshot needs at least 100x100 pixels, got {width}x{height}")
    target = Path(png_path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial.png")
    try:
        result = _run_chromium(url, [f"--screenshot={partial}", f"--window-size={width},{height}"],
                               wait_ms, timeout)
        if not partial.is_file():
            raise BrowserError(f"Chromium wrote no screenshot for {url}:\n{_stderr_summary(result.stderr)}")
        with partial.open("rb") as fh:
            if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                raise BrowserError(f"Chromium's screenshot of {url} is not a PNG file")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("screenshot of %s -> %s (%d bytes)", url, target, target.stat().st_size)
    return target
