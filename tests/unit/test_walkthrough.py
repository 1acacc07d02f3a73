"""The pure parts of the walkthrough: subtitle timing, SRT, chapters, terminal clipping, run facts."""

import datetime as dt
import json

from churnlake.walkthrough import assemble, slides, video
from churnlake.walkthrough.assemble import Timeline


def test_cues_split_sentences_and_share_the_spoken_time_by_length():
    cues = assemble.cues_for("Short one. A much longer second sentence follows here!", 10.0, 6.0)
    assert [c.text for c in cues] == ["Short one.", "A much longer second sentence follows here!"]
    assert cues[0].start_s == 10.0 and cues[-1].end_s == 16.0
    assert cues[0].end_s == cues[1].start_s
    assert (cues[1].end_s - cues[1].start_s) > 3 * (cues[0].end_s - cues[0].start_s)


def test_decimal_points_do_not_split_a_sentence():
    assert assemble.sentences("It scored 0.978 today. Next.") == ["It scored 0.978 today.", "Next."]


def test_srt_and_chapter_list_formats():
    cues = [assemble.Cue(0.0, 1.5, "One."), assemble.Cue(61.25, 3723.004, "Two.")]
    assert assemble.format_srt(cues) == ("1\n00:00:00,000 --> 00:00:01,500\nOne.\n\n"
                                         "2\n00:01:01,250 --> 01:02:03,004\nTwo.\n")
    timeline = Timeline([("Intro", 0.0, 61.0), ("Data; more", 61.0, 30.0)])
    assert assemble.format_chapter_list(timeline) == "00:00:00 Intro\n00:01:01 Data; more\n"
    meta = assemble.format_ffmetadata(timeline, "t=1")
    assert meta.startswith(";FFMETADATA1\ntitle=t\\=1\n")
    assert "START=61000\nEND=91000\ntitle=Data\\; more" in meta


def test_terminal_output_wraps_long_lines_and_says_what_it_left_out():
    rows = slides.clip_output("x" * 25 + "\n" + "\n".join(f"line {i}" for i in range(50)), lines=10, columns=10)
    assert rows[:3] == ["x" * 10, "x" * 10, "x" * 5]
    assert len(rows) == 10 and rows[5].startswith("\x00… ") and "more lines" in rows[5]
    assert rows[-1] == "line 49"


def test_terminal_font_shrinks_for_wide_output_up_to_a_limit():
    assert slides.terminal_columns("short") == slides.TERMINAL_COLUMNS
    assert slides.terminal_columns("y" * 170) == 170
    assert slides.terminal_columns("y" * 400) == slides.TERMINAL_MAX_COLUMNS


def test_run_facts_come_from_the_runs_own_files(tmp_path):
    day = dt.date(2026, 12, 2)
    lines = [{"source": "crm", "entity": "customers", "interval": "2026-12-01", "rows_read": 1},
             {"source": "crm", "entity": "customers", "interval": "2026-12-02", "rows_read": 5},
             {"source": "crm", "entity": "customers", "interval": "2026-12-02", "rows_read": 7}]
    (tmp_path / "ingestion.log").write_text("\n".join(map(json.dumps, lines)) + "\nnot json\n")
    assert [b["rows_read"] for b in video.ingestion_batches(tmp_path, day)] == [7]  # the newest of the day
    beeline = ("+--+\n| contract | customers | churned | churn_rate |\n+--+\n| Month-to-month | 30 | 12 | 0.4 |\n"
               "| Two year | 10 | 1 | 0.1 |\n+--+\n")
    customers, churned, rows = video.churn_by_contract(beeline)
    assert (customers, churned) == (40, 13) and rows[0][0] == "Month-to-month"


def test_the_videos_closing_chapter_shows_the_readmes_own_commands():
    from churnlake.config import PROJECT_ROOT

    assert video.readme_commands(PROJECT_ROOT) == ["make demo", "make test"]
