"""Test support that users of digitlib can reuse: a real SeaweedFS S3 server, a real Chromium."""
