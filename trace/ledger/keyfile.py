"""Private key files in the instance folder: created once with mode 0600, never overwritten."""
from __future__ import annotations

import os
from collections.abc import Callable


def ensure(path: str, make: Callable[[], str]) -> str:
    """The key stored at `path`, creating it from make() with mode 0600 if it does not exist yet."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    key = make()
    # O_EXCL: two processes starting at once must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
        f.flush()
        os.fsync(f.fileno())
    return key
