"""Slides of the walkthrough video, rendered by headless Chromium to 1280x720 PNGs.

Four kinds, all from one stylesheet: a text slide (title + points), a terminal slide (a
command and its real output, as a terminal shows it), an image slide (a screenshot, plot or
report page, scaled to fit, with a caption) and a table slide (rows read from the run).
Each slide's HTML is kept beside its PNG, so what a slide shows can be read as text.
"""

from __future__ import annotations

import html
from pathlib import Path

from churnlake.monitoring import browser
from churnlake.walkthrough.assemble import HEIGHT, WIDTH

#: Lines of command output a terminal slide shows; longer output is cut with a marker saying so.
TERMINAL_LINES = 30
TERMINAL_COLUMNS = 150

CSS = """
* { box-sizing: border-box; }
body { margin: 0; width: %(w)dpx; height: %(h)dpx; overflow: hidden; font-family: 'Liberation Sans', Arial, sans-serif;
       background: #f4f6f8; color: #1d2a35; }
.bar { height: 64px; background: #0b5d7a; color: white; display: flex; align-items: center; padding: 0 36px;
       font-size: 27px; font-weight: bold; }
.bar .kicker { margin-left: auto; font-size: 17px; font-weight: normal; opacity: .85; }
.body { position: absolute; top: 64px; bottom: 0; left: 0; right: 0; padding: 22px 40px; }
ul { font-size: 27px; line-height: 1.45; margin: 10px 0 0 0; padding-left: 30px; }
li { margin-bottom: 8px; }
.big { font-size: 46px; font-weight: bold; margin: 120px 0 20px 0; color: #0b5d7a; }
.sub { font-size: 26px; color: #3b4a56; }
pre.term { background: #1e1e1e; color: #e6e6e6; font-family: 'Liberation Mono', monospace; font-size: 13.5px;
           line-height: 1.32; padding: 14px 18px; margin: 0; border-radius: 6px; height: 100%%; overflow: hidden;
           white-space: pre; }
pre.term .cmd { color: #7fd97f; }
pre.term .cut { color: #c9a45c; }
.img { position: absolute; top: 12px; bottom: 46px; left: 24px; right: 24px; display: flex;
       justify-content: center; align-items: center; }
.img img { max-width: 100%%; max-height: 100%%; box-shadow: 0 1px 6px rgba(0,0,0,.35); background: white; }
.caption { position: absolute; bottom: 10px; left: 24px; right: 24px; font-size: 18px; color: #3b4a56;
           text-align: center; }
table { border-collapse: collapse; font-size: 18px; margin-top: 8px; }
th, td { border: 1px solid #c4ccd3; padding: 5px 12px; text-align: left; }
th { background: #dde5ec; }
td.num { text-align: right; font-family: 'Liberation Mono', monospace; }
""" % {"w": WIDTH, "h": HEIGHT}


def _page(title: str, body: str, kicker: str = "") -> str:
    kick = f'<span class="kicker">{html.escape(kicker)}</span>' if kicker else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
            f"<div class='bar'>{html.escape(title)}{kick}</div><div class='body'>{body}</div></body></html>")


def render(page_html: str, png: Path) -> Path:
    """Write ``page_html`` beside ``png`` and capture it at the video's size."""
    png.parent.mkdir(parents=True, exist_ok=True)
    source = png.with_suffix(".html")
    source.write_text(page_html, encoding="utf-8")
    return browser.screenshot(source.resolve().as_uri(), png, WIDTH, HEIGHT, wait_ms=400)


def text_slide(png: Path, title: str, points: list[str], kicker: str = "", headline: str = "") -> Path:
    head = f"<div class='big'>{html.escape(headline)}</div>" if headline else ""
    items = "".join(f"<li>{html.escape(p)}</li>" for p in points)
    cls = "sub" if headline else ""
    return render(_page(title, f"{head}<ul class='{cls}'>{items}</ul>", kicker), png)


def clip_output(output: str, lines: int = TERMINAL_LINES, columns: int = TERMINAL_COLUMNS) -> list[str]:
    """The output lines a terminal slide shows: wrapped at ``columns`` as a terminal wraps them,
    at most ``lines`` (head and tail, with a marker naming how many were left out)."""
    rows = []
    for row in output.rstrip("\n").expandtabs(4).splitlines() or [""]:
        while len(row) > columns:
            rows.append(row[:columns])
            row = row[columns:]
        rows.append(row)
    if len(rows) > lines:
        head, tail = rows[: lines // 2], rows[-(lines - lines // 2 - 1):]
        rows = [*head, f"\x00… {len(rows) - len(head) - len(tail)} more lines …", *tail]
    return rows


#: The widest output a terminal slide shrinks its font for before it wraps lines.
TERMINAL_MAX_COLUMNS = 190
TERMINAL_WIDTH_PX = 1150  # the terminal's text area
MONO_EM = 0.6  # a monospace glyph's width per pixel of font size


def terminal_columns(output: str) -> int:
    """How many columns the slide shows: the longest line, between the default and the maximum."""
    longest = max((len(line) for line in output.expandtabs(4).splitlines()), default=0)
    return max(TERMINAL_COLUMNS, min(longest, TERMINAL_MAX_COLUMNS))


def terminal_slide(png: Path, title: str, command: str, output: str, kicker: str = "") -> Path:
    columns = terminal_columns(output)
    font_px = min(13.5, TERMINAL_WIDTH_PX / (MONO_EM * columns))
    shown = []
    for row in clip_output(output, lines=int(TERMINAL_LINES * 13.5 / font_px), columns=columns):
        if row.startswith("\x00"):
            shown.append(f"<span class='cut'>{html.escape(row[1:])}</span>")
        else:
            shown.append(html.escape(row))
    prompt = "\n".join(clip_output("$ " + command, lines=6, columns=columns))
    body = (f"<pre class='term' style='font-size: {font_px:.2f}px'><span class='cmd'>{html.escape(prompt)}</span>\n"
            + "\n".join(shown) + "</pre>")
    return render(_page(title, body, kicker), png)


def image_slide(png: Path, title: str, image: Path, caption: str, kicker: str = "") -> Path:
    if not image.is_file() or image.stat().st_size == 0:
        raise FileNotFoundError(f"image slide {title!r}: {image} is missing or empty")
    body = (f"<div class='img'><img src='{image.resolve().as_uri()}'></div>"
            f"<div class='caption'>{html.escape(caption)}</div>")
    return render(_page(title, body, kicker), png)


def table_slide(png: Path, title: str, header: list[str], rows: list[list[object]], note: str = "",
                kicker: str = "") -> Path:
    def cell(value: object) -> str:
        cls = " class='num'" if isinstance(value, (int, float)) else ""
        text = f"{value:,.4g}" if isinstance(value, float) else (f"{value:,}" if isinstance(value, int) else str(value))
        return f"<td{cls}>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    extra = f"<p class='sub'>{html.escape(note)}</p>" if note else ""
    return render(_page(title, f"<table><tr>{head}</tr>{body}</table>{extra}", kicker), png)
