"""How the runtime plays containers it never runs: which images cannot be pulled, which commands
exit, what a container logs, and the per-runtime rules a test sets (kwok's Stages, as a ConfigMap).

Decided without any network lookup:

- an image reference the docker reference grammar refuses is ``InvalidImageName`` (as the kubelet
  says it; the pod is never Ready);
- an image whose registry host is a reserved name (RFC 2606 / RFC 6761: ``*.invalid``, ``*.test``,
  ``*.example``, ``*.localhost``, ``localhost``, ``example.com|net|org``) cannot be pulled:
  ``ErrImagePull``, then ``ImagePullBackOff``;
- a rule may name more images that cannot be pulled.

A container *exits* when its command (``command`` + ``args``, or ``args`` alone) is a one-shot: a
program from ``ONE_SHOT`` (``echo``, ``true``, ``date``, ...), ``false`` (exit 1), ``exit N``,
``sleep N`` (after N seconds; ``sleep infinity`` never), or a shell ``-c`` script without a loop,
``tail -f``, ``sleep infinity`` or ``wait`` (it exits after the sum of its ``sleep``s, with its last
``exit N``). An empty command (the image's own entrypoint) in a pod a Job owns is taken to be the
job's work and exits 0 (kwok's ``pod-complete`` stage does the same); anywhere else an empty command,
and anything not listed, runs until stopped.

Rules: the ConfigMap ``kymaprov-simulation`` in ``kube-system``, key ``rules.yaml``::

    rules:
    - name: api-crashes            # for messages
      namespace: default           # optional: only pods in this namespace
      selector: {matchLabels: {app: api}}   # optional: a label selector on the pod
      image: "*/api:*"             # optional: a glob on the container's image
      container: web               # optional: only this container
      crash: {afterSeconds: 5, exitCode: 1}  # it exits (again after each restart)
      notReady: true               # it runs but never becomes Ready
      delaySeconds: 30             # starting takes this much longer (ContainerCreating)
      pullError: true              # its image cannot be pulled
      logs: ["line one", "line two"]         # lines it logs after starting
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from kymaprov.kubeapi.selectors import Requirement, from_label_selector

RULES_NAMESPACE = "kube-system"
RULES_CONFIGMAP = "kymaprov-simulation"
RULES_KEY = "rules.yaml"

# --- image references (github.com/distribution/reference's grammar) --------------------------------

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_RESERVED_SUFFIXES = (".invalid", ".test", ".example", ".localhost")
_RESERVED_NAMES = {"localhost", "invalid", "test", "example", "example.com", "example.net", "example.org"}


@dataclass(frozen=True)
class Image:
    """A parsed reference, with the names containerd reports (``docker.io/library/nginx:latest``)."""

    text: str
    domain: str  # the registry host ("docker.io" when none is named)
    path: str  # the repository path in the registry ("library/nginx")
    tag: str
    digest: str

    @property
    def full(self) -> str:
        """The normalized reference (``docker.io/library/nginx:1.27``)."""
        base = f"{self.domain}/{self.path}"
        return base + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_image(text: str) -> Image | str:
    """The reference, or the reason it is malformed (the kubelet's message)."""
    if not text:
        return "invalid reference format"
    if len(text) > 255 + 129 + 72:
        return "invalid reference format"
    match = _REFERENCE.match(text)
    if match is None:
        if _REFERENCE.match(text.lower()):
            return "invalid reference format: repository name (library/x) must be lowercase"
        return "invalid reference format"
    name, domain = match.group("name"), match.group("domain")
    first = name.split("/", 1)[0]
    if domain is None or not ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = "docker.io", name
    else:
        path = name.split("/", 1)[1]
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if len(name) > 255:
        return "repository name must not be more than 255 characters"
    tag = match.group("tag") or ("" if match.group("digest") else "latest")
    return Image(text, domain, path, tag, match.group("digest") or "")


def unreachable_host(image: Image) -> bool:
    """A registry host that cannot resolve anywhere: a reserved name (RFC 2606, RFC 6761)."""
    host = image.domain.rsplit(":", 1)[0].lower().rstrip(".") if "]" not in image.domain else ""
    return host in _RESERVED_NAMES or host.endswith(_RESERVED_SUFFIXES)


def pull_failure(image: Image) -> str:
    """What containerd answers when the registry host does not resolve."""
    host = image.domain.rsplit(":", 1)[0]
    reference = image.tag or image.digest
    return (
        f'failed to pull and unpack image "{image.full}": failed to resolve reference "{image.full}": '
        f'failed to do request: Head "https://{image.domain}/v2/{image.path}/manifests/{reference}": '
        f"dial tcp: lookup {host}: no such host"
    )


# --- commands ------------------------------------------------------------------------------------

ONE_SHOT = {
    "echo", "printf", "true", "date", "env", "printenv", "whoami", "hostname", "id", "uname", "ls",
    "pwd", "cat", "nslookup", "curl", "wget", "ping", "dig", "df", "du", "ps", "nproc", "uptime",
}  # fmt: skip
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "busybox sh"}
_LONG_RUNNING = re.compile(r"\b(while|until|wait)\b|tail\s+-[a-zA-Z]*f|sleep\s+inf|for\s*\(\(\s*;\s*;")
_SLEEP = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)")
_EXIT = re.compile(r"\bexit\s+(\d+)\s*;?\s*$")


@dataclass(frozen=True)
class Run:
    """How a container's process behaves: it exits (after ``seconds``, with ``code``) or it runs."""

    exits: bool
    seconds: float = 0.0
    code: int = 0
    output: tuple[str, ...] = ()  # what its ``echo``s print


