"""The tamper-evident log: bytes and hashes, not apples."""
