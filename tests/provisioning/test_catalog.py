"""The Kyma catalog: plans, schemas, availableEnvironments, quotas and KEB's exact validation messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator

from kymaprov.provisioning import catalog
from kymaprov.provisioning.catalog import Plan
from kymaprov.provisioning.exceptions import InvalidParameters, UnknownServicePlan

AWS = catalog.PLANS["aws"]
TRIAL = catalog.PLANS["trial"]
SEED = {"name": "my-runtime", "region": "eu-central-1"}
AWS_REGIONS = (
    "'eu-central-1', 'eu-south-1', 'eu-west-2', 'ca-central-1', 'sa-east-1', 'us-east-1', 'us-west-2', "
    "'ap-northeast-1', 'ap-northeast-2', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2'"
)
AWS_MACHINES = (
    "'mi.large', 'mi.xlarge', 'mi.2xlarge', 'mi.4xlarge', 'mi.8xlarge', 'mi.12xlarge', 'mi.16xlarge', "
    "'m6i.large', 'm6i.xlarge', 'm6i.2xlarge', 'm6i.4xlarge', 'm6i.8xlarge', 'm6i.12xlarge', 'm6i.16xlarge', "
    "'m5.large', 'm5.xlarge', 'm5.2xlarge', 'm5.4xlarge', 'm5.8xlarge', 'm5.12xlarge', 'm5.16xlarge'"
)
ENTRY_KEYS = {
    "serviceName", "serviceDisplayName", "serviceImageUrl", "serviceDescription", "serviceLongDescription",
    "serviceDocumentationUrl", "serviceSupportUrl", "planName", "planUpdatable", "description",
    "environmentType", "availabilityLevel", "createSchema", "updateSchema", "allowAdditionalEnvironmentInstance",
}  # fmt: skip


def create_error(plan: Plan, parameters: Any) -> InvalidParameters:
    with pytest.raises(InvalidParameters) as info:
        catalog.validate_create(plan, parameters)
    return info.value


def update_error(plan: Plan, parameters: Any, current: dict[str, Any] | None = None) -> InvalidParameters:
    with pytest.raises(InvalidParameters) as info:
        catalog.validate_update(plan, parameters, current or {})
    return info.value


def aws(**extra: Any) -> dict[str, Any]:
    return {**SEED, **extra}


# -- plans -------------------------------------------------------------------------------------------


def test_plans_ids_and_defaults() -> None:
    ids = {name: plan.id for name, plan in catalog.PLANS.items()}
    assert ids == {
        "aws": "361c511f-f939-4621-b228-d0fb79a1fe15",
        "azure": "4deee563-e5ec-4731-b9b1-53b42d855f0c",
        "azure_lite": "8cb22518-aa26-44c5-91a0-e669ec9bf443",
        "free": "b1a5764e-2ea1-4f95-94c0-2b4538b37b55",
        "gcp": "ca6e5357-707f-4565-bbbd-b3ab732597c6",
        "sap-converged-cloud": "03b812ac-c991-4528-b5bd-08b303523a63",
        "trial": "7d55d31d-35ae-4438-bf13-6ffdfa107d9f",
    }
    assert catalog.KYMA_SERVICE_ID == "47c9dcbf-ff30-448e-ab36-d3bad66ba281"
    assert all(plan.bindable for plan in catalog.PLANS.values())
    lite = catalog.PLANS["azure_lite"]
    assert (lite.autoscaler_min, lite.autoscaler_max, lite.default_autoscaler_min, lite.default_autoscaler_max) == (
        2, 40, 2, 10,
    )  # fmt: skip
    assert (AWS.autoscaler_min, AWS.autoscaler_max, AWS.default_autoscaler_min, AWS.default_autoscaler_max) == (
        3, 300, 3, 20,
    )  # fmt: skip
    assert catalog.PLANS["gcp"].default_machine_type == "n2-standard-2"
    assert catalog.PLANS["azure"].default_region == "eastus"
    assert catalog.PLANS["sap-converged-cloud"].regions == (
        "eu-de-1", "ap-au-1", "na-us-1", "ap-jp-1", "eu-de-2", "na-us-2", "ap-ae-1",
    )  # fmt: skip
    assert catalog.PLANS["free"].regions == AWS.regions


def test_find_plan() -> None:
    assert catalog.find_plan("kymaruntime", "gcp") is catalog.PLANS["gcp"]


@pytest.mark.parametrize(
    ("service", "plan"), [("kymaruntime", "platinum"), ("cloudfoundry", "aws"), ("", "")]
)
def test_find_plan_rejects_unknown_service_or_plan(service: str, plan: str) -> None:
    with pytest.raises(UnknownServicePlan) as info:
        catalog.find_plan(service, plan)
    assert (info.value.status, info.value.code) == (400, 41003)
    assert info.value.message == (
        "Broker was not found, or, plan and service are not part of the broker catalog, or, "
        "service and plan are not allowed for the subaccount license type"
    )


# -- schemas -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", catalog.PLANS.values(), ids=list(catalog.PLANS))
def test_schemas_are_valid_draft4(plan: Plan) -> None:
    for schema in (catalog.create_schema(plan), catalog.update_schema(plan)):
        Draft4Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
        assert schema["_show_form_view"] is True and schema["_load_current_config"] is True
        assert schema["_controlsOrder"] == list(schema["properties"])


def test_aws_create_schema_properties() -> None:
    schema = catalog.create_schema(AWS)
    assert schema["required"] == ["name", "region"]
    assert schema["_controlsOrder"] == [
        "name", "region", "colocateControlPlane", "machineType", "autoScalerMin", "autoScalerMax",
        "additionalVolumeSizeGi", "gvisor", "additionalWorkerNodePools", "modules", "networking",
        "accessControlList", "oidc", "administrators", "ingressFiltering",
    ]  # fmt: skip
    props = schema["properties"]
    assert props["name"] == {
        "_BTPdefaultTemplate": {"elements": ["saSubdomain"]}, "maxLength": 64, "minLength": 1,
        "pattern": "^[a-zA-Z0-9-]*$", "title": "Cluster Name", "type": "string",
    }  # fmt: skip
    assert props["region"]["_enumDisplayName"]["eu-central-1"] == "eu-central-1 (Europe, Frankfurt)"
    assert props["region"]["minLength"] == 1 and props["region"]["type"] == "string"
    assert props["autoScalerMin"] == {
        "default": 3, "description": "Specifies the minimum number of virtual machines to create",
        "maximum": 300, "minimum": 3, "type": "integer",
    }  # fmt: skip
    assert props["autoScalerMax"]["default"] == 20
    assert props["additionalVolumeSizeGi"]["maximum"] == 100
    assert props["gvisor"]["required"] == ["enabled"]
    assert props["accessControlList"]["required"] == ["allowedCIDRs"]
    assert len(props["modules"]["oneOf"]) == 2 and len(props["oidc"]["oneOf"]) == 2
    assert props["networking"]["required"] == ["nodes"]
    pool_machines = props["additionalWorkerNodePools"]["items"]["properties"]["machineType"]["enum"]
    assert "g6.xlarge" in pool_machines and "g6.xlarge" not in props["machineType"]["enum"]


def test_update_schema_has_no_required_no_create_only_settings_no_autoscaler_defaults() -> None:
    schema = catalog.update_schema(AWS)
    assert "required" not in schema
    assert not {"region", "modules", "networking", "colocateControlPlane"} & set(schema["properties"])
    assert "default" not in schema["properties"]["autoScalerMin"]
    assert "default" not in schema["properties"]["autoScalerMax"]
    assert "_BTPdefaultTemplate" not in schema["properties"]["name"]


def test_trial_and_free_schemas_offer_only_their_subsets() -> None:
    assert list(catalog.create_schema(TRIAL)["properties"]) == ["name", "modules", "oidc", "administrators"]
    assert catalog.create_schema(TRIAL)["required"] == ["name"]
    free = catalog.create_schema(catalog.PLANS["free"])
    assert set(free["properties"]) == {"name", "region", "networking", "modules", "oidc", "administrators"}
    assert free["properties"]["region"]["enum"] == list(AWS.regions)


def test_azure_lite_schema_bounds() -> None:
    props = catalog.create_schema(catalog.PLANS["azure_lite"])["properties"]
    assert (props["autoScalerMin"]["minimum"], props["autoScalerMax"]["maximum"]) == (2, 40)
    assert (props["autoScalerMin"]["default"], props["autoScalerMax"]["default"]) == (2, 10)
    assert props["machineType"]["enum"] == ["Standard_D2s_v5", "Standard_D4s_v5", "Standard_D4_v3"]
    assert "haZones" not in props["additionalWorkerNodePools"]["items"]["properties"]


# -- availableEnvironments ---------------------------------------------------------------------------


def test_available_environments_entries() -> None:
    entries = catalog.available_environments()
    assert [e["planName"] for e in entries] == sorted(catalog.PLANS)
    for entry in entries:
        assert set(entry) == ENTRY_KEYS
        assert entry["serviceName"] == "kymaruntime" and entry["serviceDisplayName"] == "Kyma Environment"
        assert entry["environmentType"] == "kyma" and entry["availabilityLevel"] == "ACTIVE"
        assert entry["planUpdatable"] is True and entry["allowAdditionalEnvironmentInstance"] is False
        assert entry["serviceImageUrl"].startswith("data:image/svg+xml;base64,")
        plan = catalog.PLANS[entry["planName"]]
        for key, build in (("createSchema", catalog.create_schema), ("updateSchema", catalog.update_schema)):
            assert isinstance(entry[key], str)
            decoded = json.loads(entry[key])
            assert list(decoded) == ["parameters"] and decoded["parameters"] == build(plan)
    assert next(e for e in entries if e["planName"] == "aws")["description"] == "AWS"


def test_available_environments_callers_cannot_alter_the_cache() -> None:
    catalog.available_environments()[0]["planName"] = "tampered"
    assert catalog.available_environments()[0]["planName"] == "aws"


def test_the_rendered_body_is_the_catalog_and_callers_cannot_alter_it() -> None:
    catalog.available_environments()[0]["planName"] = "tampered"
    body = catalog.available_environments_body()
    assert json.loads(body) == {"availableEnvironments": catalog.available_environments()}
    assert body is catalog.available_environments_body()  # rendered once


# -- create validation -------------------------------------------------------------------------------


def test_seed_body_is_valid_and_returned_unchanged() -> None:
    body = dict(SEED)
    assert catalog.validate_create(AWS, body) == SEED
    assert body == SEED  # no defaults added


@pytest.mark.parametrize(
    ("parameters", "message", "field"),
    [
        ({"region": "eu-central-1"}, "at '': missing property 'name'", "name"),
        ({}, "at '': missing properties 'name', 'region'", "name"),
        (aws(name=None), "at '/name': got null, want string", "name"),
        (aws(name=""), "at '/name': minLength: got 0, want 1", "name"),
        (aws(name="a" * 65), "at '/name': maxLength: got 65, want 64", "name"),
        (aws(name="my_runtime"), "at '/name': 'my_runtime' does not match pattern '^[a-zA-Z0-9-]*$'", "name"),
        (aws(name="rt\n"), "at '/name': 'rt\\n' does not match pattern '^[a-zA-Z0-9-]*$'", "name"),
        (aws(region="mars-1"), f"at '/region': value must be one of {AWS_REGIONS}", "region"),
        (aws(autoScalerMin=1), "at '/autoScalerMin': minimum: got 1, want 3", "autoScalerMin"),
        (aws(autoScalerMax=301), "at '/autoScalerMax': maximum: got 301, want 300", "autoScalerMax"),
        (aws(autoScalerMin="3"), "at '/autoScalerMin': got string, want integer", "autoScalerMin"),
        (aws(machineType="m7.huge"), f"at '/machineType': value must be one of {AWS_MACHINES}", "machineType"),
        (aws(modules={}), "at '/modules': oneOf failed, subschemas 0, 1 matched", "modules"),
        (aws(modules={"default": True, "list": []}), "at '/modules': oneOf failed, none matched", "modules"),
        (aws(networking={}), "at '/networking': missing property 'nodes'", "networking"),
        (
            aws(name="a" * 65, autoScalerMax=301),
            "at '/name': maxLength: got 65, want 64, at '/autoScalerMax': maximum: got 301, want 300",
            "name",
        ),
    ],
)  # fmt: skip
def test_schema_errors_use_kebs_wording(parameters: dict[str, Any], message: str, field: str) -> None:
    error = create_error(AWS, parameters)
    assert error.message == "while validating input parameters: " + message
    assert error.field == field
    assert (error.status, error.code) == (400, 41002)


def test_single_value_enum_wording() -> None:
    from kymaprov.provisioning.validation import KebValidator, _schema_problem

    validator = KebValidator({"properties": {"region": {"enum": ["me-central2"]}}})
    problem = _schema_problem(validator, {"region": "x"}, "p: ")
    assert problem is not None and problem.message == "p: at '/region': value must be 'me-central2'"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            aws(autoScalerMin=30, autoScalerMax=25),
            "AutoScalerMax 25 should be larger than AutoScalerMin 30. "
            "User provided values min:30, max:25; plan defaults min:3, max:20",
        ),
        (
            aws(autoScalerMin=30),
            "AutoScalerMax 20 should be larger than AutoScalerMin 30. "
            "User provided values min:30, max:<nil>; plan defaults min:3, max:20",
        ),
    ],
)
def test_autoscaler_min_above_max(parameters: dict[str, Any], message: str) -> None:
    assert create_error(AWS, parameters).message == message


def test_autoscaler_check_uses_azure_lite_defaults() -> None:
    lite = catalog.PLANS["azure_lite"]
    error = create_error(lite, {"name": "rt", "region": "eastus", "autoScalerMax": 2, "autoScalerMin": 5})
    assert error.message == (
        "AutoScalerMax 2 should be larger than AutoScalerMin 5. "
        "User provided values min:5, max:2; plan defaults min:2, max:10"
    )
    assert catalog.validate_create(lite, {"name": "rt", "region": "eastus", "autoScalerMin": 2})


@pytest.mark.parametrize(
    ("parameters", "kind"), [("{}", "string"), ([], "array"), (None, "null"), (3, "number")]
)
def test_non_object_parameters(parameters: Any, kind: str) -> None:
    for error in (create_error(AWS, parameters), update_error(AWS, parameters)):
        assert error.message == f"Field 'parameters' must be a JSON object, got {kind}"
        assert error.field == "parameters"


def test_trial_region() -> None:
    assert catalog.validate_create(TRIAL, {"name": "rt", "region": "us"})
    assert catalog.validate_create(TRIAL, {"name": "rt"})
    error = create_error(TRIAL, {"name": "rt", "region": "eu-central-1"})
    assert (error.message, error.field) == ("invalid region specified in request for trial", "region")


def pool(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "machineType": "m6i.large",
        "haZones": True,
        "autoScalerMin": 3,
        "autoScalerMax": 20,
        **extra,
    }


def test_additional_worker_node_pools() -> None:
    gpu = pool("gpu", machineType="g6.xlarge", haZones=False, autoScalerMin=0, autoScalerMax=1)
    assert catalog.validate_create(AWS, aws(additionalWorkerNodePools=[gpu, pool("b")]))
    cases = [
        (
            [pool("a"), pool("a", machineType="m5.large")],
            "names of additional worker node pools must be unique",
        ),
        (
            [pool("name-1", autoScalerMin=20, autoScalerMax=3), pool("name-2", autoScalerMin=1)],
            "The following additionalWorkerPools have validation issues: AutoScalerMax value 3 should be larger "
            "than AutoScalerMin value 20 for name-1 additional worker node pool; AutoScalerMin value 1 should be "
            "at least 3 when HA zones are enabled for name-2 additional worker node pool.",
        ),
    ]
    for pools, message in cases:
        error = create_error(AWS, aws(additionalWorkerNodePools=pools))
        assert (error.message, error.field) == (message, "additionalWorkerNodePools")
    error = create_error(AWS, aws(additionalWorkerNodePools=[pool("cpu-worker-0")]))
    assert error.message == (
        "while validating input parameters: at '/additionalWorkerNodePools/0/name': 'cpu-worker-0' does not "
        "match pattern '^(?!cpu-worker-0$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
    )


@pytest.mark.parametrize("plan_name", ["trial", "free"])
def test_worker_pools_not_supported_for_trial_and_free(plan_name: str) -> None:
    plan = catalog.PLANS[plan_name]
    error = create_error(plan, {"name": "rt", "additionalWorkerNodePools": []})
    assert error.message == f"additional worker node pools are not supported for plan ID: {plan.id}"


def test_additional_volume() -> None:
    assert create_error(AWS, aws(additionalVolumeSizeGi=-1)).message == (
        "additionalVolumeSizeGi must be >= 0, got -1"
    )
    lite = {"name": "rt", "region": "eastus", "additionalVolumeSizeGi": 10}
    assert create_error(catalog.PLANS["azure_lite"], lite).message == (
        "additionalVolumeSizeGi is not available for plan azure_lite"
    )
    assert catalog.validate_create(AWS, aws(additionalVolumeSizeGi=100))


def test_unsupported_feature_for_plan() -> None:
    error = create_error(TRIAL, {"name": "rt", "accessControlList": {"allowedCIDRs": []}})
    assert (error.message, error.field) == (
        "AccessControlList is not supported for this plan",
        "accessControlList",
    )


def test_valid_optional_settings() -> None:
    parameters = aws(
        machineType="m5.xlarge",
        autoScalerMin=3.0,
        modules={"channel": "fast", "list": [{"name": "istio", "channel": "regular"}]},
        oidc={"clientID": "c", "issuerURL": "https://issuer.example.com"},
        networking={"nodes": "10.250.0.0/16"},
        administrators=["admin@example.com"],
        gvisor={"enabled": True},
        ingressFiltering=True,
    )
    assert catalog.validate_create(AWS, parameters) is parameters


# -- update validation -------------------------------------------------------------------------------


def test_update_schema_errors_have_the_update_prefix_and_come_first() -> None:
    error = update_error(AWS, {"autoScalerMin": 2, "autoScalerMax": 1})
    assert error.message == (
        "while validating update parameters: at '/autoScalerMin': minimum: got 2, want 3, "
        "at '/autoScalerMax': minimum: got 1, want 3"
    )
    assert update_error(AWS, {"name": "a" * 65}).message == (
        "while validating update parameters: at '/name': maxLength: got 65, want 64"
    )


def test_update_autoscaler_is_checked_against_the_current_values() -> None:
    error = update_error(AWS, {"autoScalerMin": 25}, {**SEED, "autoScalerMax": 22})
    assert error.message == (
        "AutoScalerMax 22 should be larger than AutoScalerMin 25. "
        "User provided values min:25, max:22; plan defaults min:3, max:20"
    )


def test_update_accepts_empty_and_repeated_create_only_parameters() -> None:
    assert catalog.validate_update(AWS, {}, SEED) == {}
    full = {**SEED, "autoScalerMax": 30, "networking": {"nodes": "10.250.0.0/16"}}
    assert catalog.validate_update(AWS, full, SEED) == full


def test_update_rejects_changing_create_only_parameters() -> None:
    error = update_error(AWS, {"region": "eu-west-2"}, SEED)
    assert error.message == (
        "while validating update parameters: at '/region': cannot be changed, got 'eu-west-2', want 'eu-central-1'"
    )
    assert error.field == "region"
    error = update_error(AWS, {"networking": {"nodes": "10.251.0.0/16"}}, SEED)
    assert error.message == (
        "while validating update parameters: at '/networking/nodes': cannot be changed, "
        "got '10.251.0.0/16', want '10.250.0.0/16'"
    )


def test_update_keeps_ha_zones_permanent() -> None:
    current = aws(additionalWorkerNodePools=[pool("p1")])
    changed = {"additionalWorkerNodePools": [pool("p1", haZones=False, autoScalerMin=0, autoScalerMax=1)]}
    assert update_error(AWS, changed, current).message == (
        "HA zones setting is permanent and cannot be changed for p1 additional worker node pool"
    )


# -- servicePlanAssignments --------------------------------------------------------------------------


def test_service_plan_assignments() -> None:
    quotas = catalog.service_plan_assignments("ga-1", "sa-1", {"aws": 1})["quotas"]
    kyma = {q["plan"]: q for q in quotas if q["service"] == "kymaruntime"}
    assert set(kyma) == set(catalog.PLANS)
    assert kyma["aws"]["consumedQuota"] == 1 and kyma["gcp"]["consumedQuota"] == 0
    assert kyma["aws"] == {
        "consumedQuota": 1, "globalAccountGUID": "ga-1", "globalAccountId": "ga-1", "plan": "aws",
        "provisioningMethod": "SERVICE_BROKER", "quota": 1, "resources": [], "service": "kymaruntime",
        "serviceCategory": "ENVIRONMENT", "subaccountGUID": "sa-1", "tenantId": "sa-1",
        "uniqueIdentifier": "kymaruntime", "unlimited": False,
    }  # fmt: skip
    cis = {q["plan"]: q for q in quotas if q["service"] == "cis"}
    assert set(cis) == {"local", "central"}
    assert all(q["serviceCategory"] == "SERVICE" and q["unlimited"] is True for q in cis.values())
    assert catalog.service_plan_assignments("ga-1", "sa-1")["quotas"][0]["consumedQuota"] == 0