def _echo_output(argv: list[str]) -> str:
    words = argv[1:]
    if words[:1] == ["-n"]:
        words = words[1:]
    return " ".join(words)


def _script(script: str) -> Run:
    if _LONG_RUNNING.search(script):
        return Run(False)
    seconds = sum(float(s) for s in _SLEEP.findall(script))
    exit_code = _EXIT.search(script.strip())
    output = []
    for statement in re.split(r"(?:&&|\|\||;|\n)", script):
        try:
            argv = shlex.split(statement)
        except ValueError:
            continue
        if argv[:1] == ["echo"]:
            output.append(_echo_output(argv))
    return Run(True, seconds, int(exit_code.group(1)) if exit_code else 0, tuple(output))


def owned_by_job(pod: dict[str, Any]) -> bool:
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(o, dict) and o.get("kind") == "Job" for o in owners)


def run_of(container: dict[str, Any], job: bool = False) -> Run:
    """The container's behaviour from its ``command`` and ``args`` (see the module's rule); ``job``:
    its pod belongs to a Job."""
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    argv = command + args if command else args
    if not argv:
        return Run(job)
    program = argv[0].rsplit("/", 1)[-1]
    if program == "busybox" and len(argv) > 1:
        argv, program = argv[1:], argv[1]
    if program in _SHELLS and "-c" in argv[1:2] + argv[1:3]:
        position = argv.index("-c")
        return _script(" ".join(argv[position + 1 :]))
    if program == "false":
        return Run(True, 0.0, 1)
    if program == "exit":
        return Run(True, 0.0, int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 0)
    if program == "sleep":
        try:
            return Run(True, float(argv[1]) if len(argv) > 1 else 0.0)
        except ValueError:  # sleep infinity
            return Run(False)
    if program in ONE_SHOT:
        output = (_echo_output(argv),) if program == "echo" else ()
        return Run(True, 0.0, 0, output)
    return Run(False)


def ignores_term(container: dict[str, Any]) -> bool:
    """Whether the container's PID 1 ignores SIGTERM: a shell running a script that does not end, or
    ``sleep`` (neither installs a handler, and PID 1 gets no default one), so only the kill at the
    end of the grace period stops it."""
    command = [str(c) for c in container.get("command") or []]
    argv = command + [str(a) for a in container.get("args") or []] if command else []
    if not argv:
        argv = [str(a) for a in container.get("args") or []]
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if program == "sleep":
        return True
    return program in _SHELLS and not run_of(container).exits


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    namespace: str | None = None
    selector: list[Requirement] | None = None
    image: str | None = None
    container: str | None = None
    crash_after: float | None = None
    crash_code: int = 1
    not_ready: bool = False
    delay: float = 0.0
    pull_error: bool = False
    logs: tuple[str, ...] = field(default=())

    def applies(self, pod: dict[str, Any], container: dict[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.selector is not None:
            labels = meta.get("labels") or {}
            if not all(r.matches(labels) for r in self.selector):
                return False
        if self.image is not None and not fnmatch.fnmatchcase(str(container.get("image", "")), self.image):
            return False
        return self.container is None or container.get("name") == self.container


def _number(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def parse_rules(text: str) -> list[Rule]:
    """The rules of the ConfigMap's ``rules.yaml``; a malformed document or entry is skipped (the
    kubelet stand-in must not stop over a test's typo)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    entries = document.get("rules") if isinstance(document, dict) else None
    rules = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        selector = None
        if entry.get("selector") is not None:
            selector = from_label_selector(entry["selector"])
            if selector is None:
                continue
        crash = entry.get("crash")
        logs = entry.get("logs")
        rules.append(
            Rule(
                name=str(entry.get("name") or f"rule-{index}"),
                namespace=str(entry["namespace"]) if entry.get("namespace") else None,
                selector=selector,
                image=str(entry["image"]) if entry.get("image") else None,
                container=str(entry["container"]) if entry.get("container") else None,
                crash_after=_number(crash.get("afterSeconds"), 1.0) if isinstance(crash, dict) else None,
                crash_code=int(_number(crash.get("exitCode"), 1)) if isinstance(crash, dict) else 1,
                not_ready=entry.get("notReady") is True,
                delay=max(_number(entry.get("delaySeconds")), 0.0),
                pull_error=entry.get("pullError") is True,
                logs=tuple(str(line) for line in logs) if isinstance(logs, list) else (),
            )
        )
    return rules


def rules_of(configmap: dict[str, Any] | None) -> list[Rule]:
    if not configmap:
        return []
    return parse_rules(str((configmap.get("data") or {}).get(RULES_KEY, "")))


@dataclass(frozen=True)
class Behaviour:
    """What the rules that apply to one container say (merged in order)."""

    crash_after: float | None = None
    crash_code: int = 1
    not_ready: bool = False
    delay: float = 0.0
    pull_error: str = ""  # the rule's name when one makes the pull fail
    logs: tuple[str, ...] = ()


def behaviour(rules: list[Rule], pod: dict[str, Any], container: dict[str, Any]) -> Behaviour:
    result = Behaviour()
    for rule in rules:
        if not rule.applies(pod, container):
            continue
        result = Behaviour(
            crash_after=rule.crash_after if rule.crash_after is not None else result.crash_after,
            crash_code=rule.crash_code if rule.crash_after is not None else result.crash_code,
            not_ready=result.not_ready or rule.not_ready,
            delay=result.delay + rule.delay,
            pull_error=result.pull_error or (rule.name if rule.pull_error else ""),
            logs=result.logs + rule.logs,
        )
    return result
