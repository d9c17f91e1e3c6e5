"""Jobs and CronJobs with the real kubectl 1.30 and 1.33, run by the runtime's Job and CronJob
controllers: a Job whose command exits completes (``kubectl wait --for=condition=complete``), and a
CronJob makes its Job once the service clock passes its schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess

from .conftest import Kubectl
from .test_deployments import eventually, get, ok


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_a_job_completes_and_kubectl_wait_returns(
    access: ClusterAccess, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert ok(kubectl, "create", "job", "hello", "--image=busybox:1.36", "--", "echo", "hi") == (
        "job.batch/hello created\n"
    )
    waited = ok(kubectl, "wait", "--for=condition=complete", "job/hello", "--timeout=45s")
    assert waited == "job.batch/hello condition met\n"
    job = get(kubectl, "job", "hello")
    assert job["status"]["succeeded"] == 1
    assert job["status"]["startTime"] and job["status"]["completionTime"]
    types = [c["type"] for c in job["status"]["conditions"]]
    assert types == ["SuccessCriteriaMet", "Complete"]
    (pod,) = get(kubectl, "pods", "-l", "job-name=hello")["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    events = ok(kubectl, "get", "events", "--field-selector", "involvedObject.name=hello")
    assert "SuccessfulCreate" in events and "Completed" in events


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_a_cron_job_fires_after_the_clock_advances(
    kube_server: Any, access: ClusterAccess, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    ok(
        kubectl,
        "create",
        "cronjob",
        "tick",
        "--image=busybox:1.36",
        "--schedule=*/5 * * * *",
        "--",
        "echo",
        "hi",
    )
    assert get(kubectl, "jobs")["items"] == []
    kube_server.ctx.clock.advance(300)
    (job,) = eventually(lambda: get(kubectl, "jobs")["items"], "the CronJob's Job")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["name"].startswith("tick-")
    cron = eventually(
        lambda: (
            get(kubectl, "cronjob", "tick").get("status", {}).get("lastScheduleTime")
            and get(kubectl, "cronjob", "tick")
        ),
        "lastScheduleTime",
    )
    assert cron["status"]["lastScheduleTime"]
    ok(kubectl, "wait", "--for=condition=complete", f"job/{job['metadata']['name']}", "--timeout=45s")
