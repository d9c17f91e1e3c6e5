"""The README's reference sections stay complete and true: every environment variable the code reads is in
its table, and its shell-completion line really defines a bash completion for ``kymaprov``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, flags=re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def variables_read_by_the_code() -> set[str]:
    """Names in string literals that look like environment variables we define, plus the seed's four."""
    names: set[str] = set()
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        names |= set(
            re.findall(r"[\"'](KYMAPROV_[A-Z_]+|BTP_CLIENTCONFIG|XDG_[A-Z_]+)[\"']", path.read_text())
        )
    from kymaprov.client.credentials import ENV_VARS

    return names | set(ENV_VARS)


def test_every_environment_variable_is_in_the_readme_table() -> None:
    table = section("Environment variables")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    missing = variables_read_by_the_code() - documented
    assert not missing, f"environment variables missing from the README table: {sorted(missing)}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_readme_completion_line_completes_kymaprov_commands(tmp_path: Path) -> None:
    lines = [ln for ln in section("Shell completion").splitlines() if "bash_source kymaprov" in ln]
    assert lines == ['eval "$(_KYMAPROV_COMPLETE=bash_source kymaprov)"']
    # a 'kymaprov' on PATH that runs this tree's package, as the installed script would
    (tmp_path / "kymaprov").write_text(f"#!{sys.executable}\nfrom kymaprov.cli.main import main\nmain()\n")
    (tmp_path / "kymaprov").chmod(0o755)
    script = lines[0] + (
        "\ntype -t _kymaprov_completion"
        '\nCOMP_WORDS=(kymaprov bind); COMP_CWORD=1; _kymaprov_completion kymaprov; echo "${COMPREPLY[*]}"'
        "\nCOMP_WORDS=(kymaprov plans -o ''); COMP_CWORD=3; COMPREPLY=(); _kymaprov_completion kymaprov"
        '; echo "${COMPREPLY[*]}"'
    )
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["function", "bindings", "table json yaml"]
