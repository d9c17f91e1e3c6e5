"""``--runtimes-config``: a bad file stops ``kymaprov serve`` with one line naming the place; pool
claims are durable and exclusive, so concurrent creates (as on several replicas) never share a cluster."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kymaprov.backends.base import ClusterAccess, ClusterShape
from kymaprov.backends.clusterapi import ClassSettings
from kymaprov.backends.pool import PoolMember, PoolRuntimes, pool_claims
from kymaprov.backends.runtimes import RuntimesConfigError, load_runtimes_config
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.crypto import issue_ca
from kymaprov.provisioning.catalog import PLANS
from tests.conftest import POSTGRES_URL, free_port
from tests.test_serve import serve


def kubeconfig(path: Path, user: str) -> Path:
    ca = base64.b64encode(issue_ca("test").cert_pem.encode()).decode()
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n    certificate-authority-data: {ca}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        f"users:\n- name: u\n  user: {user}\n"
    )
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "backends: {lab: {type: gke}}",
            "backends/lab/type: 'gke' is not one of ['pool', 'gardener', 'cluster-api']",
        ),
        (
            "backends: {capi: {type: cluster-api, kubeconfig: k.yaml, kubernetesVersion: v1.33.1}}",
            "backends/capi: 'namespace' is a required property",
        ),
        (
            "plans: {aws: capi}\nbackends: {capi: {type: cluster-api, kubeconfig: t.yaml, namespace: rt,"
            " kubernetesVersion: v1.33.1, plans: {gcp: {clusterClass: kyma-gcp}}}}",
            "backends/capi: plans/aws: no clusterClass (set it here or for the whole backend)",
        ),
        (
            "backends: {capi: {type: cluster-api, kubeconfig: t.yaml, namespace: rt, kubernetesVersion: v1.3.3,"
            " plans: {mars: {clusterClass: c}}}}",
            "backends/capi/plans/mars: no such plan",
        ),
        (
            "backends: {capi: {type: cluster-api, kubeconfig: k.yaml, namespace: rt, kubernetesVersion: 1.33}}",
            "backends/capi/kubernetesVersion: 1.33 is not of type 'string'",
        ),
        (
            "backends: {capi: {type: cluster-api, kubeconfig: k.yaml, namespace: rt, kubernetesVersion: v1,"
            " clusterClass: c}}",
            "backends/capi/kubernetesVersion: 'v1' does not match",
        ),
        (
            "backends: {capi: {type: cluster-api, kubeconfig: k.yaml, namespace: rt,"
            " kubernetesVersion: v1.33.1, clusterClass: c}}",
            "backends/capi: ",  # the management cluster's user has no credentials
        ),
        (
            "backends: {g: {type: gardener, kubeconfig: k.yaml}}",
            "backends/g: 'project' is a required property",
        ),
        (
            "backends: {g: {type: gardener, kubeconfig: k.yaml, project: dev, providers: {alibaba: {}}}}",
            "backends/g/providers: 'alibaba' is not one of ['aws', 'azure', 'gcp', 'openstack']",
        ),
        (
            "backends: {g: {type: gardener, kubeconfig: k.yaml, project: dev, providers: {aws: {}}}}",
            "backends/g/providers/aws: 'credentialsBindingName' is a required property",
        ),
        (
            "backends: {g: {type: gardener, kubeconfig: k.yaml, project: Dev_1, providers: {gcp: {secretBindingName: g}}}}",
            "backends/g/project: 'Dev_1' does not match",
        ),
        (
            "backends: {g: {type: gardener, kubeconfig: none.yaml, project: dev,"
            " providers: {aws: {credentialsBindingName: aws}}}}",
            "backends/g: cannot read kubeconfig",
        ),
        ("backends: {lab: {type: pool}}", "backends/lab: 'clusters' is a required property"),
        ("plans: {aws: lab}", "plans/aws: no backend named 'lab'"),
        ("plans: {nope: embedded}", "plans/nope: no such plan"),
        ("default: [x]", "default: ['x'] is not of type 'string'"),
        (
            "backends: {lab: {type: pool, clusters: [{name: a, kubeconfig: missing.yaml}]}}",
            "backends/lab/clusters/0: cannot read kubeconfig",
        ),
        (
            "backends: {lab: {type: pool, clusters: [{name: a, kubeconfig: k.yaml}]}}",
            "backends/lab/clusters/0: ",  # the user has no credentials
        ),
        ("backends: {lab: [", "not YAML"),
    ],
)
def test_a_bad_file_is_one_clear_line(tmp_path: Path, text: str, says: str) -> None:
    kubeconfig(tmp_path / "k.yaml", "{}")
    kubeconfig(tmp_path / "t.yaml", "{token: abc}")
    config = tmp_path / "runtimes.yaml"
    config.write_text(text)
    with pytest.raises(RuntimesConfigError) as error:
        load_runtimes_config(config, PLANS)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_serve_refuses_a_bad_file_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "runtimes.yaml"
    config.write_text("plans: {aws: lab}")
    result = serve(
        tmp_path / "data",
        "--port", str(free_port()), "--kube-port", str(free_port()), "--runtimes-config", str(config),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "plans/aws: no backend named 'lab'" in result.stderr and "Traceback" not in result.stderr


def test_a_good_file_reads_token_and_certificate_kubeconfigs(tmp_path: Path) -> None:
    kubeconfig(tmp_path / "token.yaml", "{token: abc}")
    kubeconfig(tmp_path / "cert.yaml", "{client-certificate-data: Y2VydA==, client-key-data: a2V5}")
    config = tmp_path / "runtimes.yaml"
    config.write_text(
        "plans: {aws: lab}\nbackends:\n  lab:\n    type: pool\n    clusters:\n"
        "      - {name: one, kubeconfig: token.yaml}\n      - {name: two, kubeconfig: cert.yaml}\n"
    )
    loaded = load_runtimes_config(config, PLANS)
    assert loaded.default == "embedded" and loaded.plans == {"aws": "lab"}
    one, two = loaded.pools["lab"].members
    assert (one.name, one.access.token, one.access.server) == ("one", "abc", "https://127.0.0.1:9")
    assert (two.access.token, two.access.client_cert_data, two.access.client_key_data) == (
        "",
        "Y2VydA==",
        "a2V5",
    )


def test_a_cluster_api_backend_takes_each_plans_class_from_its_own_settings_or_the_backends(
    tmp_path: Path,
) -> None:
    kubeconfig(tmp_path / "management.yaml", "{token: abc}")
    config = tmp_path / "runtimes.yaml"
    config.write_text(
        "default: capi\nplans: {trial: embedded}\nbackends:\n  capi:\n    type: cluster-api\n"
        "    kubeconfig: management.yaml\n    namespace: runtimes\n    kubernetesVersion: v1.32.4\n"
        "    clusterClass: kyma\n    variables: {a: 1, b: 2}\n"
        "    plans: {gcp: {clusterClass: kyma-gcp, classNamespace: classes, autoscaler: false,"
        " kubernetesVersion: v1.33.1, variables: {b: 3}, shapeVariables: {zones: null, region: location}}}\n"
    )
    capi = load_runtimes_config(config, PLANS).cluster_api["capi"]
    assert (capi.namespace, capi.management.token, capi.poll_seconds) == ("runtimes", "abc", 10.0)
    assert capi.settings("aws") == ClassSettings("kyma", "v1.32.4", variables={"a": 1, "b": 2})
    assert capi.settings("gcp") == ClassSettings(
        "kyma-gcp",
        "v1.33.1",
        class_namespace="classes",
        autoscaler=False,
        variables={"a": 1, "b": 3},
        shape_variables={"region": "location", "machineType": "machineType", "nodesCIDR": "nodesCIDR"},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Context]:
    url = None
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set KYMAPROV_TEST_POSTGRES to run against PostgreSQL")
        url = request.getfixturevalue("postgres_database")
    context = Context.open(Settings(data_dir=tmp_path / "data", database_url=url))
    yield context
    context.store.dispose()


def test_concurrent_creates_never_share_a_cluster(ctx: Context) -> None:
    unreachable = ClusterAccess(server="https://127.0.0.1:9", ca_data="", token="t")
    members = [PoolMember(f"m{i}", unreachable) for i in range(2)]
    replicas = [PoolRuntimes(ctx, "lab", members) for _ in range(6)]  # one per replica, one database
    results: dict[str, str | None] = {}

    def create(i: int) -> None:
        results[f"env-{i}"] = replicas[i].create(f"env-{i}", "n", ClusterShape()).failed

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with ctx.store.read() as conn:
        claims = conn.execute(sa.select(pool_claims.c.member, pool_claims.c.cluster_id)).all()
    assert sorted(member for member, _ in claims) == ["m0", "m1"]
    claimed = {cluster_id for _, cluster_id in claims}
    assert {env for env, failed in results.items() if failed is None} == claimed
    assert all("No free cluster in the pool 'lab'" in str(results[env]) for env in set(results) - claimed)
    # a repeated create of a claimed environment finds its claim: no second cluster
    again = next(iter(claimed))
    assert replicas[0].create(again, "n", ClusterShape()).failed is None
    with ctx.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pool_claims)).scalar() == 2
