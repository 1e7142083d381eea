"""Shared test set-up. Fixture plugins live in ``digitlib.testing`` (real S3 server, real browser)."""

import os

# Keep TensorFlow quiet and deterministic enough for tests on 2 cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest_plugins: list[str] = ["digitlib.testing.s3_fixtures", "digitlib.testing.voila_fixtures"]


def pytest_sessionfinish(session, exitstatus):
    """``make test`` runs everything: a skipped test fails the run, with the reasons shown above.

    Set DIGITLIB_ALLOW_SKIPS=1 to allow skips (e.g. a developer's partial run).
    """
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0 and os.environ.get("DIGITLIB_ALLOW_SKIPS") != "1":
        reporter.write_line(
            f"{len(skipped)} test(s) skipped: the suite allows none (a missing dependency must be "
            "installed, see README); DIGITLIB_ALLOW_SKIPS=1 allows them for a partial run",
            red=True,
        )
        session.exitstatus = 1
