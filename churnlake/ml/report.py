"""The model performance report of a training run: Markdown and a self-contained HTML page.

``reports/models/<label date>/report.md`` and ``report.html`` (plots embedded), rewritten by
every training run of that date; both are also logged to the run's MLflow parent run.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

COLUMNS = ("roc_auc", "pr_auc", "f1", "recall", "precision", "accuracy", "top_budget_lift", "revenue_lift",
           "retained_revenue")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3f}"
    return "–" if v is None else str(v)


SELECTION_NOTE = ("Candidates are ranked by their cross-validated ROC-AUC on the training rows; the test "
                  "rows are used once, for the chosen candidate (and to re-score the current champion in "
                  "the gate), so the test metrics below are an unbiased estimate for the chosen model. "
                  "The other candidates have no test-set numbers on purpose.")


def champion_line(summary: dict) -> str:
    """The chosen model against the champion on the same test rows, when there was one."""
    score, before = summary.get("champion_score"), summary.get("champion_before")
    if score is None or before is None:
        return ""
    best = next(c for c in summary["candidates"] if c["name"] == summary["best"])
    metric = summary["inputs"].get("selection_metric", "roc_auc")
    return (f"On the same test rows: chosen {best['name']} {metric} {_fmt(best['metrics'].get(metric))}, "
            f"champion version {before} {metric} {_fmt(float(score))}.")


def markdown(summary: dict) -> str:
    """The report as Markdown. ``summary``: title, inputs, candidates (list of dicts with name,
    library, params, cv_roc_auc, metrics, run_id), best, gate, plots (name -> file name) and
    optionally fit_note (which rows each library fitted on: the scikit-learn sample)."""
    lines = [f"# {summary['title']}", ""]
    lines += [f"- {k}: `{v}`" for k, v in summary["inputs"].items()]
    lines += ["", "## Candidates", "", SELECTION_NOTE, ""]
    if summary.get("fit_note"):
        lines += [summary["fit_note"], ""]
    lines += ["| candidate | library | CV ROC-AUC | " + " | ".join(f"test {c}" for c in COLUMNS) + " | best parameters |",
              "| --- | --- | --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |"]
    for c in summary["candidates"]:
        mark = " **(best)**" if c["name"] == summary["best"] else ""
        lines.append(f"| {c['name']}{mark} | {c['library']} | {_fmt(c['cv_roc_auc'])} | "
                     + " | ".join(_fmt(c["metrics"].get(k)) for k in COLUMNS)
                     + f" | {', '.join(f'{k}={v}' for k, v in c['params'].items())} |")
    best = next(c for c in summary["candidates"] if c["name"] == summary["best"])
    m = best["metrics"]
    lines += ["", f"Confusion matrix of {best['name']} on the test set at threshold 0.5: TN {int(m['tn'])}, "
              f"FP {int(m['fp'])}, FN {int(m['fn'])}, TP {int(m['tp'])}.", "", "## Registry", "", summary["gate"]]
    if champion_line(summary):
        lines += ["", champion_line(summary)]
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({file})" for name, file in summary["plots"].items()]
    return "\n".join(lines) + "\n"


def html_page(summary: dict, plot_dir: Path) -> str:
    """The same report as one HTML page with the plots inlined."""
    rows = []
    for c in summary["candidates"]:
        style = ' style="font-weight:bold;background:#eef6ee"' if c["name"] == summary["best"] else ""
        cells = [c["name"], c["library"], _fmt(c["cv_roc_auc"]), *[_fmt(c["metrics"].get(k)) for k in COLUMNS],
                 ", ".join(f"{k}={v}" for k, v in c["params"].items())]
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
    imgs = []
    for name, file in summary["plots"].items():
        data = base64.b64encode((plot_dir / file).read_bytes()).decode()
        imgs.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(name)}</figcaption></figure>")
    inputs = "".join(f"<li>{html.escape(k)}: <code>{html.escape(str(v))}</code></li>"
                     for k, v in summary["inputs"].items())
    fit_note = html.escape(summary.get("fit_note") or "")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("candidate", "library", "CV ROC-AUC",
                                                          *(f"test {c}" for c in COLUMNS),
                                                          "best parameters"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(summary['title'])}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em}}code{{font-size:12px}}</style></head><body>
<h1>{html.escape(summary['title'])}</h1><ul>{inputs}</ul>
<h2>Candidates</h2><p>{html.escape(SELECTION_NOTE)}</p><p>{fit_note}</p><table><tr>{head}</tr>{''.join(rows)}</table>
<h2>Registry</h2><p>{html.escape(summary['gate'])}</p><p>{html.escape(champion_line(summary))}</p>
<h2>Plots</h2>{''.join(imgs)}</body></html>"""


def write_report(summary: dict, out_dir: Path, plot_dir: Path) -> dict[str, Path]:
    """Write report.md (with the PNGs copied beside it) and report.html, atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for file in summary["plots"].values():
        (out_dir / file).write_bytes((plot_dir / file).read_bytes())
    paths = {"md": out_dir / "report.md", "html": out_dir / "report.html"}
    for kind, text in (("md", markdown(summary)), ("html", html_page(summary, plot_dir))):
        tmp = paths[kind].with_suffix(f".{kind}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, paths[kind])
    return paths
