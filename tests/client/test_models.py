"""Decoding the exact wire examples of the reference (provisioning-api.md §3, §6, §8, §2.9-2.11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kymaprov.client import (
    AvailableEnvironment,
    Binding,
    BindingMetadata,
    Environment,
    JobStatus,
    Labels,
    PlanAssignment,
)
from kymaprov.client.models import parse_timestamp

# §3: the real CF instance, dates in the raw API's epoch-ms form
CF_INSTANCE = json.loads(r"""
{"id":"A12A41D2-E084-4965-A4D6-277E411A87C4","name":"cloudFoundry-from-terraform",
 "brokerId":"ACCB9B9A-AC3E-4DC4-9496-78172D28DEC6","globalAccountGUID":"03760ecf-9d89-4189-a92a-1c7efed09298",
 "subaccountGUID":"77395f6a-a601-4c9e-8cd0-c1fcefc7f60f","tenantId":"77395f6a-a601-4c9e-8cd0-c1fcefc7f60f",
 "serviceId":"fa31b750-375f-4268-bee1-604811a89fd9","planId":"fc5abe63-2a7d-4848-babf-f63a5d316df1",
 "operation":"provision",
 "parameters":"{\"instance_name\":\"cf-terraform-org\",\"users\":[{\"id\":\"john.doe@int.test\",\"email\":\"john.doe@int.test\"}],\"status\":\"ACTIVE\"}",
 "labels":"{\"API Endpoint\":\"https://api.cf.eu12-001.hana.ondemand.com\",\"Org Name\":\"cf-terraform-org\",\"Org ID\":\"73441010-bf6c-44bd-9db2-5db5b34484d8\",\"Org Memory Limit\":\"204,800MB\"}",
 "customLabels":{},"type":"Provision","status":"Processed","environmentType":"cloudfoundry",
 "landscapeLabel":"cf-eu12-001","platformId":"73441010-bf6c-44bd-9db2-5db5b34484d8",
 "createdDate":1784121973000,"modifiedDate":1784121981000,
 "state":"OK","stateMessage":"Environment instance created.","serviceName":"cloudfoundry","planName":"standard"}
""")

# §3: the composed Kyma instance
KYMA_INSTANCE = json.loads(r"""
{"id":"ABCDEB98-AABB-1234-ABAB-186489849D6F","name":"my-kyma","brokerId":"x","globalAccountGUID":"ga",
 "subaccountGUID":"sa-1","tenantId":"sa-1","serviceId":"47c9dcbf-ff30-448e-ab36-d3bad66ba281",
 "planId":"361c511f-f939-4621-b228-d0fb79a1fe15","serviceName":"kymaruntime","planName":"aws",
 "environmentType":"kyma","operation":"provision","type":"Provision","status":"Processed",
 "parameters":"{\"name\":\"my-kyma\",\"region\":\"eu-central-1\"}",
 "labels":"{\"APIServerURL\":\"https://api.c-1234567.kyma.ondemand.com\",\"KubeconfigURL\":\"https://kyma-env-broker.cp.kyma.cloud.sap/kubeconfig/ABCDEB98-AABB-1234-ABAB-186489849D6F\",\"Name\":\"my-kyma\"}",
 "dashboardUrl":"https://dashboard.kyma.cloud.sap/?kubeconfigID=ABCDEB98-AABB-1234-ABAB-186489849D6F",
 "customLabels":{"Cost Center":["19700626"]},"createdDate":1784121973000,"modifiedDate":1784123773000,
 "state":"OK","stateMessage":"…","description":"…","jobId":"40041234","someFutureField":{"x":1}}
