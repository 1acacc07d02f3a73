"""The video's assembly on a shortened script: real slides (Chromium), real narration
(espeak-ng), real encoding (ffmpeg); duration, resolution, codecs, chapters and subtitles checked
with ffprobe. The full video is made by hand (make video; figures in docs/walkthrough.md)."""

import datetime as dt

import pytest

from churnlake.config import PROJECT_ROOT, load_config
from churnlake.walkthrough import slides, terminal
from churnlake.walkthrough.assemble import CHAPTER_PAUSE_S, Chapter, wav_seconds
from churnlake.walkthrough.video import render_video

pytestmark = pytest.mark.integration


def test_a_short_script_becomes_an_mp4_with_audio_subtitles_and_chapters(tmp_path):
    cfg = load_config()
    intro = slides.text_slide(tmp_path / "intro.png", "Short script", ["one point", "another point"],
                              headline="A test of the assembly")
    shown = terminal.capture(cfg, tmp_path / "term.png", "A real command", "ls jobs", expect=("bronze",))
    assert "silver" in shown.output
    chapters = [Chapter("Intro", "This is the first chapter. It has two sentences.", (intro,)),
                Chapter("A command", "The second chapter shows a command and its real output.",
                        (tmp_path / "term.png", intro))]
    facts = render_video(cfg, dt.date(2026, 11, 27), chapters, tmp_path / "dist")

    assert (facts["width"], facts["height"]) == (1280, 720)
    assert (facts["video_codec"], facts["audio_codec"]) == ("h264", "aac")
    assert facts["embedded_chapters"] == 2 and [c["title"] for c in facts["chapters"]] == ["Intro", "A command"]
    # As long as its narration (espeak-ng's WAV of each chapter) plus the pause after each chapter.
    spoken = sum(c["duration_s"] for c in facts["chapters"])
    assert abs(facts["duration_s"] - spoken) < 0.5
    assert 4 < facts["duration_s"] < 20
    assert all(c["duration_s"] > CHAPTER_PAUSE_S + 1 for c in facts["chapters"])
    srt = (tmp_path / "dist" / "walkthrough.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "It has two sentences." in srt and "\n3\n" in srt and "\n4\n" not in srt
    assert (tmp_path / "dist" / "walkthrough.chapters.txt").read_text().splitlines()[1].endswith(" A command")
    assert facts["commit"] and (tmp_path / "dist" / "walkthrough.json").is_file()


def test_espeak_narration_is_real_speech_of_the_texts_length(tmp_path):
    from churnlake.walkthrough.assemble import speak

    short = speak("Churn.", tmp_path / "a.wav")
    long = speak("Churn is the share of customers who leave in a period, and keeping them is cheaper.",
                 tmp_path / "b.wav")
    assert 0.2 < short < long and abs(long - wav_seconds(tmp_path / "b.wav")) < 1e-6


def test_a_shown_command_that_fails_or_prints_the_wrong_thing_is_an_error(tmp_path):
    cfg = load_config()
    with pytest.raises(terminal.CaptureError, match="exited 3"):
        terminal.run_shown(cfg, "echo partial; exit 3")
    with pytest.raises(terminal.CaptureError, match="no \\['customerID'\\]"):
        terminal.run_shown(cfg, "echo something else", expect=("customerID",))
    assert terminal.run_shown(cfg, f"test -d {PROJECT_ROOT}/jobs && echo ok").output == "ok"


def test_a_query_that_returns_no_rows_is_not_shown_as_a_result():
    cfg = load_config()
    empty = "printf '+---+\\n| reason |\\n+---+\\n+---+\\n'"
    with pytest.raises(terminal.CaptureError, match="returned 0 rows"):
        terminal.run_shown(cfg, empty, min_table_rows=1)
    assert terminal.clean("0: jdbc:hive2://127.0.0.1:10000/gold> +---+\nWARNING: Using incubator modules: x\n| a |") \
        == "+---+\n| a |"
