"""Reading a binding's kubeconfig and building the exec one (pure functions; no server needed)."""

from __future__ import annotations

import pytest
import yaml

from kymaprov.client.kubeconfig import KubeconfigError, KubeconfigInfo, exec_kubeconfig, parse_kubeconfig

# KEB's template, as kymaprov renders it (leading "---", tls-server-name added)
BINDING_KUBECONFIG = """
---
apiVersion: v1
kind: Config
current-context: my-rt
clusters:
- name: my-rt
  cluster:
    certificate-authority-data: Q0EK
    server: https://127.0.0.1:6443/clusters/abc
    tls-server-name: abc.clusters.kymaprov.local
contexts:
- name: my-rt
  context:
    cluster: my-rt
    user: my-rt
users:
- name: my-rt
  user:
    token: secret-token
  """


def test_parse_binding_kubeconfig() -> None:
    info = parse_kubeconfig(BINDING_KUBECONFIG)
    assert info == KubeconfigInfo(
        name="my-rt",
        server="https://127.0.0.1:6443/clusters/abc",
        ca_data="Q0EK",
        tls_server_name="abc.clusters.kymaprov.local",
        token="secret-token",
    )
    assert "secret-token" not in repr(info)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid YAML"),
        ("- a", "not a YAML mapping"),
        ("apiVersion: v1", "no current-context"),
        (
            BINDING_KUBECONFIG.replace("current-context: my-rt", "current-context: other"),
            "no context named 'other'",
        ),
        (BINDING_KUBECONFIG.replace("    server: https://127.0.0.1:6443/clusters/abc\n", ""), "lacks server"),
    ],
)
def test_unreadable_kubeconfigs_raise_kubeconfig_error(text: str, message: str) -> None:
    with pytest.raises(KubeconfigError, match=message) as info:
        parse_kubeconfig(text)
    assert info.value.exit_code == 7


def test_exec_kubeconfig_keeps_the_cluster_and_replaces_the_user() -> None:
    info = parse_kubeconfig(BINDING_KUBECONFIG)
    config = yaml.safe_load(exec_kubeconfig(info, "/usr/bin/python3", ["-m", "kymaprov", "exec-credential"]))
    assert config["clusters"][0]["cluster"]["tls-server-name"] == "abc.clusters.kymaprov.local"
    assert config["current-context"] == "my-rt"
    user = config["users"][0]["user"]
    assert "token" not in user
    assert user["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "/usr/bin/python3",
        "args": ["-m", "kymaprov", "exec-credential"],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }
    assert "secret-token" not in exec_kubeconfig(info, "x", [])
