# churnlake: `make demo` runs the whole pipeline on the bundled data; `make test` runs the tests.
# Both set everything up on a fresh machine (Python 3.11 + Java 17): the venv with pinned
# packages, and the Delta Lake jars (cached in ~/.cache/churnlake/ivy after the first run).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DATE ?= $(shell date -u +%Y-%m-%d)
PYTEST_ARGS ?=
# Two pytest workers: the integration tests (the engine, services) on one, unit tests on the
# other (tests/conftest.py). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

.PHONY: setup venv jars demo hourly test unit eda clean help video package luigid-start luigid-stop luigid-status engine-start engine-stop engine-status engine-logs metastore-start metastore-stop mlflow-start mlflow-stop mlflow-status screenshots

help:
	@echo "make demo   - set up and run the whole pipeline on the bundled Telco data"
	@echo "make test   - set up and run the test suite"
	@echo "make setup  - only create the venv and resolve the Delta jars"
	@echo "make hourly RUN_DATE=D RUN_HOUR=H - one hour's batches of every source, validated, into silver (docs/architecture.md)"
	@echo "make engine-start / engine-stop / engine-status - the engine: Spark Connect (jobs) + JDBC (gold tables) on 127.0.0.1 (docs/services.md)"
	@echo "make luigid-start / luigid-stop - Luigi central scheduler (UI, task history) on 127.0.0.1:8082"
	@echo "make metastore-start / metastore-stop - Derby network server to share the metastore (metastore.url)"
	@echo "make mlflow-start / mlflow-stop - MLflow UI over the project's tracking store on 127.0.0.1:5000"
	@echo "make screenshots - demo against luigid, then PNGs of the UIs and reports into docs/screenshots/"
	@echo "make video  - the narrated walkthrough (dist/walkthrough.mp4, .srt, chapters) from a real run"
	@echo "make package - dist/churnlake-<version>.zip: code, data, docs, the video and evidence/ of a real run"

setup: venv jars

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: churnlake needs Python 3.11" >&2; exit 2; }
	@command -v java >/dev/null || { echo "java not found: churnlake needs a Java 17 runtime" >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

jars: $(VENV)/.jars-resolved

# Resolving is a no-op (offline) when the user's Ivy cache already holds the jars.
$(VENV)/.jars-resolved: $(VENV)/.installed conf/spark-defaults.conf
	$(PY) -m churnlake.cli resolve-jars
	touch $@

demo: setup
	$(PY) -m churnlake.cli demo --run-date $(RUN_DATE)

# One hour to silver (after a `make demo` set up the sources): HourlyPipeline through the engine.
RUN_HOUR ?= $(shell date -u +%H)
hourly: setup
	$(PY) -m churnlake.cli hourly --run-date $(RUN_DATE) --run-hour $(RUN_HOUR)

# The integration tests start real PostgreSQL and Chromium: installed from Debian's packages
# when missing (as root or with sudo), so the README's test command works on a fresh machine.
test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-video-tools.sh
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -m "not integration" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The Luigi central scheduler on 127.0.0.1:8082 (CHURNLAKE_LUIGID_PORT) with task history;
# `make demo` uses it when it runs. Visualiser: http://127.0.0.1:8082 (docs/services.md).
luigid-start: setup
	$(PY) -m churnlake.services.luigid start

luigid-stop:
	$(PY) -m churnlake.services.luigid stop

luigid-status:
	$(PY) -m churnlake.services.luigid status

# The MLflow UI on 127.0.0.1:5000 (CHURNLAKE_MLFLOW_PORT) over the project's MLflow store.
mlflow-start: setup
	$(PY) -m churnlake.services.mlflow_server start

mlflow-stop:
	$(PY) -m churnlake.services.mlflow_server stop

mlflow-status:
	$(PY) -m churnlake.services.mlflow_server status

# Runs the demo for RUN_DATE against luigid (started if needed), then headless Chromium captures
# the visualiser, the task history, the MLflow runs and the reports into docs/screenshots/.
# SCREENSHOTS_ARGS=--skip-demo captures what is there without running the demo.
SCREENSHOTS_ARGS ?=
screenshots: setup
	bash scripts/ensure-chromium.sh
	$(PY) -m churnlake.monitoring.screenshots --run-date $(RUN_DATE) $(SCREENSHOTS_ARGS)

# The narrated walkthrough from a real run of RUN_DATE (demo against luigid, captures, espeak-ng
# narration, ffmpeg): dist/walkthrough.mp4 + .srt + .chapters.txt + .json (docs/walkthrough.md).
# VIDEO_ARGS=--skip-demo when the date's demo ran against luigid within the last few minutes.
VIDEO_ARGS ?=
video: setup
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-video-tools.sh
	$(PY) -m churnlake.walkthrough.video --run-date $(RUN_DATE) $(VIDEO_ARGS)

# dist/churnlake-<version>.zip: source tree, docs, bundled data, the video (made first when it is
# missing or older than the checkout) and evidence/ of RUN_DATE's run.
package: setup
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-video-tools.sh
	$(PY) -m churnlake.walkthrough.package --run-date $(RUN_DATE)

# The EDA report of silver.customers (docs/eda.md): reports/eda/<run date>/index.html
eda: setup
	./spark-submit.sh jobs/eda/customers.py --run-date $(RUN_DATE)

clean:
	-./engine.sh stop 2>/dev/null
	rm -rf build dist state logs reports lakehouse/bronze/* lakehouse/silver/* lakehouse/gold/* lakehouse/quality lakehouse/monitoring lakehouse/meta lakehouse/models lakehouse/_commits data/inbox

# The engine: one Spark driver serving Spark Connect (jobs, 127.0.0.1:15002) and Thrift JDBC
# (SQL users, 127.0.0.1:10000) over one metastore. `make demo` starts it when it is not running.
# Ports, master, memory: the `engine` section of conf/pipeline.yaml (docs/services.md).
engine-start: setup
	./engine.sh start

engine-stop:
	./engine.sh stop

engine-status:
	./engine.sh status

engine-logs:
	./engine.sh logs

# Derby network server for a metastore shared by jobs and the Thrift server (metastore.url).
metastore-start: setup
	$(PY) -m churnlake.serving.derby start

metastore-stop:
	$(PY) -m churnlake.serving.derby stop
