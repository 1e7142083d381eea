"""``S3Store``: a bucket and key prefix on S3 or any S3-compatible server (SeaweedFS, MinIO).

boto3 is imported only when a store without a ready-made client is created. Endpoint, region and
credentials come from the standard AWS chain (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/config``).

Faults, so the dashboard keeps working:

- every request is retried with exponential backoff and jitter on connection errors, timeouts,
  throttling and 5xx, for at most ``RetryPolicy.total_seconds``;
- a plain ``put``/``delete`` that still fails goes to a local spool folder and is replayed in
  order by ``flush_spool()``, which later operations also attempt (at most once every
  ``RetryPolicy.recheck_seconds`` while the server stays down);
- a ``get`` that fails returns the bytes last read or written through this store (a local cache
  folder), with a logged warning;
- conditional writes (``put_if``) cannot be spooled (the condition needs the server) and raise
  ``StoreUnavailable``.

Conditional writes use S3 ``If-None-Match: *`` (create-only) and ``If-Match: <ETag>``
(compare-and-swap) on PutObject, which AWS S3 and SeaweedFS (4.x) enforce atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlib.store.base import (
    KeyNotFound,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    check_bytes,
    check_key,
    check_prefix,
)
from digitlib.store.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

#: Error codes that mean "try again later", beyond HTTP 5xx.
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
}
_PRECONDITION_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard an ``S3Store`` tries before spooling or falling back to its cache.

    ``attempts``: tries per request; ``base_delay``/``max_delay``: seconds of backoff, doubled
    after each failure, with jitter; ``total_seconds``: a bound on the time one request may take
    including retries; ``recheck_seconds``: after the server was found unreachable, how long
    operations go straight to the spool or cache before trying the server again.
    ``connect_timeout``/``read_timeout``: seconds, for clients the store creates itself.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 2.0
    total_seconds: float = 10.0
    recheck_seconds: float = 5.0
    connect_timeout: float = 2.0
    read_timeout: float = 20.0

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.total_seconds <= 0:
            raise ValueError(
                f"RetryPolicy.total_seconds must be positive, got {self.total_seconds}"
            )


def default_local_dir(bucket: str, prefix: str) -> Path:
    """Where an ``S3Store`` keeps its spool and cache by default: ``data/s3/<bucket>/<prefix>``."""
    from digitlib.config import DEFAULT_STORE_DIR

    return DEFAULT_STORE_DIR.parent / "s3" / bucket / (prefix.strip("/") or "_root")


def make_client(retry: RetryPolicy = RetryPolicy()) -> Any:
    """A boto3 S3 client from the standard AWS configuration chain, with our timeouts.

    botocore's own retries are turned off (``S3Store`` retries with a bounded total time).
    Path-style addressing is used when a custom endpoint (``AWS_ENDPOINT_URL[_S3]``) is set, as
    S3-compatible servers on ``localhost`` or an IP address need it.
    """
    import boto3
    from botocore.config import Config

    custom_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        connect_timeout=retry.connect_timeout,
        read_timeout=retry.read_timeout,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=20,
        s3={"addressing_style": "path"} if custom_endpoint else None,
    )
    return boto3.session.Session().client("s3", config=config)


class S3Store:
    """A ``Store`` in ``s3://bucket/prefix``.

    Parameters
    ----------
    bucket : str
        An existing bucket.
    prefix : str
        Key prefix inside the bucket ('' for the whole bucket); keys are ``prefix/key``.
    client : boto3 S3 client, optional
        Made with ``make_client()`` (the standard AWS chain) when None.
    local_dir : path, optional
        Folder for the spool (``local_dir/spool``) and the read cache (``local_dir/cache``);
        ``default_local_dir(bucket, prefix)`` when None.
    retry : RetryPolicy
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        *,
        local_dir: str | os.PathLike | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ):
        if not isinstance(bucket, str) or not 3 <= len(bucket) <= 63 or "/" in bucket:
            raise ValueError(
                f"S3 bucket name must be 3 to 63 characters without '/', got {bucket!r}"
            )
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.retry = retry
        self.client = client if client is not None else make_client(retry)
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        local = Path(local_dir) if local_dir is not None else default_local_dir(bucket, prefix)
        self.spool = Spool(local / "spool")
        self.cache_dir = local / "cache"
        self._offline_until = 0.0
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, {self.prefix!r})"

    # -- plumbing -------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def offline(self) -> bool:
        """True while the server was recently found unreachable (see ``recheck_seconds``)."""
        return time.monotonic() < self._offline_until

    def _mark(self, reachable: bool) -> None:
        with self._state_lock:
            self._offline_until = (
                0.0 if reachable else time.monotonic() + self.retry.recheck_seconds
            )

    def _call(self, operation: str, **kwargs) -> dict:
        """Call ``client.<operation>(**kwargs)``, retrying transient failures.

        Raises ``StoreUnavailable`` when the retry budget runs out, and the client's own
        ``ClientError`` for answers that retrying cannot change (missing key, failed condition,
        access denied).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, operation)
        deadline = time.monotonic() + self.retry.total_seconds
        delay = self.retry.base_delay
        last_error: Exception | None = None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                result = method(Bucket=self.bucket, **kwargs)
                self._mark(reachable=True)
                return result
            except ClientError as error:
                if not _is_transient(error):
                    self._mark(reachable=True)
                    raise
                last_error = error
            except BotoCoreError as error:  # connection refused/reset, timeouts
                last_error = error
            remaining = deadline - time.monotonic()
            if attempt == self.retry.attempts or remaining <= 0:
                break
            pause = min(delay * (0.5 + random.random()), self.retry.max_delay, remaining)
            log.debug(
                "%s %s failed (%s); retry %d in %.2fs", self, operation, last_error, attempt, pause
            )
            time.sleep(pause)  # backoff between attempts, not waiting for a condition
            delay *= 2
        self._mark(reachable=False)
        raise StoreUnavailable(
            f"{self.url} is unreachable ({operation}: {last_error}); check the endpoint "
            "(AWS_ENDPOINT_URL) and the network"
        ) from last_error

    def check_reachable(self) -> None:
        """Ask the server (one small listing, with the retry budget): raises
        ``StoreUnavailable`` naming the endpoint, the error and how to fix it."""
        endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", None) or "?"
        try:
            self._call(
                "list_objects_v2", Prefix=f"{self.prefix}/" if self.prefix else "", MaxKeys=1
            )
        except StoreUnavailable as error:
            raise StoreUnavailable(
                f"cannot reach the S3 store {self.url} at {endpoint}: "
                f"{error.__cause__ or error}. Check that the server is running and that "
                "AWS_ENDPOINT_URL and the credentials are right; nothing was read"
            ) from error
        except Exception as error:  # access denied, no such bucket: not an empty store either
            raise StoreUnavailable(
                f"the S3 store {self.url} at {endpoint} refused the listing: {error}. Check the "
                "bucket name and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            ) from error

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / check_key(key)

    def _cache_write(self, key: str, data: bytes) -> None:
        path = self._cache_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex}")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as error:  # the cache is a convenience; never fail an operation on it
            log.warning("could not cache %s: %s", key, error)

    def _cache_read(self, key: str) -> bytes | None:
        try:
            return self._cache_path(key).read_bytes()
        except OSError:
            return None

    # -- spool ----------------------------------------------------------------------------------

    def pending(self) -> list[str]:
        """Keys of writes waiting in the spool, oldest first (a delete is shown as ``-key``)."""
        entries = self.spool.entries(with_data=False)
        return [e.key if e.op == "put" else f"-{e.key}" for e in entries]

    def flush_spool(self) -> list[str]:
        """Upload the spooled writes in order; return the keys written (``-key`` for deletes).

        Raises ``StoreUnavailable`` if the server is still unreachable; what was uploaded before
        that stays uploaded and the rest stays spooled.
        """

        from botocore.exceptions import ClientError

        def apply(entry: SpoolEntry) -> None:
            try:
                if entry.op == "put":
                    self._call("put_object", Key=self._full(entry.key), Body=entry.data)
                else:
                    self._call("delete_object", Key=self._full(entry.key))
            except ClientError as error:  # e.g. the bucket is gone: the entry stays spooled
                raise _store_error(error, self.url) from error

        applied = self.spool.drain(apply)
        if applied:
            log.info("%s: uploaded %d spooled writes", self, len(applied))
        return [e.key if e.op == "put" else f"-{e.key}" for e in applied]

    def _try_flush(self) -> bool:
        """Flush the spool if it has entries and the server is not known to be down.

        Returns True when the spool is empty afterwards.
        """
        if not len(self.spool):
            return True
        if self.offline:
            return False
        try:
            self.flush_spool()
            return True
        except StoreUnavailable:
            return False

    # -- the Store protocol ---------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        return self._get(key)[0]

    def get_tagged(self, key: str) -> tuple[bytes, str]:
        data, tag = self._get(key, need_tag=True)
        return data, tag

    def _get(self, key: str, need_tag: bool = False) -> tuple[bytes, str | None]:
        from botocore.exceptions import ClientError

        full = self._full(key)
        flushed = self._try_flush()
        if not flushed:
            if need_tag:
                raise StoreUnavailable(
                    f"{self.url} is unreachable and {key!r} has writes waiting in the spool; "
                    "a conditional operation must wait until flush_spool() succeeds"
                )
            waiting = self.spool.latest(key)
            if waiting is not None:  # read your own spooled writes
                if waiting.op == "delete":
                    raise KeyNotFound(key, self.url)
                return waiting.data, None
        if self.offline and not need_tag:
            return self._cached_or_raise(key, "the server was unreachable moments ago"), None
        try:
            response = self._call("get_object", Key=full)
            data = response["Body"].read()
        except ClientError as error:
            if _error_code(error) in _MISSING_CODES:
                raise KeyNotFound(key, self.url) from None
            raise _store_error(error, self.url) from error
        except StoreUnavailable as error:
            if need_tag:
                raise
            return self._cached_or_raise(key, str(error)), None
        self._cache_write(key, data)
        return data, response.get("ETag")

    def _cached_or_raise(self, key: str, reason: str) -> bytes:
        data = self._cache_read(key)
        if data is None:
            raise StoreUnavailable(f"{reason}; and {key!r} was never cached locally")
        log.warning("%s unreachable: serving %s from the local cache", self, key)
        return data

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        data = check_bytes(data)
        full = self._full(key)
        if self._try_flush():
            try:
                self._call("put_object", Key=full, Body=data)
                self._cache_write(key, data)
                return
            except StoreUnavailable as error:
                log.warning("%s; spooling the write of %s", error, key)
            except ClientError as error:
                raise _store_error(error, self.url) from error
        self.spool.append("put", key, data)
        self._cache_write(key, data)

    def put_if(self, key: str, data: bytes, *, expected_tag: str | None) -> str:
        from botocore.exceptions import ClientError

        data = check_bytes(data)
        full = self._full(key)
        if not self._try_flush():
            raise StoreUnavailable(
                f"{self.url} is unreachable; conditional writes cannot be spooled, try again "
                "once flush_spool() succeeds"
            )
        condition = {"IfNoneMatch": "*"} if expected_tag is None else {"IfMatch": expected_tag}
        try:
            response = self._call("put_object", Key=full, Body=data, **condition)
        except ClientError as error:
            if _error_code(error) not in _PRECONDITION_CODES and _status(error) != 412:
                raise _store_error(error, self.url) from error
            # A retried request may have lost only its answer: if the object now holds exactly
            # our bytes, the write was ours.
            try:
                current, tag = self.get_tagged(key)
            except KeyNotFound:
                current, tag = None, None
            if current == data:
                return tag
            detail = "it already exists" if expected_tag is None else "its ETag differs"
            raise PreconditionFailed(key, detail) from None
        self._cache_write(key, data)
        return response.get("ETag") or hashlib.md5(data).hexdigest()

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        keys: set[str] = set()
        if self._try_flush() and not self.offline:
            try:
                keys = self._list_remote(prefix)
            except StoreUnavailable:
                keys = self._list_cached(prefix)
        else:
            keys = self._list_cached(prefix)
        for entry in self.spool.entries(with_data=False):  # waiting: show what readers will see
            if entry.key.startswith(prefix):
                (keys.add if entry.op == "put" else keys.discard)(entry.key)
        return sorted(keys)

    def _list_remote(self, prefix: str) -> set[str]:
        from botocore.exceptions import ClientError

        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys, token = set(), None
        while True:
            kwargs = {"Prefix": full_prefix}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                response = self._call("list_objects_v2", **kwargs)
            except ClientError as error:
                raise _store_error(error, self.url) from error
            keys.update(item["Key"][strip:] for item in response.get("Contents", []))
            if not response.get("IsTruncated"):
                return keys
            token = response["NextContinuationToken"]

    def _list_cached(self, prefix: str) -> set[str]:
        if not self.cache_dir.exists():
            return set()
        log.warning("%s unreachable: listing from the local cache", self)
        keys = set()
        for path in self.cache_dir.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.cache_dir).as_posix()
                if key.startswith(prefix):
                    keys.add(key)
        return keys

    def delete(self, key: str) -> None:
        from botocore.exceptions import ClientError

        full = self._full(key)
        self._cache_path(key).unlink(missing_ok=True)
        if self._try_flush():
            try:
                self._call("delete_object", Key=full)
                return
            except StoreUnavailable as error:
                log.warning("%s; spooling the delete of %s", error, key)
            except ClientError as error:
                raise _store_error(error, self.url) from error
        self.spool.append("delete", key)


def _error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _status(error: Exception) -> int:
    metadata = getattr(error, "response", {}).get("ResponseMetadata", {})
    return int(metadata.get("HTTPStatusCode") or 0)


def _is_transient(error: Exception) -> bool:
    return _status(error) >= 500 or _error_code(error) in _TRANSIENT_CODES


def _store_error(error: Exception, url: str) -> StoreError:
    code = _error_code(error)
    if code == "NoSuchBucket":
        return StoreError(f"{url}: the bucket does not exist; create it first (aws s3 mb ...)")
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return StoreError(
            f"{url}: access denied ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            "AWS_PROFILE"
        )
    return StoreError(f"{url}: {error}")
