"""What the simulated kubelet decides from a pod's spec alone: image references and commands."""

from __future__ import annotations

import pytest

from kymaprov.kubeapi import simulation
from kymaprov.kubeapi.controllers.podstatus import backoff, pod_state


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("registry:5000/team/app@sha256:" + "a" * 64, "registry:5000/team/app@sha256:" + "a" * 64),
    ],
)
def test_references_normalize_as_containerd_does(image: str, full: str) -> None:
    parsed = simulation.parse_image(image)
    assert isinstance(parsed, simulation.Image) and parsed.full == full


@pytest.mark.parametrize("image", ["", "Nginx", "nginx:", "a b", "nginx::1", "-bad/x", "x@sha256:short"])
def test_malformed_references(image: str) -> None:
    assert isinstance(simulation.parse_image(image), str)


@pytest.mark.parametrize(
    ("container", "exits", "seconds", "code"),
    [
        ({"image": "nginx"}, False, 0, 0),
        ({"command": ["echo", "hi"]}, True, 0, 0),
        ({"args": ["date"]}, True, 0, 0),
        ({"command": ["/bin/false"]}, True, 0, 1),
        ({"command": ["sleep", "30"]}, True, 30, 0),
        ({"command": ["sleep", "infinity"]}, False, 0, 0),
        ({"command": ["sh", "-c", "echo a; sleep 2; sleep 3; exit 4"]}, True, 5, 4),
        ({"command": ["sh", "-c", "while true; do sleep 1; done"]}, False, 0, 0),
        ({"command": ["/bin/sh"], "args": ["-c", "tail -f /dev/null"]}, False, 0, 0),
        ({"command": ["nginx", "-g", "daemon off;"]}, False, 0, 0),
    ],
)
def test_which_commands_exit(container: dict[str, object], exits: bool, seconds: float, code: int) -> None:
    run = simulation.run_of(container)
    assert (run.exits, run.seconds, run.code) == (exits, seconds, code)


def test_rules_match_and_merge() -> None:
    rules = simulation.parse_rules(
        """
rules:
- {name: a, namespace: prod, selector: {matchLabels: {app: api}}, delaySeconds: 5}
- {name: b, image: "*/api:*", notReady: true, logs: [x]}
- {name: broken, selector: {matchExpressions: [{key: a, operator: Bogus}]}, notReady: true}
- not a rule
"""
    )
    assert [r.name for r in rules] == ["a", "b"]
    pod = {"metadata": {"namespace": "prod", "labels": {"app": "api"}}}
    found = simulation.behaviour(rules, pod, {"name": "c", "image": "ghcr.io/api:1"})
    assert (found.delay, found.not_ready, found.logs) == (5.0, True, ("x",))
    other = simulation.behaviour(rules, {"metadata": {"namespace": "dev"}}, {"image": "nginx"})
    assert other == simulation.Behaviour()
    assert simulation.parse_rules("rules: [") == []


def test_state_follows_the_clock() -> None:
    """A pod's status at any time follows from its start: a jump lands where the pod would be."""
    spec = {"restartPolicy": "Always", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}
    pod = {"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": spec,
           "status": {"startTime": "2026-01-01T00:00:00Z"}}  # fmt: skip
    start = 1767225600.0
    assert pod_state(pod, "10.0.0.1", "100.64.0.2", [], start + 0.5).status["phase"] == "Pending"
    later = pod_state(pod, "10.0.0.1", "100.64.0.2", [], start + 1000)
    container = later.status["containerStatuses"][0]
    # runs at 1 s and exits at once; restarts after back-offs of 0, 10, 20, 40, 80, 160, 300 and 300 s:
    # at 1, 11, 31, 71, 151, 311, 611 and 911 s, the next at 1211 s
    assert [backoff(n) for n in range(9)] == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert container["restartCount"] == 8 and later.status["phase"] == "Running"
    assert later.next_change == start + 1211
    assert container["lastState"]["terminated"]["reason"] == "Completed"
    assert {e.reason for e in later.events} >= {"Pulling", "Pulled", "Created", "Started", "BackOff"}


def test_qos_classes() -> None:
    from kymaprov.kubeapi.defaults import qos_class

    def spec(**resources: object) -> dict[str, object]:
        return {"containers": [{"name": "c", "image": "x", "resources": resources}]}

    assert qos_class(spec()) == "BestEffort"
    assert qos_class(spec(requests={"cpu": "100m"})) == "Burstable"
    assert qos_class(spec(limits={"cpu": "1", "memory": "1Gi"})) == "Guaranteed"
    assert qos_class(spec(limits={"cpu": "1", "memory": "1Gi"}, requests={"cpu": "500m"})) == "Burstable"
