"""Slides + narration -> one H.264/AAC MP4 with subtitles and chapters (ffmpeg, espeak-ng).

A :class:`Chapter` is a title, the narration spoken over it and the slides (PNG files) shown
while it is spoken, each for an equal share of the narration. :func:`assemble` speaks every
chapter with espeak-ng, encodes one segment per chapter and joins them without re-encoding;
it writes ``<name>.mp4`` (chapters embedded as MP4 chapter metadata), ``<name>.srt`` (one cue
per sentence, timed by its share of the chapter's characters) and ``<name>.chapters.txt``
(``HH:MM:SS title`` per line, the format video sites read). The pure parts (cue timing, SRT,
chapter list, ffmetadata) are unit-tested; the tools themselves by tests/integration.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, HEIGHT = 1280, 720
FPS = 25
VOICE = "en-us"
WORDS_PER_MINUTE = 150
#: Silence after each chapter's narration, seconds (a breath between chapters).
CHAPTER_PAUSE_S = 0.8


class VideoToolError(RuntimeError):
    """ffmpeg, ffprobe or espeak-ng is missing or failed; the message names the tool and why."""


@dataclass(frozen=True)
class Chapter:
    title: str
    narration: str
    slides: tuple[Path, ...]


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


@dataclass
class Timeline:
    """Where each chapter starts and how long it lasts in the assembled video."""

    chapters: list[tuple[str, float, float]] = field(default_factory=list)  # (title, start, duration)

    @property
    def duration_s(self) -> float:
        return sum(d for _, _, d in self.chapters)


def sentences(text: str) -> list[str]:
    """The narration split into sentences (subtitle cues), whitespace normalised."""
    flat = " ".join(text.split())
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", flat)
    return [p for p in (part.strip() for part in parts) if p]


def cues_for(narration: str, start_s: float, spoken_s: float) -> list[Cue]:
    """One cue per sentence, each lasting its share of ``spoken_s`` by character count."""
    parts = sentences(narration)
    total = sum(len(p) for p in parts) or 1
    cues, t = [], start_s
    for part in parts:
        length = spoken_s * len(part) / total
        cues.append(Cue(round(t, 3), round(t + length, 3), part))
        t += length
    return cues


def _stamp(seconds: float, sep: str = ",") -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_srt(cues: list[Cue]) -> str:
    """SubRip text of ``cues`` (numbered from 1)."""
    blocks = [f"{i}\n{_stamp(c.start_s)} --> {_stamp(c.end_s)}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def format_chapter_list(timeline: Timeline) -> str:
    """``HH:MM:SS title`` per chapter."""
    return "".join(f"{_stamp(start)[:8]} {title}\n" for title, start, _ in timeline.chapters)


def format_ffmetadata(timeline: Timeline, title: str) -> str:
    """ffmpeg's metadata file: the video's title and one ``[CHAPTER]`` per chapter (ms)."""
    def esc(value: str) -> str:
        return re.sub(r"([=;#\\\n])", r"\\\1", value)

    lines = [";FFMETADATA1", f"title={esc(title)}"]
    for name, start, duration in timeline.chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(start * 1000)}",
                  f"END={int((start + duration) * 1000)}", f"title={esc(name)}"]
    return "\n".join(lines) + "\n"


def require_tools() -> None:
    """Fail with the install command when a tool is missing."""
    missing = [tool for tool in ("ffmpeg", "ffprobe", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        raise VideoToolError(f"{', '.join(missing)} not installed: run `bash scripts/ensure-video-tools.sh` "
                             "(Debian packages ffmpeg and espeak-ng)")


def _run(cmd: list[str], what: str, timeout: float = 900) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise VideoToolError(f"{what}: {cmd[0]} did not finish within {timeout:.0f}s") from exc
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-8:])
        raise VideoToolError(f"{what}: {cmd[0]} exited {res.returncode}:\n{tail}")
    return res


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def speak(text: str, wav_path: Path, voice: str = VOICE, wpm: int = WORDS_PER_MINUTE) -> float:
    """Narrate ``text`` into ``wav_path`` with espeak-ng; returns its duration in seconds."""
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav_path), " ".join(text.split())],
         f"narrating {wav_path.name}", timeout=300)
    return wav_seconds(wav_path)


def _segment(chapter: Chapter, wav: Path, spoken_s: float, out: Path) -> float:
    """Encode one chapter: its slides in turn over its narration, then a short pause."""
    duration = spoken_s + CHAPTER_PAUSE_S
    per_slide = duration / len(chapter.slides)
    listing = out.with_suffix(".slides.txt")
    lines = []
    for slide in chapter.slides:
        lines += [f"file '{slide.resolve()}'", f"duration {per_slide:.3f}"]
    lines.append(f"file '{chapter.slides[-1].resolve()}'")  # the concat demuxer's last-entry rule
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scale = (f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,"
             f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2:color=white,fps={FPS},format=yuv420p")
    _run(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
          "-i", str(wav), "-vf", scale, "-af", "apad", "-t", f"{duration:.3f}",
          "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-crf", "23",
          "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2", "-movflags", "+faststart", str(out)],
         f"encoding chapter {chapter.title!r}")
    return duration


def assemble(chapters: list[Chapter], out_dir: Path, name: str = "walkthrough",
             title: str = "churnlake walkthrough", work_dir: Path | None = None) -> dict:
    """Build ``<out_dir>/<name>.mp4|.srt|.chapters.txt``; returns :func:`probe` of the MP4 plus
    the chapter timeline."""
    require_tools()
    if not chapters:
        raise ValueError("a video needs at least one chapter")
    for chapter in chapters:
        if not chapter.slides:
            raise ValueError(f"chapter {chapter.title!r} has no slides")
        for slide in chapter.slides:
            if not Path(slide).is_file() or Path(slide).stat().st_size == 0:
                raise ValueError(f"chapter {chapter.title!r}: slide {slide} is missing or empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = work_dir or out_dir / f".{name}-build"
    work.mkdir(parents=True, exist_ok=True)
    timeline, cues, segments = Timeline(), [], []
    for i, chapter in enumerate(chapters, 1):
        wav = work / f"{i:02d}.wav"
        spoken = speak(chapter.narration, wav)
        segment = work / f"{i:02d}.mp4"
        start = timeline.duration_s
        duration = _segment(chapter, wav, spoken, segment)
        timeline.chapters.append((chapter.title, start, duration))
        cues += cues_for(chapter.narration, start, spoken)
        segments.append(segment)
    joined = work / "segments.txt"
    joined.write_text("".join(f"file '{s.resolve()}'\n" for s in segments), encoding="utf-8")
    meta = work / "chapters.ffmeta"
    meta.write_text(format_ffmetadata(timeline, title), encoding="utf-8")
    mp4 = out_dir / f"{name}.mp4"
    partial = out_dir / f".{name}.partial.mp4"
    _run(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(joined),
          "-i", str(meta), "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
          "-movflags", "+faststart", str(partial)], "joining the chapters")
    partial.replace(mp4)
    (out_dir / f"{name}.srt").write_text(format_srt(cues), encoding="utf-8")
    (out_dir / f"{name}.chapters.txt").write_text(format_chapter_list(timeline), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return probe(mp4) | {"chapters": [{"title": t, "start_s": round(s, 2), "duration_s": round(d, 2)}
                                      for t, s, d in timeline.chapters]}


def probe(mp4: Path) -> dict:
    """Duration, size and codecs of ``mp4`` from ffprobe."""
    res = _run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                "-show_chapters", str(mp4)], f"probing {mp4}", timeout=60)
    info = json.loads(res.stdout)
    video = next((s for s in info["streams"] if s["codec_type"] == "video"), {})
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), {})
    return {"path": str(mp4), "duration_s": float(info["format"]["duration"]),
            "bytes": int(info["format"]["size"]), "width": video.get("width"), "height": video.get("height"),
            "video_codec": video.get("codec_name"), "audio_codec": audio.get("codec_name"),
            "embedded_chapters": len(info.get("chapters", []))}
