"""Headless Chromium against real servers: the Luigi visualiser and history, the MLflow UI,
and a data-quality report page (churnlake.monitoring.browser).

Every server is started by the test on a free 127.0.0.1 port, in a temporary state folder,
and stopped at the end. Chromium comes from Debian (scripts/ensure-chromium.sh); when it is
missing the tests fail with that hint instead of being skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import urllib.parse
import uuid

import luigi
import pandas as pd
import pytest

from churnlake.config import load_config
from churnlake.monitoring import browser, screenshots
from churnlake.services import luigid, mlflow_server
from tests.conftest import lakehouse_env
from tests.integration.helpers import free_port

pytestmark = pytest.mark.integration


class Extract(luigi.Task):
    """First step of the toy graph."""

    base = luigi.Parameter()

    def output(self):
        return luigi.LocalTarget(f"{self.base}/extract.txt")

    def run(self):
        with self.output().open("w") as out:
            out.write("rows")


class Transform(luigi.Task):
    """Needs Extract."""

    base = luigi.Parameter()

    def requires(self):
        return Extract(base=self.base)

    def output(self):
        return luigi.LocalTarget(f"{self.base}/transform.txt")

    def run(self):
        with self.input().open() as inp, self.output().open("w") as out:
            out.write(inp.read().upper())


class Publish(luigi.Task):
    """Needs Transform: the root of the toy graph."""

    base = luigi.Parameter()

    def requires(self):
        return Transform(base=self.base)

    def output(self):
        return luigi.LocalTarget(f"{self.base}/publish.txt")

    def run(self):
        with self.input().open() as inp, self.output().open("w") as out:
            out.write(inp.read())


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary (fails, naming scripts/ensure-chromium.sh, when there is none)."""
    return browser.find_chromium()


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == browser.PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_visualiser_shows_the_finished_graph_and_history_lists_it(chromium, tmp_path):
    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    port = free_port()
    daemon = luigid.server(cfg, port)
    try:
        luigid.start(cfg, port)
        root = Publish(base=str(tmp_path / "toy"))
        assert luigi.build([root], scheduler_host="127.0.0.1", scheduler_port=port, local_scheduler=False)
        assert (tmp_path / "toy" / "publish.txt").read_text() == "ROWS"
        base = f"http://127.0.0.1:{port}"
        fragment = urllib.parse.urlencode({"tab": "graph", "visType": "d3", "taskId": root.task_id})

        # The app asks for the graph twice on load (at start, and again once the task list has
        # arrived) and draws each answer. dagre-d3 gives a node the class "node <STATUS>" on its
        # first draw and "update node <STATUS>" on a redraw. Counting only the second form failed
        # once on a loaded CI machine (0 of 3, 2026-12-07), most likely because the virtual-time
        # budget ended between the two answers, so either form counts; the assertion message lists
        # what was drawn. 5 s of budget was not always enough (CI, 2026-11-28).
        graph = browser.render_dom(f"{base}/static/visualiser/index.html#{fragment}", wait_ms=15000)
        assert f'<h4 id="dependencyTitle">{root}</h4>' in graph  # filled in by the app from /api/dep_graph
        for task in (Extract(base=root.base), Transform(base=root.base), root):
            assert f'data-task-id="{task.task_id}"' in graph  # one node per task, drawn by the script
        statuses = re.findall(r'class="(?:update )?node ([A-Z_]+)"', graph)
        assert statuses == ["DONE"] * 3, statuses  # D3 view: every node drawn, each as done

        history = browser.render_dom(f"{base}/history", wait_ms=1000)
        assert "Luigi Task History" in history
        for name in ("Extract", "Transform", "Publish"):
            assert f">{name}</a>" in history
        assert history.count("DONE") >= 3

        # The screenshots command's own page for a graph: found through the API, checked, saved.
        # It uses the SVG view, which draws the whole graph at its natural size (the D3 view's
        # frame is 600 pixels high), sized to the drawing and trimmed to it.
        page = screenshots.luigi_dag_page(base, root)
        svg_fragment = urllib.parse.urlencode({"tab": "graph", "visType": "svg", "taskId": root.task_id})
        assert isinstance(page, screenshots.Page) and page.url.endswith(svg_fragment) and page.fit_svg
        assert page.expect == (str(root), ">Extract<", ">Publish<", ">Transform<")
        png = screenshots.capture(page, tmp_path / "shots")
        width, height = png_size(png)
        assert width <= page.size[0] and 150 < height < 2000 and png.stat().st_size > 5_000
        assert isinstance(screenshots.luigi_dag_page(base, Publish(base="/elsewhere")), screenshots.Skipped)
    finally:
        daemon.stop()
    assert daemon.pid() is None


