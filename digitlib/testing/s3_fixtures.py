"""pytest fixtures for stores: a real SeaweedFS S3 server and the same tests on a local folder.

Registered in ``tests/conftest.py`` with ``pytest_plugins = ["digitlib.testing.s3_fixtures"]``.

- ``seaweedfs``: one server for the whole session (free ports, data in a temp folder), with the
  bucket ``S3_TEST_BUCKET``;
- ``store_factory``: parametrized over ``local`` and ``s3``; each call returns a new store object
  on the same location; ``store_factory(own_client=True)`` gives an S3 store its own boto3
  client, as a second dashboard server would have;
- ``store``: one store from ``store_factory``, empty, unique to the test;
- ``fast_retry``: a ``RetryPolicy`` that gives up within about a second, for fault tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import pytest

from digitlib.ops.seaweedfs import SeaweedFS
from digitlib.store import LocalStore, RetryPolicy, S3Store, Store

S3_TEST_BUCKET = "digitlib-test"
_counter = itertools.count()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A SeaweedFS S3 server for the session, with the bucket ``S3_TEST_BUCKET``."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        server.client().create_bucket(Bucket=S3_TEST_BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(seaweedfs: SeaweedFS):
    """A boto3 client for ``seaweedfs``, shared by the session (creating one takes ~0.5 s)."""
    return seaweedfs.client()


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(
        attempts=3,
        base_delay=0.05,
        max_delay=0.2,
        total_seconds=1.5,
        recheck_seconds=0.5,
        connect_timeout=1.0,
        read_timeout=5.0,
    )


def _unique_prefix(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:80]
    return f"tests/{name}-{next(_counter)}"


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Store]:
    """Make store objects that share one empty location, on a local folder or on SeaweedFS."""
    if request.param == "local":
        root = tmp_path_factory.mktemp("local-store")
        return lambda own_client=False: LocalStore(root)
    server = request.getfixturevalue("seaweedfs")
    shared_client = request.getfixturevalue("s3_client")
    prefix = _unique_prefix(request)

    def make(own_client: bool = False) -> S3Store:
        return S3Store(
            S3_TEST_BUCKET,
            prefix,
            client=server.client() if own_client else shared_client,
            local_dir=tmp_path_factory.mktemp("s3-local"),
            retry=RetryPolicy(attempts=3, total_seconds=5.0),
        )

    return make


@pytest.fixture
def store(store_factory: Callable[..., Store]) -> Store:
    """An empty store unique to the test, local or S3 (the test runs once with each)."""
    return store_factory()
