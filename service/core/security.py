"""API keys: 256 random bits, shown once; only their SHA-256 is stored.

Why SHA-256 and not bcrypt: bcrypt (or argon2) exists to slow down guessing of *low-entropy* secrets such as
passwords. A key here has 256 bits from ``secrets``, so guessing is hopeless at any hash speed, while a bcrypt check
costs ~100 ms of CPU on every request (the GET target is 20 ms at p95) and bcrypt ignores input past 72 bytes.
A plain hash also lets the database look a key up by an index on the hash, and compare in constant time there.
"""
from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "new_key", "hash_key", "key_prefix"]

KEY_PREFIX = "seg_"


def new_key() -> str:
    """A new API key: ``seg_`` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_prefix(key: str) -> str:
    """The first characters of a key, kept to tell keys apart in ``api-key list``."""
    return key[: len(KEY_PREFIX) + 6]
