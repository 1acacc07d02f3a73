"""Landing raw files: content hashing and the immutable landing zone."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from churnlake.config import Config
from churnlake.storage import filestore_for
from churnlake.tables import landing_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandedFile:
    """A raw file copied into the landing zone."""

    name: str
    uri: str
    sha256: str
    size: int


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def land_file(cfg: Config, path: Path, *, source: str, entity: str, ingest_date: str,
              ingest_hour: int) -> LandedFile:
    """Copy ``path`` as received into the landing zone (idempotent: same name, same bytes).

    Raises ``ValueError`` when a different file with the same name already landed in the
    same hour, since the landing zone is immutable.
    """
    data = path.read_bytes()
    digest = sha256_bytes(data)
    folder = landing_uri(cfg, source, entity, ingest_date, ingest_hour)
    uri = f"{folder}/{path.name}"
    store = filestore_for(uri, cfg)
    if store.exists(uri):
        if sha256_bytes(store.read_bytes(uri)) != digest:
            raise ValueError(f"landing zone is immutable: {uri} exists with different content")
        log.info("already landed %s (sha256 %s)", uri, digest[:12])
    else:
        store.write_bytes(uri, data)
        log.info("landed %s (%d bytes, sha256 %s)", uri, len(data), digest[:12])
    return LandedFile(path.name, uri, digest, len(data))