def test_mlflow_pages_show_the_candidates_and_the_champion_alias(chromium, tmp_path):
    from mlflow.tracking import MlflowClient

    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    assert cfg.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=cfg.mlflow_tracking_uri)
    exp_id = client.create_experiment("browser-test", artifact_location=cfg.mlflow_artifact_uri)
    parent = client.create_run(exp_id, run_name="train-toy")
    children = []
    for name, auc in (("cand_a", 0.81), ("cand_b", 0.87)):
        child = client.create_run(exp_id, run_name=f"{name}-{uuid.uuid4().hex[:6]}",
                                  tags={"mlflow.parentRunId": parent.info.run_id})
        client.log_param(child.info.run_id, "alpha", "0.5")
        client.log_metric(child.info.run_id, "roc_auc", auc)
        client.set_terminated(child.info.run_id)
        children.append(child)
    client.set_terminated(parent.info.run_id)
    client.create_registered_model("browser-model")
    version = client.create_model_version("browser-model", f"runs:/{children[1].info.run_id}/model",
                                          run_id=children[1].info.run_id)
    client.set_registered_model_alias("browser-model", "champion", version.version)

    port = free_port()
    try:
        seconds = mlflow_server.start(cfg, port)
        pid = mlflow_server.server(cfg, port).pid()
        assert seconds < 90 and pid is not None
        url = mlflow_server.url(port)
        candidates, model = screenshots.mlflow_pages(url, "browser-test", "browser-model")
        assert candidates.name == "mlflow-candidates" and "compare-runs" in candidates.url
        assert set(candidates.expect) >= {"Comparing 2 Runs", "roc_auc", *(c.info.run_name for c in children)}
        dom = browser.render_dom(candidates.url, wait_ms=candidates.wait_ms)
        assert all(text in dom for text in candidates.expect)  # names, metric rows: drawn by the app
        assert "0.87" in dom and "0.81" in dom
        png = screenshots.capture(candidates, tmp_path / "shots")
        width, _ = png_size(png)
        assert width <= round(candidates.size[0] * screenshots.MLFLOW_CROP[2])  # the assistant panel is cut off
        assert model.expect == ("browser-model", "Aliases", "champion")
        assert all(text in browser.render_dom(model.url, wait_ms=model.wait_ms) for text in model.expect)
        # Nothing to show: named, not captured.
        missing = screenshots.mlflow_pages(url, "no-such-experiment", "no-such-model")
        assert [type(p) for p in missing] == [screenshots.Skipped]
        assert isinstance(screenshots.mlflow_pages(url, "browser-test", "no-such-model")[1], screenshots.Skipped)
    finally:
        stopped = mlflow_server.stop(cfg, port)
    assert stopped and mlflow_server.server(cfg, port).pid() is None
    assert mlflow_server._group_members(pid) == []  # uvicorn went with its launcher


def test_quality_report_renders_and_screenshot_is_a_real_picture(chromium, tmp_path):
    import matplotlib.image

    from churnlake.validation.report import REPORT_COLUMNS, RUN_COLUMNS, render_html

    runs = pd.DataFrame([{"run_id": "r1", "table_name": "bronze.crm_customers", "status": "warned",
                          "rows_in": 100, "rows_passed": 97, "rows_quarantined": 3, "rows_blocked": 0,
                          "checks": 5, "checks_failed": 1, "duration_s": 1.5}]).reindex(columns=RUN_COLUMNS)
    results = pd.DataFrame([{"run_id": "r1", "table_name": "bronze.crm_customers", "check_id": "tenure_range",
                             "expectation": "expect_column_values_to_be_between", "column_name": "tenure",
                             "severity": "warning", "success": False, "element_count": 100,
                             "unexpected_count": 3, "unexpected_percent": 3.0, "sample_values": ["-1", "999"],
                             "observed_value": None, "resolution": "quarantined", "description": "tenure in months",
                             "error": None}]).reindex(columns=REPORT_COLUMNS)
    cfg = load_config(environ={**os.environ, **lakehouse_env(tmp_path)})
    page = cfg.reports_dir / "quality" / "2026-11-27" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text(render_html(dt.date(2026, 11, 27), runs, results, dt.datetime(2026, 11, 27, 6, 0)),
                    encoding="utf-8")

    dom = browser.render_dom(page.as_uri(), wait_ms=500)
    assert "Data-quality report" in dom and "run date 2026-11-27" in dom
    assert "tenure_range" in dom and "quarantined" in dom

    png = browser.screenshot(page.as_uri(), tmp_path / "shots" / "quality.png", width=1000, height=600,
                             wait_ms=500)
    assert png == (tmp_path / "shots" / "quality.png").resolve()
    assert png_size(png) == (1000, 600)
    assert png.stat().st_size > 10_000
    pixels = matplotlib.image.imread(png)[:, :, :3]
    drawn = (pixels.min(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert 0.01 < drawn < 0.9, f"the screenshot looks blank or wrong: {drawn:.1%} of pixels drawn"
    assert not list((tmp_path / "shots").glob("*.partial*"))

    # The screenshots command: the quality report is captured, the missing run dashboard skipped.
    pages = {p.name: p for p in screenshots.report_pages(cfg, dt.date(2026, 11, 27))}
    quality, dashboard = pages["data-quality"], pages["run-dashboard"]
    assert isinstance(dashboard, screenshots.Skipped) and "does not exist" in dashboard.reason
    assert isinstance(pages["model-report"], screenshots.Skipped) and isinstance(pages["eda"], screenshots.Skipped)
    assert quality.url == page.as_uri()
    assert png_size(screenshots.capture(quality, tmp_path / "shots")) == screenshots.REPORT_SIZE


def test_unreachable_pages_fail_clearly(chromium, tmp_path):
    with pytest.raises(browser.BrowserError, match="does not exist"):
        browser.render_dom((tmp_path / "missing.html").as_uri())
    with pytest.raises(browser.BrowserError, match="not reachable"):
        browser.screenshot(f"http://127.0.0.1:{free_port()}/", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ValueError, match="only http"):
        browser.render_dom("ftp://127.0.0.1/x")


def test_missing_chromium_names_the_install_script(monkeypatch):
    monkeypatch.setenv(browser.ENV_BINARY, "/nonexistent/chromium")
    with pytest.raises(browser.BrowserNotInstalledError, match="scripts/ensure-chromium.sh"):
        browser.render_dom("file:///dev/null")
    monkeypatch.delenv(browser.ENV_BINARY)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(browser.BrowserNotInstalledError, match="scripts/ensure-chromium.sh"):
        browser.find_chromium()
