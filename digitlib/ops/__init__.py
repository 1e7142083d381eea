"""Running digitlib's servers: the S3 server (SeaweedFS), a cluster of dashboard servers behind
HAProxy, and the Chromium that the browser tests and the crowd benchmark drive.

Nothing here is imported by reading, training or learning; the command-line doors in
``digitlib.cli`` (``python -m digitlib.cli.cluster``, ``python -m digitlib.cli.seaweedfs``,
``python -m digitlib.cli.chromium``) start them, and ``digitlib.testing`` reuses them.
"""
