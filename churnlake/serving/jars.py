"""Jars for the serving processes, resolved from Maven Central by Ivy (the one pyspark ships).

The Thrift server needs the Delta jars on its *driver class path* (see
:mod:`churnlake.services.engine` for why ``--packages`` alone is not enough), and the Derby
network server and its clients need ``derbynet``/``derbyclient``. Both are resolved here
with the same Ivy cache as ``spark.jars.packages`` (:func:`churnlake.config.ivy_dir`) and
retrieved into ``<ivy_dir>/classpath/<name>-<hash>/``, one folder per set of coordinates
and excludes, so that only the first run needs the network and two versions never mix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

import pyspark

from churnlake.config import ivy_dir


class JarResolutionError(RuntimeError):
    """Ivy could not resolve the requested coordinates (the message carries Ivy's output)."""


def _spark_jars_dir() -> Path:
    """Spark's ``jars/`` folder: ``$SPARK_HOME/jars`` (set under spark-submit), else pyspark's.

    Under spark-submit, ``pyspark`` is imported from ``<SPARK_HOME>/python/lib/pyspark.zip``,
    so the folder is searched upwards from the module too.
    """
    home = os.environ.get("SPARK_HOME")
    if home and any((Path(home) / "jars").glob("spark-core_*.jar")):
        return (Path(home) / "jars").resolve()
    here = Path(pyspark.__file__).resolve().parent
    for folder in (here, *here.parents):
        if any((folder / "jars").glob("spark-core_*.jar")):
            return folder / "jars"
    raise JarResolutionError(f"Spark's jars folder not found (SPARK_HOME={home!r}, pyspark at {here})")


PYSPARK_JARS = _spark_jars_dir()


def _bundled_version(prefix: str, default: str) -> str:
    """Version of a jar bundled with pyspark, e.g. ``derby-10.16.1.1.jar`` -> ``10.16.1.1``."""
    for jar in sorted(PYSPARK_JARS.glob(f"{prefix}-[0-9]*.jar")):
        return jar.name[len(prefix) + 1:-len(".jar")]
    return default


#: Derby version of pyspark's embedded metastore; client and server must match it so the
#: network server opens the database files the embedded driver wrote.
DERBY_VERSION = _bundled_version("derby", "10.16.1.1")
#: Hive version of pyspark's built-in metastore client.
HIVE_VERSION = _bundled_version("hive-metastore", "2.3.10")


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise JarResolutionError("java not found: churnlake needs a Java 17 runtime")
    return found


def _ivy_jar() -> Path:
    jars = sorted(PYSPARK_JARS.glob("ivy-*.jar"))
    if not jars:
        raise JarResolutionError(f"no ivy-*.jar in {PYSPARK_JARS}")
    return jars[-1]


def _ivy_module(coordinates: Sequence[str], excludes: Sequence[str]) -> str:
    deps = []
    for coord in coordinates:
        org, name, rev = coord.split(":")
        deps.append(f'    <dependency org={quoteattr(org)} name={quoteattr(name)} rev={quoteattr(rev)}'
                    ' conf="default->default(runtime)"/>')
    for excl in excludes:
        org, _, name = excl.partition(":")
        deps.append(f"    <exclude org={quoteattr(org)} module={quoteattr(name or '*')}/>")
    return ('<ivy-module version="2.0">\n  <info organisation="churnlake" module="serving-classpath"/>\n'
            '  <configurations><conf name="default"/></configurations>\n'
            "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</ivy-module>\n")


def resolve(name: str, coordinates: Sequence[str], excludes: Sequence[str] = (),
            *, timeout: float = 600) -> list[Path]:
    """Jars of ``coordinates`` (``group:artifact:version``) and their runtime dependencies.

    ``excludes`` are ``group:artifact`` pairs left out (as ``spark.jars.excludes``). Cached:
    a second call with the same arguments only lists the folder.
    """
    coordinates = [c.strip() for c in coordinates if c.strip()]
    excludes = [e.strip() for e in excludes if e.strip()]
    key = hashlib.sha256(repr((coordinates, excludes)).encode()).hexdigest()[:12]
    base = Path(ivy_dir())
    dest = base / "classpath" / f"{name}-{key}"
    if (dest / ".resolved").is_file():
        return sorted(dest.glob("*.jar"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / "ivy.xml").write_text(_ivy_module(coordinates, excludes), encoding="utf-8")
        cmd = [java_executable(), "-jar", str(_ivy_jar()), "-ivy", str(tmp / "ivy.xml"),
               "-cache", str(base / "cache"), "-confs", "default",
               "-retrieve", str(tmp) + "/[organisation]_[artifact]-[revision](-[classifier]).[ext]"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise JarResolutionError(f"Ivy did not finish resolving {coordinates} in {timeout:.0f}s") from exc
        if proc.returncode != 0 or not list(tmp.glob("*.jar")):
            out = (proc.stdout + proc.stderr)[-3000:]
            raise JarResolutionError(f"Ivy could not resolve {coordinates} (exit {proc.returncode}):\n{out}")
        (tmp / ".resolved").write_text("\n".join(coordinates) + "\n", encoding="utf-8")
        try:
            tmp.rename(dest)
        except OSError:  # resolved by a concurrent process in the meantime
            if not (dest / ".resolved").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(dest.glob("*.jar"))


def spark_packages_jars(spark_conf: dict[str, str]) -> list[Path]:
    """The jars of ``spark.jars.packages`` (minus ``spark.jars.excludes``) of a spark-defaults dict."""
    packages = spark_conf.get("spark.jars.packages", "").split(",")
    excludes = spark_conf.get("spark.jars.excludes", "").split(",")
    if not any(p.strip() for p in packages):
        return []
    return resolve("packages", packages, excludes)


def derby_client_jars() -> list[Path]:
    """``derbyclient`` (+ ``derbyshared``) matching pyspark's Derby."""
    return resolve("derbyclient", [f"org.apache.derby:derbyclient:{DERBY_VERSION}"])


def derby_server_jars() -> list[Path]:
    """``derbynet`` with the engine (``derby``, ``derbyshared``, ``derbytools``) matching pyspark's Derby."""
    return resolve("derbynet", [f"org.apache.derby:derbynet:{DERBY_VERSION}"])
