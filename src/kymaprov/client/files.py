"""Owner-only files: kubeconfigs, profiles and the exec plugin's state all hold credentials."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kymaprov.client.exceptions import ClientError

__all__ = ["check_replaceable", "read_text_file", "write_private"]


def check_replaceable(path: str | os.PathLike[str]) -> Path:
    """The resolved ``path`` if ``write_private`` may write it; ``ClientError`` if not (before any work)."""
    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_file():
        raise ClientError(f"{target} exists and is not a regular file; not replacing it")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ClientError(f"cannot write {target}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ClientError(f"cannot write {target}: {parent} is not writable")
    return target


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A small text file (key, parameters, profiles) in UTF-8, or UTF-8/UTF-16 with a byte-order mark.

    Windows shells write UTF-16 with ``>``; ``ValueError`` (``UnicodeDecodeError``) if it is none of these.
    """
    raw = Path(path).read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


def write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` with mode 0600, atomically; ``ClientError`` if it cannot.

    The text goes to a 0600 temporary file next to the target that is then renamed over it: the
    secrets are never readable by others, not even for a moment, and a crash leaves the old file.
    Only regular files are replaced (never ``/dev/null``, a directory or a socket).
    """
    target = check_replaceable(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise ClientError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)  # mkstemp makes 0600 already; be explicit whatever the platform
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ClientError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
