"""One small interface over an S3-compatible endpoint: what jobs stage in and upload, and the
documents the engine reads (PropertyFiles, `Std:JsonGet`). boto3's transfer manager does the
copying (multipart, parallel parts, retries) rather than a hand-written loop."""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Objects up to this size go in one request; larger ones through boto3's transfer manager
# (multipart, parallel parts), whose thread pool costs more than a small object's transfer.
SINGLE_REQUEST_BYTES = 8 * 1024 * 1024
FETCH_WORKERS = 8  # objects fetched at once when a job stages many (botocore's pool holds 10)
# A write to a store whose data is on this machine failed with less free there than this (or
# than 2% of the disk: the embedded store stops taking writes below 1%): the disk is full.
LOW_DISK_BYTES = 64 * 1024 * 1024


class StoreError(Exception):
    """An object store operation failed; the message says which URI and why."""


@dataclass(frozen=True)
class StoreConfig:
    """Where the store is and how to sign for it: what jobs get in their environment too."""

    endpoint_url: str | None
    region: str = "us-east-1"
    access_key: str | None = None  # None: the usual AWS variables or profile
    secret_key: str | None = None
    disk: str | None = None  # where the store keeps its data, when on this machine (embedded)

    def job_environment(self) -> dict[str, str]:
        """The variables that point a job's own S3 clients at this store: boto3 reads
        AWS_ENDPOINT_URL_S3, the training toolkit S3_ENDPOINT_URL."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL_S3"] = env["S3_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key and self.secret_key:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = (
                self.access_key,
                self.secret_key,
            )
        return env

    def to_json(self) -> dict[str, Any]:
        return {"endpoint_url": self.endpoint_url, "region": self.region,
                "access_key": self.access_key, "secret_key": self.secret_key,
                "disk": self.disk}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreConfig:
        return cls(**data)


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise StoreError(f"'{uri}' is not an S3 URI (s3://bucket/key).")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise StoreError(f"'{uri}' names no bucket.")
    return bucket, key


class ObjectStore:
    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                keys = {}
                if self.config.access_key and self.config.secret_key:
                    keys = {"aws_access_key_id": self.config.access_key,
                            "aws_secret_access_key": self.config.secret_key}  # fmt: skip
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.config.endpoint_url, region_name=self.config.region,
                    config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                  s3={"addressing_style": "path"}),
                    **keys,
                )  # fmt: skip
            return self._client

    # ------------------------------------------------------------------ reading
    def get_bytes(self, uri: str, limit: int = 16 * 1024 * 1024) -> bytes:
        bucket, key = split_uri(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            data: bytes = body.read(limit + 1)
        except Exception as exc:
            raise StoreError(f"Could not read {uri}: {_describe(exc)}") from None
        if len(data) > limit:
            raise StoreError(f"{uri} is larger than {limit} bytes.")
        return data

    def list_keys(self, uri: str) -> list[tuple[str, int]]:
        """(key, size) of every object whose key starts with the URI's key."""
        bucket, prefix = split_uri(uri)
        found: list[tuple[str, int]] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for page in pages:
                found += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        except Exception as exc:
            raise StoreError(f"Could not list {uri}: {_describe(exc)}") from None
        return found

    def download(self, uri: str, dest: Path, shard: tuple[int, int] = (0, 1)) -> int:
        """SageMaker's S3Prefix rule: the URI as one exact object (to `dest/<its name>`), else
        every object under it as a prefix, keeping paths relative to it. The number of
        objects; none is an error, as on AWS. `shard` (index, count): ShardedByS3Key, this
        instance's share only (every count-th object in key order, from index)."""
        bucket, key = split_uri(uri)
        objects = self.list_keys(uri)
        exact = [k for k, _ in objects if k == key and not key.endswith("/")]
        dest.mkdir(parents=True, exist_ok=True)
        sizes = dict(objects)
        index, shards = shard
        if exact:
            if index != 0:
                return 0  # one object: the first instance's share
            self._fetch(bucket, key, dest / os.path.basename(key), uri, sizes[key])
            return 1
        base = key if key.endswith("/") or not key else key + "/"
        found = 0
        wanted: list[tuple[str, str, Path, str, int]] = []
        for object_key, size in objects:
            if not object_key.startswith(base) or object_key.endswith("/"):
                continue  # `s3://b/data` must not take `s3://b/database.csv`; folder markers
            relative = object_key[len(base) :]
            target = (dest / relative).resolve()
            if not target.is_relative_to(dest.resolve()):
                continue  # a key with `..` cannot write outside the input's directory
            found += 1
            if (found - 1) % shards != index:
                continue
            wanted.append((bucket, object_key, target, f"s3://{bucket}/{object_key}", size))
        if found == 0:
            raise StoreError(f'ClientError: No S3 objects found under S3 URL "{uri}".')
        if len(wanted) == 1:
            self._fetch(*wanted[0])
        elif wanted:  # many objects: several at once (one GET each is one round trip)
            with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
                list(pool.map(lambda w: self._fetch(*w), wanted))
        return len(wanted)

    def _fetch(self, bucket: str, key: str, target: Path, uri: str, size: int) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if size <= SINGLE_REQUEST_BYTES:
                body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
                with open(target, "wb") as handle:
                    for chunk in iter(lambda: body.read(1024 * 1024), b""):
                        handle.write(chunk)
                return
            self.client.download_file(bucket, key, str(target))
        except Exception as exc:
            raise StoreError(f"Could not download {uri}: {_describe(exc)}") from None

    # ------------------------------------------------------------------ writing
    def upload_file(self, path: Path, uri: str) -> None:
        bucket, key = split_uri(uri)
        try:
            if path.stat().st_size <= SINGLE_REQUEST_BYTES:
                with open(path, "rb") as handle:
                    self.client.put_object(Bucket=bucket, Key=key, Body=handle)
                return
            self.client.upload_file(str(path), bucket, key)
        except Exception as exc:
            full = disk_full(self.config.disk)
            raise StoreError(f"Could not upload to {uri}: {full or _describe(exc)}") from None

    def upload_tree(self, directory: Path, uri: str) -> int:
        """Every regular file under `directory` to `uri/<relative path>` (symlinks are not
        followed, as on AWS). The number of files."""
        base = uri.rstrip("/")
        count = 0
        for root, dirs, files in os.walk(directory, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                self.upload_file(path, f"{base}/{path.relative_to(directory).as_posix()}")
                count += 1
        return count


def disk_full(disk: str | None) -> str | None:
    """What to tell the user when the store's own disk (if on this machine) is nearly full."""
    if disk is None:
        return None
    try:
        usage = shutil.disk_usage(disk)
    except OSError:
        return None
    if usage.free >= max(LOW_DISK_BYTES, usage.total // 50):
        return None
    return (
        f"the object store's disk is full ({disk} has {usage.free // (1024 * 1024)} MB free "
        f"of {usage.total // (1024 * 1024)} MB). Free space there, then retry the execution."
    )


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = error.get("Code"), error.get("Message")
        if code in ("NoSuchBucket", "404") and "bucket" in str(message or "").lower():
            return f"the bucket does not exist ({code})"
        if code:
            return f"{code}: {message or ''}".strip()
    return str(exc) or type(exc).__name__
