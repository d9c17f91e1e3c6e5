"""The README's procedure block runs as pasted, against a real ``kymaprov serve`` and the real kubectl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KUBECTL_DIR, RunningServer

README = Path(__file__).parents[2] / "README.md"


def procedure_block() -> str:
    """The bash block under "The documented procedure, against kymaprov", exactly as written."""
    section = README.read_text().split("## The documented procedure, against kymaprov", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert match, "the README lost its procedure block"
    return match.group(1)


@pytest.mark.skipif(not shutil.which("jq") or not shutil.which("curl"), reason="needs curl and jq")
def test_the_readme_procedure_runs_as_pasted(server: RunningServer, tmp_path: Path) -> None:
    env = server.env  # KYMAPROV_DATA_DIR: the login btp reads, as the banner says to export
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), str(KUBECTL_DIR), env.get("PATH", "")])
    env["HOME"] = str(tmp_path)
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")
    result = subprocess.run(
        ["bash", "-c", procedure_block()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    kubeconfig = (tmp_path / "kubeconfig.yaml").read_text()
    assert "kind: Config" in kubeconfig and "current-context: my-runtime" in kubeconfig, report
    # the first kubectl worked, the one after the DELETE was refused
    assert "No resources found in default namespace." in result.stderr, report
    assert "You must be logged in to the server" in result.stderr, report
    assert '"environmentType": "kyma"' in result.stdout, report  # availableEnvironments, pretty-printed
