"""The one configuration loader.

`conf/pipeline.yaml` is read once into a typed, immutable :class:`Config` and passed down
explicitly. Any key can be overridden by an environment variable
``CHURNLAKE__<SECTION>__<KEY>`` (the value is parsed as a YAML scalar), and the whole file
can be swapped with ``CHURNLAKE_CONFIG``. Relative paths resolve against the project root,
so jobs behave the same whatever the working directory is.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

# The source checkout. When the code runs from the --py-files archive, spark-submit.sh
# sets CHURNLAKE_HOME to the checkout instead.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "CHURNLAKE__"


def project_root(environ: Mapping[str, str] | None = None) -> Path:
    """Return the project root: ``CHURNLAKE_HOME`` if set, else the source checkout."""
    home = (os.environ if environ is None else environ).get("CHURNLAKE_HOME")
    return Path(home).resolve() if home else PROJECT_ROOT


def resolve_uri(value: str, base: Path) -> str:
    """Turn a config path into a URI: URIs pass through, relative paths join ``base``.

    >>> resolve_uri("hdfs://nn:8020/lake", Path("/x"))
    'hdfs://nn:8020/lake'
    >>> resolve_uri("lake", Path("/x"))
    'file:///x/lake'
    """
    if not value:
        raise ValueError("an empty path or URI is not a valid location")
    if "://" in value:
        return value.rstrip("/")
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    return path.resolve().as_uri()


def resolve_path(value: str, base: Path) -> Path:
    """Resolve a driver-local path (state, logs, inbox) against ``base``."""
    if "://" in str(value):
        raise ValueError(f"{value!r} must be a local path on the driver, not a URI")
    path = Path(value)
    return (path if path.is_absolute() else base / path).resolve()


def _apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = copy.deepcopy(raw)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
        if not keys:
            continue
        node = merged
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ValueError(f"{name}: {'.'.join(keys)} does not name a config section")
            node = child
        node[keys[-1]] = yaml.safe_load(value) if value != "" else None
    return merged


@dataclass(frozen=True)
class Config:
    """Typed view of the pipeline configuration (see conf/pipeline.yaml)."""

    root_dir: Path
    lakehouse_root: str
    webhdfs_url: str | None
    webhdfs_user: str | None
    state_dir: Path
    logs_dir: Path
    reports_dir: Path
    crm_inbox: Path
    crm_bundled_file: Path
    billing_url: str
    billing_tables: tuple[str, ...]
    billing_fetch_rows: int
    tickets_base_url: str
    tickets_token_env: str
    tickets_page_size: int
    tickets_timeout_s: float
    tickets_max_attempts: int
    web_logs_inbox: Path
    demo_dir: Path
    demo_seed: int
    demo_days: int
    demo_broken_lines: int
    spark_local_master: str
    spark_shuffle_partitions: int
    mlflow_tracking_uri: str
    mlflow_experiment: str
    registered_model: str
    seed: int
    test_size: float
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def metastore_dir(self) -> Path:
        """Folder of the embedded Derby Hive metastore."""
        return self.state_dir / "metastore"

    @property
    def warehouse_uri(self) -> str:
        """Spark SQL warehouse location (managed tables; ours are external)."""
        return f"{self.lakehouse_root}/_warehouse"

    @property
    def mlflow_artifact_uri(self) -> str:
        """Default artifact root for new MLflow experiments."""
        return (self.state_dir / "mlartifacts").as_uri()


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the pipeline config from YAML plus ``CHURNLAKE__…`` environment overrides.

    Raises ``ValueError`` naming the key when a required value is missing or malformed.
    """
    environ = os.environ if environ is None else environ
    base = project_root(environ)
    path = Path(path or environ.get("CHURNLAKE_CONFIG") or base / "conf" / "pipeline.yaml")
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level")
    raw = _apply_env_overrides(raw, environ)

    def get(dotted: str, default: Any = ...) -> Any:
        node: Any = raw
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                if default is ...:
                    raise ValueError(f"config key {dotted!r} is missing in {path}")
                return default
            node = node[key]
        if node is None and default is ...:
            raise ValueError(f"config key {dotted!r} is empty in {path}")
        return node

    state_dir = resolve_path(get("state_dir"), base)
    tracking = get("mlflow.tracking_uri", None) or f"sqlite:///{state_dir / 'mlflow.db'}"
    demo_dir = resolve_path(get("demo.dir"), base)
    try:
        shuffle = int(get("spark.shuffle_partitions"))
        seed = int(get("run.seed"))
        test_size = float(get("run.test_size"))
        numbers = {k: int(get(k)) for k in ("sources.billing.fetch_rows", "sources.tickets.page_size",
                                            "sources.tickets.max_attempts", "demo.seed", "demo.days",
                                            "demo.broken_lines")}
        timeout = float(get("sources.tickets.timeout_s"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config {path}: a numeric setting is malformed: {exc}") from exc
    if not 0 < test_size < 1:
        raise ValueError(f"config run.test_size must be in (0, 1), got {test_size}")
    return Config(
        root_dir=base,
        lakehouse_root=resolve_uri(str(get("lakehouse.root")), base),
        webhdfs_url=get("lakehouse.webhdfs_url", None),
        webhdfs_user=get("lakehouse.webhdfs_user", None),
        state_dir=state_dir,
        logs_dir=resolve_path(get("logs_dir"), base),
        reports_dir=resolve_path(get("reports_dir"), base),
        crm_inbox=resolve_path(get("sources.crm.inbox"), base),
        crm_bundled_file=resolve_path(get("sources.crm.bundled_file"), base),
        billing_url=get("sources.billing.url", None) or f"sqlite:///{demo_dir / 'billing.db'}",
        billing_tables=tuple(get("sources.billing.tables")),
        billing_fetch_rows=numbers["sources.billing.fetch_rows"],
        tickets_base_url=str(get("sources.tickets.base_url")).rstrip("/"),
        tickets_token_env=str(get("sources.tickets.token_env")),
        tickets_page_size=numbers["sources.tickets.page_size"],
        tickets_timeout_s=timeout,
        tickets_max_attempts=numbers["sources.tickets.max_attempts"],
        web_logs_inbox=resolve_path(get("sources.web_logs.inbox"), base),
        demo_dir=demo_dir,
        demo_seed=numbers["demo.seed"],
        demo_days=numbers["demo.days"],
        demo_broken_lines=numbers["demo.broken_lines"],
        spark_local_master=str(get("spark.local_master")),
        spark_shuffle_partitions=shuffle,
        mlflow_tracking_uri=tracking,
        mlflow_experiment=str(get("mlflow.experiment")),
        registered_model=str(get("mlflow.registered_model")),
        seed=seed,
        test_size=test_size,
        raw=raw,
    )


def ivy_dir() -> str:
    """Where Ivy caches the Delta jars: ``$CHURNLAKE_IVY_DIR`` or ``~/.cache/churnlake/ivy``.

    One cache per user, shared by every checkout, so a fresh clone starts offline.
    """
    return os.environ.get("CHURNLAKE_IVY_DIR") or str(Path.home() / ".cache" / "churnlake" / "ivy")


def code_version(root: Path | None = None) -> str | None:
    """The git commit of the code (``<sha>`` or ``<sha>-dirty``), or None outside a checkout.

    Recorded with tags and models so results can be traced to the code that produced them.
    ``CHURNLAKE_CODE_VERSION`` wins (set it when deploying without a .git folder).
    """
    import subprocess

    if os.environ.get("CHURNLAKE_CODE_VERSION"):
        return os.environ["CHURNLAKE_CODE_VERSION"]
    where = str(root or project_root())
    try:
        sha = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha
