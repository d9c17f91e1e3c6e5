"""Where kymaprov keeps its state on this machine: the server writes there, ``btp`` reads the login.

A leaf shared by both sides of the client/server boundary: it imports nothing from kymaprov and no
third-party package, so the client can use it without the server installed.
"""

from __future__ import annotations

import os
from pathlib import Path

# The local default login (URL, user, random password, subaccount) that ``kymaprov serve`` writes, mode 0600.
LOGIN_FILE = "local-login.json"


def default_data_dir() -> Path:
    """``$KYMAPROV_DATA_DIR``, else ``$XDG_DATA_HOME/kymaprov`` (``~/.local/share/kymaprov``)."""
    env = os.environ.get("KYMAPROV_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "kymaprov"
