"""File access to the lakehouse outside Spark: local folders and HDFS (WebHDFS).

Raw landing files are written, and Delta logs are read (by Luigi targets), through
:func:`filestore_for`, which picks the implementation from the URI scheme. Spark itself
reads and writes ``file://`` and ``hdfs://`` URIs natively.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Protocol
from urllib.parse import unquote, urlparse

from churnlake.config import Config


class FileStore(Protocol):
    """The few file operations the pipeline needs outside Spark."""

    def exists(self, uri: str) -> bool: ...
    def list(self, uri: str) -> list[str]: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def write_file(self, uri: str, path: Path) -> None: ...
    def sha256(self, uri: str) -> str: ...
    def staging_dir(self, uri: str) -> Path | None: ...
    def delete_tree(self, uri: str) -> None: ...


CHUNK = 8 << 20  # bytes per read when a file is hashed or copied as a stream


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"{uri!r} is not a local file URI")
    return Path(unquote(parsed.path))


def _write_atomic(target: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through ``fill(fh)`` into a hidden temp file beside it, then rename it
    into place: readers see the old file or the whole new one, and a failure leaves neither
    the temp file nor a partial target behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalStore:
    """``file://`` URIs; writes are atomic (temp file + rename)."""

    def exists(self, uri: str) -> bool:
        return _local_path(uri).exists()

    def list(self, uri: str) -> list[str]:
        """Names in a folder, without the hidden temp files of writes under way."""
        path = _local_path(uri)
        return sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) if path.is_dir() else []

    def read_bytes(self, uri: str) -> bytes:
        return _local_path(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        _write_atomic(_local_path(uri), lambda fh: fh.write(data))

    def write_file(self, uri: str, path: Path) -> None:
        """Move the local file ``path`` to ``uri`` atomically: a rename on the same file system
        (see :meth:`staging_dir`), else a copy into a temp file beside the target and a rename."""
        target = _local_path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # another file system: copy
                raise
        with open(path, "rb") as src:
            _write_atomic(target, lambda dst: shutil.copyfileobj(src, dst, CHUNK))
        Path(path).unlink()

    def sha256(self, uri: str) -> str:
        """Hex SHA-256 of a stored file, read in chunks (never whole into memory)."""
        with open(_local_path(uri), "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    def staging_dir(self, uri: str) -> Path:
        """The nearest existing folder on the way to ``uri``: a file prepared there moves into
        place by a rename, and preparing it creates no folder that a failure would leave behind."""
        folder = _local_path(uri).parent
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        return folder

    def delete_tree(self, uri: str) -> None:
        """Remove a file or a folder with everything in it (nothing there: no-op)."""
        path = _local_path(uri)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


class WebHdfsStore:
    """``hdfs://`` URIs through the WebHDFS REST API (the ``hdfs`` package)."""

    def __init__(self, webhdfs_url: str, user: str | None = None) -> None:
        from hdfs import InsecureClient  # imported lazily: only HDFS users need it

        self._client = InsecureClient(webhdfs_url, user=user or os.environ.get("USER", "churnlake"))

    @staticmethod
    def _path(uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme != "hdfs":
            raise ValueError(f"{uri!r} is not an hdfs:// URI")
        return unquote(parsed.path) or "/"

    def exists(self, uri: str) -> bool:
        return self._client.status(self._path(uri), strict=False) is not None

    def list(self, uri: str) -> list[str]:
        path = self._path(uri)
        if self._client.status(path, strict=False) is None:
            return []
        return sorted(name for name in self._client.list(path) if not name.startswith("."))

    def read_bytes(self, uri: str) -> bytes:
        with self._client.read(self._path(uri)) as reader:
            return reader.read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        self._put(uri, data)

    def write_file(self, uri: str, path: Path) -> None:
        """Upload the local file ``path`` to ``uri`` as a stream (temp file + rename), then remove it."""
        with open(path, "rb") as fh:
            self._put(uri, fh)
        Path(path).unlink()

    def _put(self, uri: str, data) -> None:
        path = self._path(uri)
        tmp = f"{path.rsplit('/', 1)[0]}/.{path.rsplit('/', 1)[1]}.tmp"
        self._client.write(tmp, data=data, overwrite=True)
        if self.exists(uri):
            self._client.delete(path)
        self._client.rename(tmp, path)

    def sha256(self, uri: str) -> str:
        """Hex SHA-256 of a stored file, streamed from the datanodes in chunks."""
        digest = hashlib.sha256()
        with self._client.read(self._path(uri), chunk_size=CHUNK) as reader:
            for chunk in reader:
                digest.update(chunk)
        return digest.hexdigest()

    def staging_dir(self, uri: str) -> None:
        """None: files for HDFS are prepared in the local temp folder and uploaded."""
        return None

    def delete_tree(self, uri: str) -> None:
        """Remove a file or a folder recursively (nothing there: no-op)."""
        self._client.delete(self._path(uri), recursive=True)


def filestore_for(uri: str, cfg: Config) -> FileStore:
    """The store that handles ``uri`` (``file://`` or ``hdfs://``)."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        return LocalStore()
    if scheme == "hdfs":
        if not cfg.webhdfs_url:
            raise ValueError(
                f"{uri} is on HDFS but lakehouse.webhdfs_url is not set "
                "(set CHURNLAKE__LAKEHOUSE__WEBHDFS_URL=http://<namenode>:<http-port>)"
            )
        return WebHdfsStore(cfg.webhdfs_url, cfg.webhdfs_user)
    raise ValueError(f"unsupported storage scheme {scheme!r} in {uri}")


def delta_commits(table_uri: str, store: FileStore) -> Iterator[dict]:
    """Yield the ``commitInfo`` of every commit JSON still in a Delta table's log.

    Each item gets ``version`` and, when the writer set it, ``userMetadata`` parsed from
    JSON. Missing table → nothing.
    """
    log_uri = f"{table_uri}/_delta_log"
    for name in store.list(log_uri):
        if not (name.endswith(".json") and name[:-5].isdigit()):
            continue
        for line in store.read_bytes(f"{log_uri}/{name}").decode("utf-8").splitlines():
            action = json.loads(line) if line.strip() else {}
            info = action.get("commitInfo")
            if info is None:
                continue
            info = dict(info, version=int(name[:-5]))
            meta = info.get("userMetadata")
            if isinstance(meta, str):
                try:
                    info["userMetadata"] = json.loads(meta)
                except json.JSONDecodeError:
                    pass
            yield info


#: Below the lakehouse root: one small JSON file per (table, job, run date, batch), rewritten by
#: every commit a job makes. Luigi's completion checks read it, so a run date stays "done"
#: after Delta's log cleanup has removed the commit's JSON file (log_retention_days).
COMMIT_RECORDS = "_commits"


def commit_records_root(lakehouse_root: str, table_relpath: str) -> str:
    """The folder holding every commit record of one table (``<job>/<run date>/<batch>.json``)."""
    return f"{lakehouse_root}/{COMMIT_RECORDS}/{table_relpath}"


def commit_record_uri(lakehouse_root: str, table_relpath: str, job: str, run_date: str, batch_id: str | None) -> str:
    """Where the record of a job's commit to a table for a run date (and batch) lives."""
    for part in (job, run_date, batch_id or "_"):
        if not part or "/" in part or part.startswith("."):
            raise ValueError(f"not a safe name for a commit record: {part!r}")
    return f"{commit_records_root(lakehouse_root, table_relpath)}/{job}/{run_date}/{batch_id or '_'}.json"


def write_commit_record(store: FileStore, uri: str, metadata: dict) -> None:
    """Record a commit's metadata (with the time it was recorded)."""
    import datetime as dt

    record = {"metadata": metadata,
              "recorded_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    store.write_bytes(uri, json.dumps(record, sort_keys=True).encode("utf-8"))


def read_commit_record(store: FileStore, uri: str) -> dict:
    """One commit record (``metadata``, ``recorded_at``)."""
    return json.loads(store.read_bytes(uri).decode("utf-8"))


def read_commit_records(store: FileStore, folder: str) -> list[dict]:
    """The records in one ``…/<job>/<run date>`` folder, oldest first."""
    records = [read_commit_record(store, f"{folder}/{name}") for name in store.list(folder) if name.endswith(".json")]
    return sorted(records, key=lambda r: r.get("recorded_at", ""))
