"""The documented procedure, verbatim, against a real ``kymaprov serve``.

The commands are taken from the seed document itself (its fenced code blocks, in order), so the
script cannot drift from the text; only the ``{PLACEHOLDER}`` values are filled in, and poll loops
stand where the document says "after the provisioning is completed" and after deprovisioning.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import KUBECTL_DIR, RunningServer

# a copy of the documented procedure (shared/seed/000_4fbb6ae3b26ac3ed.txt), so CI needs nothing outside the repo
SEED = Path(__file__).with_name("seed_procedure.txt")

PLACEHOLDERS = {
    "{CIS_INSTANCE_NAME}": "kyma-cis",
    "{RUNTIME_NAME}": "my-kyma-runtime",
    "{CLUSTER_REGION}": "eu-central-1",
    "{KYMA_RUNTIME_PLAN_NAME}": "aws",
    "{USER_ID}": "jane.doe@example.com",
    "{EXPIRATION_SECONDS}": "900",
}

WAIT_FOR_OK = """
for i in $(seq 1 300); do
  STATE=$(curl -s "$PROVISIONING_SERVICE_URL/provisioning/v1/environments/$INSTANCE_ID" -H "Authorization: bearer $TOKEN" | jq -r '.state')
  [ "$STATE" = "OK" ] && break
  sleep 0.2
done
"""

WAIT_FOR_404 = """
for i in $(seq 1 300); do
  CODE=$(curl -s -o /dev/null -w '%{http_code}' "$PROVISIONING_SERVICE_URL/provisioning/v1/environments/$INSTANCE_ID" -H "Authorization: bearer $TOKEN")
  [ "$CODE" = "404" ] && break
  sleep 0.2
done
curl -s -w '\\nHTTP %{http_code}\\n' "$PROVISIONING_SERVICE_URL/provisioning/v1/environments/$INSTANCE_ID" -H "Authorization: bearer $TOKEN"
"""


def seed_blocks() -> list[str]:
    """The fenced code blocks of the seed, dedented, in document order."""
    text = SEED.read_text()
    blocks = re.findall(r"^([ \t]*)```[^\n]*\n(.*?)^\1```", text, flags=re.S | re.M)
    return [textwrap.dedent(body).strip() for _, body in blocks]


def fill(block: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        # `{NAME}` is a placeholder; `${NAME}` is a shell variable and stays
        block = re.sub(r"(?<!\$)" + re.escape(placeholder), value, block)
    assert not re.search(r"(?<!\$)\{[A-Z_]+\}", block), f"unfilled placeholder in {block!r}"
    return block


def build_script() -> str:
    blocks = seed_blocks()
    # 17 blocks: steps 1.1-1.3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 (delete, kubectl), next steps
    assert len(blocks) == 17, f"the seed changed: {len(blocks)} code blocks"
    parts = ["#!/usr/bin/env bash"]
    for number, block in enumerate(blocks):
        if number == 9:  # step 8: "After the provisioning is completed, create the binding"
            parts.append(WAIT_FOR_OK)
        parts.append(f'echo "@@BEGIN {number}"')
        parts.append(fill(block))
        parts.append(f'echo "@@END {number} rc=$?"')
    parts.append(WAIT_FOR_404)
    parts.append('echo "@@DONE INSTANCE_ID=$INSTANCE_ID BINDING_ID=$BINDING_ID"')
    return "\n".join(parts) + "\n"


def sections(output: str) -> dict[int, tuple[str, int]]:
    found = {}
    for m in re.finditer(r"@@BEGIN (\d+)\n(.*?)@@END \1 rc=(\d+)", output, flags=re.S):
        found[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return found


@pytest.mark.skipif(not shutil.which("jq") or not shutil.which("curl"), reason="needs curl and jq")
def test_seed_procedure_runs_verbatim(server: RunningServer, tmp_path: Path) -> None:
    script = tmp_path / "procedure.sh"
    script.write_text(build_script())
    env = server.env
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, str(KUBECTL_DIR), env.get("PATH", "")])
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    out = result.stdout
    steps = sections(out)
    report = f"stdout:\n{out}\nstderr:\n{result.stderr}\nserver log:\n{server.log()}"
    assert len(steps) == 17, report

    # 1-3: btp made the cis instance and binding; the token request worked
    for step in (1, 2, 3, 4):
        assert steps[step][1] == 0, report
    # 4: availableEnvironments lists Kyma (jq pretty-printed it)
    available = steps[5][0]
    assert '"environmentType": "kyma"' in available and '"serviceName": "kymaruntime"' in available, report
    # 6 + poll: the environment reached OK; 8: the binding id came from the lowercase location header
    done = re.search(r"@@DONE INSTANCE_ID=(\S+) BINDING_ID=(\S+)", out)
    assert done, report
    instance_id, binding_id = done.groups()
    assert re.fullmatch(r"[0-9A-F-]{36}", instance_id), report
    assert re.fullmatch(r"[0-9a-f-]{36}", binding_id), report
    # 9-11: the kubeconfig was written and 'kubectl get pods' succeeded with it
    kubeconfig = (tmp_path / "kubeconfig.yaml").read_text()
    assert "kind: Config" in kubeconfig and "current-context: my-kyma-runtime" in kubeconfig, report
    assert steps[12][1] == 0, report
    assert "No resources found in default namespace." in result.stderr, report
    # 12: the list shows the binding
    assert f'"bindingId":"{binding_id}"' in steps[13][0], report
    # 13: after the DELETE, kubectl is refused
    assert steps[14][1] == 0, report
    assert steps[15][1] != 0, report
    assert "You must be logged in to the server" in result.stderr, report
    # next steps: deprovisioned, then GET is 404 "Environment instance not found"
    assert "HTTP 404" in out and "Environment instance not found" in out, report