""")


def test_environment_decodes_epoch_ms_and_json_strings() -> None:
    env = Environment.from_wire(CF_INSTANCE)
    assert env.id == "A12A41D2-E084-4965-A4D6-277E411A87C4"
    assert env.created == datetime(2026, 7, 15, 13, 26, 13, tzinfo=UTC)
    assert env.modified == datetime(2026, 7, 15, 13, 26, 21, tzinfo=UTC)
    assert env.created is not None and env.created.tzinfo is not None
    assert env.parameters["instance_name"] == "cf-terraform-org"
    assert env.parameters["users"][0]["email"] == "john.doe@int.test"
    assert env.labels["Org Memory Limit"] == "204,800MB"
    assert env.custom_labels == {}
    assert (env.state, env.state_message, env.operation, env.type, env.status) == (
        "OK", "Environment instance created.", "provision", "Provision", "Processed",
    )  # fmt: skip
    assert env.plan_name == "standard" and env.service_name == "cloudfoundry"
    assert env.environment_type == "cloudfoundry"
    assert env.subaccount_id == "77395f6a-a601-4c9e-8cd0-c1fcefc7f60f"
    assert env.raw == CF_INSTANCE
    assert env.job_id is None


def test_kyma_environment_helpers_and_unknown_fields() -> None:
    env = Environment.from_wire(KYMA_INSTANCE)
    assert env.display_name == "my-kyma"
    assert env.parameters == {"name": "my-kyma", "region": "eu-central-1"}
    assert env.api_server_url == "https://api.c-1234567.kyma.ondemand.com"
    assert env.kubeconfig_url is not None and env.kubeconfig_url.endswith("/kubeconfig/" + env.id)
    assert env.custom_labels == {"Cost Center": ["19700626"]}
    assert env.job_id == "40041234"
    assert env.is_ready and not env.is_pending and not env.is_failed
    assert env.raw["someFutureField"] == {"x": 1}


def test_environment_tolerates_missing_and_malformed_fields() -> None:
    env = Environment.from_wire({"id": "X", "parameters": "", "labels": "not json", "createdDate": None})
    assert env.id == "X" and env.state == "" and env.parameters == {} and env.labels == {}
    assert env.created is None and env.modified is None and env.custom_labels == {}
    # the CLI server's re-formatted dates and already-decoded objects are tolerated too
    env = Environment.from_wire({"id": "Y", "parameters": {"name": "a"}, "createdDate": "1784121973000"})
    assert env.parameters == {"name": "a"}
    assert env.created == datetime(2026, 7, 15, 13, 26, 13, tzinfo=UTC)
    assert Environment.from_wire({"id": "Z", "parameters": "[1, 2]"}).parameters == {}


AVAILABLE_KYMA = {
    "serviceName": "kymaruntime",
    "serviceDisplayName": "Kyma Environment",
    "planName": "aws",
    "planUpdatable": True,
    "description": "AWS",
    "environmentType": "kyma",
    "availabilityLevel": "ACTIVE",
    "createSchema": json.dumps(
        {
            "parameters": {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "type": "object",
                "required": ["name", "region"],
                "properties": {"name": {"type": "string"}},
            }
        }
    ),
    "updateSchema": json.dumps({"parameters": {"type": "object", "properties": {}}}),
    "allowAdditionalEnvironmentInstance": False,
}


def test_available_environment_decodes_schema_strings() -> None:
    entry = AvailableEnvironment.from_wire(AVAILABLE_KYMA)
    assert (entry.plan_name, entry.service_name, entry.environment_type, entry.description) == (
        "aws", "kymaruntime", "kyma", "AWS",
    )  # fmt: skip
    assert entry.plan_updatable is True
    assert entry.create_schema["parameters"]["required"] == ["name", "region"]
    assert entry.create_parameters_schema["required"] == ["name", "region"]
    assert entry.update_parameters_schema == {"type": "object", "properties": {}}
    cf = AvailableEnvironment.from_wire({"planName": "standard", "environmentType": "cloudfoundry"})
    assert cf.update_schema == {} and cf.create_parameters_schema == {}


KEB_BIND_BODY = {
    "credentials": {
        "kubeconfig": "\n---\napiVersion: v1\nkind: Config\ncurrent-context: c\nusers:\n- name: c\n  user:\n    token: SECRET\n  "
    },
    "metadata": {"expires_at": "2024-11-12T10:21:05.1Z"},
    "parameters": {"expiration_seconds": 600},
}


def test_binding_decodes_keb_expires_at_layout_and_hides_the_token() -> None:
    binding = Binding.from_wire(KEB_BIND_BODY, "b-1")
    assert binding.id == "b-1"
    assert binding.kubeconfig.startswith("\n---\napiVersion: v1")
    assert binding.expires_at == datetime(2024, 11, 12, 10, 21, 5, 100000, tzinfo=UTC)
    assert binding.expiration_seconds == 600
    assert "SECRET" not in repr(binding)
    assert Binding.from_wire(
        {"metadata": {"expires_at": "2024-10-22T07:51:00.0Z"}}, "b"
    ).expires_at == datetime(2024, 10, 22, 7, 51, tzinfo=UTC)


def test_binding_metadata_fields_are_strings_on_the_wire() -> None:
    meta = BindingMetadata.from_wire(
        {"bindingId": "b-1", "instanceId": "ENV", "createdBy": "me@example.com",
         "createdDate": "2024-10-22T07:41:00.000Z", "expiresAt": "2024-10-22T07:51:00.000Z", "new": 1}
    )  # fmt: skip
    assert meta.id == "b-1" and meta.instance_id == "ENV" and meta.created_by == "me@example.com"
    assert meta.created_date == datetime(2024, 10, 22, 7, 41, tzinfo=UTC)
    assert meta.expires_at == datetime(2024, 10, 22, 7, 51, tzinfo=UTC)
    assert meta.is_expired(datetime(2024, 10, 22, 7, 51, tzinfo=UTC))
    assert not meta.is_expired(datetime(2024, 10, 22, 7, 50, tzinfo=UTC))
    assert BindingMetadata.from_wire({}).expires_at is None
    with pytest.deprecated_call():
        assert meta.binding_id == meta.id  # the old name, kept for a release


def test_labels_job_status_and_plan_assignments() -> None:
    labels = Labels.from_wire(
        {"labels": {"Cost Center": ["19700626"], "Department": ["Sales"],
                    "Contacts": ["name1@example.com", "name2@example.com"], "EMEA": []}}
    )  # fmt: skip
    assert labels["Contacts"] == ["name1@example.com", "name2@example.com"]
    assert labels["EMEA"] == [] and len(labels) == 4 and set(labels) >= {"Department"}
    assert dict(Labels.from_wire(None)) == {}

    job = JobStatus.from_wire(
        {"status": "IN_PROGRESS", "description": "Operation created",
         "jobParams": {"environmentInstanceId": {"identifying": True, "type": "STRING", "value": "ENV"}}}
    )  # fmt: skip
    assert job.status == "IN_PROGRESS" and job.description == "Operation created"
    assert job.param("environmentInstanceId") == "ENV" and job.param("missing") is None
    assert JobStatus.from_wire("COMPLETED").status == "COMPLETED"  # SPEC-OLD typed it as a string

    quota = PlanAssignment.from_wire(
        {"service": "kymaruntime", "plan": "aws", "quota": 1, "consumedQuota": 0, "unlimited": False,
         "provisioningMethod": "SERVICE_BROKER"}
    )  # fmt: skip
    assert (quota.service, quota.plan, quota.quota, quota.consumed_quota) == ("kymaruntime", "aws", 1, 0)


def test_parse_timestamp_variants() -> None:
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp(1784121973000.0) == datetime(2026, 7, 15, 13, 26, 13, tzinfo=UTC)
    assert parse_timestamp("2024-10-22T07:51:00") == datetime(2024, 10, 22, 7, 51, tzinfo=UTC)
    assert parse_timestamp("Jul 15, 2026, 1:26:13 PM") is None
    assert parse_timestamp(True) is None and parse_timestamp("") is None
