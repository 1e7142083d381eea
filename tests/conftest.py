"""Shared test set-up. Fixture plugins live in ``digitlib.testing`` (real S3 server, real browser)."""

import os

# Keep TensorFlow quiet and deterministic enough for tests on 2 cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins: list[str] = ["digitlib.testing.s3_fixtures", "digitlib.testing.voila_fixtures"]
