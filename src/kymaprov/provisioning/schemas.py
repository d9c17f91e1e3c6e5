"""Draft-04 parameter schemas of the Kyma plans, shaped like the ones KEB puts into its catalog.

The Provisioning Service relays them as ``createSchema``/``updateSchema`` of ``availableEnvironments``;
the BTP cockpit renders its form from them (``_controlsOrder``, ``_enumDisplayName``,
``_show_form_view``, ``_load_current_config``), and kymaprov validates requests against them. Every
call builds a fresh dict, so callers may modify what they get.
"""

from __future__ import annotations

from typing import Any

from kymaprov.provisioning.plan import Plan

Schema = dict[str, Any]

SCHEMA_URI = "http://json-schema.org/draft-04/schema#"
NAME_PATTERN = "^[a-zA-Z0-9-]*$"
POOL_NAME_PATTERN = "^(?!cpu-worker-0$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_VOLUME_GI = 100
HA_AUTOSCALER_MINIMUM = 3

# The order of the form controls, as the real aws createSchema lists them; plans use the subset they offer.
CONTROLS_ORDER = (
    "name",
    "region",
    "colocateControlPlane",
    "machineType",
    "autoScalerMin",
    "autoScalerMax",
    "additionalVolumeSizeGi",
    "gvisor",
    "additionalWorkerNodePools",
    "modules",
    "networking",
    "accessControlList",
    "oidc",
    "administrators",
    "ingressFiltering",
)
# Settings fixed at provisioning: absent from every update schema.
CREATE_ONLY = frozenset({"region", "modules", "networking", "colocateControlPlane"})
NETWORKING_DEFAULTS = {"nodes": "10.250.0.0/16", "pods": "10.96.0.0/13", "services": "10.104.0.0/13"}
SEED_CIDRS = (
    "10.243.128.0/17, 10.242.0.0/16, 10.243.0.0/17, 10.64.0.0/11, 10.254.0.0/16, 10.243.0.0/16, "
    "192.168.123.0/24, 240.0.0.0/8"
)
DEFAULT_MODULE_CHANNEL = "regular"
# KEB's default OIDC values; they prefill the first entry of the list-based OIDC form.
OIDC_DEFAULTS: dict[str, Any] = {
    "clientID": "",
    "issuerURL": "",
    "groupsClaim": "groups",
    "signingAlgs": ["RS256"],
    "usernameClaim": "sub",
    "usernamePrefix": "-",
    "groupsPrefix": "-",
}

REGION_NAMES = {
    # AWS
    "eu-central-1": "eu-central-1 (Europe, Frankfurt)",
    "eu-south-1": "eu-south-1 (Europe, Milan)",
    "eu-west-1": "eu-west-1 (Europe, Ireland)",
    "eu-west-2": "eu-west-2 (Europe, London)",
    "ca-central-1": "ca-central-1 (Canada, Montreal)",
    "sa-east-1": "sa-east-1 (Brazil, São Paulo)",
    "us-east-1": "us-east-1 (US East, N. Virginia)",
    "us-west-2": "us-west-2 (US West, Oregon)",
    "ap-northeast-1": "ap-northeast-1 (Asia Pacific, Tokyo)",
    "ap-northeast-2": "ap-northeast-2 (Asia Pacific, Seoul)",
    "ap-south-1": "ap-south-1 (Asia Pacific, Mumbai)",
    "ap-southeast-1": "ap-southeast-1 (Asia Pacific, Singapore)",
    "ap-southeast-2": "ap-southeast-2 (Asia Pacific, Sydney)",
    # Azure
    "eastus": "eastus (US East, VA)",
    "centralus": "centralus (US Central, IA)",
    "westus2": "westus2 (US West, WA)",
    "uksouth": "uksouth (UK South, London)",
    "northeurope": "northeurope (Europe, Ireland)",
    "westeurope": "westeurope (Europe, Netherlands)",
    "japaneast": "japaneast (Japan, Tokyo)",
    "southeastasia": "southeastasia (Asia Pacific, Singapore)",
    "australiaeast": "australiaeast (Australia, Sydney)",
    "brazilsouth": "brazilsouth (Brazil, São Paulo)",
    "canadacentral": "canadacentral (Canada, Toronto)",
    "switzerlandnorth": "switzerlandnorth (Switzerland, Zurich)",
    # GCP
    "europe-west3": "europe-west3 (Europe, Frankfurt)",
    "asia-south1": "asia-south1 (India, Mumbai)",
    "us-central1": "us-central1 (US Central, IA)",
    "me-central2": "me-central2 (KSA, Dammam)",
    "asia-northeast2": "asia-northeast2 (Japan, Osaka)",
    "me-west1": "me-west1 (Israel, Tel Aviv)",
    "southamerica-east1": "southamerica-east1 (Brazil, São Paulo)",
    "australia-southeast1": "australia-southeast1 (Australia, Sydney)",
    "asia-northeast1": "asia-northeast1 (Japan, Tokyo)",
    "asia-southeast1": "asia-southeast1 (Singapore, Jurong West)",
    "us-west1": "us-west1 (North America, Oregon)",
    "us-east4": "us-east4 (North America, Virginia)",
    "europe-west4": "europe-west4 (Europe, Netherlands)",
}


def _sizes(family: str, cpus_to_ram: dict[str, tuple[int, int]], suffix: str = "") -> dict[str, str]:
    """Display names ``"<type> (<n>vCPU, <m>GB RAM)"`` for one machine family."""
    return {
        f"{family}.{size}": f"{family}.{size} ({cpu}vCPU, {ram}GB RAM){suffix}"
        for size, (cpu, ram) in cpus_to_ram.items()
    }


_M_SIZES = {
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
    "4xlarge": (16, 64),
    "8xlarge": (32, 128),
    "12xlarge": (48, 192),
    "16xlarge": (64, 256),
}
_C7I_SIZES = {size: (cpu, ram // 2) for size, (cpu, ram) in _M_SIZES.items()}
_GPU_SIZES = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4, "16xlarge": 1}


def _gpu_names(family: str) -> dict[str, str]:
    """Display names of the AWS GPU families; ``*`` marks limited availability and high cost."""
    return {
        f"{family}.{size}": f"{family}.{size} ({gpus}GPU, {cpu}vCPU, {ram}GB RAM)*"
        for size, gpus in _GPU_SIZES.items()
        for cpu, ram in [_M_SIZES[size]]
    }


MACHINE_NAMES: dict[str, str] = {
    **_sizes("mi", _M_SIZES),
    **_sizes("m6i", _M_SIZES),
    **_sizes("m5", _M_SIZES),
    **_sizes("c7i", _C7I_SIZES),
    **_gpu_names("g6"),
    **_gpu_names("g4dn"),
    **{
        f"Standard_D{n}s_v5": f"Standard_D{n}s_v5 ({n}vCPU, {n * 4}GB RAM)" for n in (2, 4, 8, 16, 32, 48, 64)
    },
    **{f"Standard_D{n}_v3": f"Standard_D{n}_v3 ({n}vCPU, {n * 4}GB RAM)" for n in (4, 8, 16, 32, 48, 64)},
    **{
        f"Standard_F{n}s_v2": f"Standard_F{n}s_v2 ({n}vCPU, {n * 2}GB RAM)" for n in (2, 4, 8, 16, 32, 48, 64)
    },
    "Standard_NC4as_T4_v3": "Standard_NC4as_T4_v3 (1GPU, 4vCPU, 28GB RAM)*",
    "Standard_NC8as_T4_v3": "Standard_NC8as_T4_v3 (1GPU, 8vCPU, 56GB RAM)*",
    "Standard_NC16as_T4_v3": "Standard_NC16as_T4_v3 (1GPU, 16vCPU, 110GB RAM)*",
    "Standard_NC64as_T4_v3": "Standard_NC64as_T4_v3 (4GPU, 64vCPU, 440GB RAM)*",
    **{f"n2-standard-{n}": f"n2-standard-{n} ({n}vCPU, {n * 4}GB RAM)" for n in (2, 4, 8, 16, 32, 48, 64)},
    **{f"c2d-highcpu-{n}": f"c2d-highcpu-{n} ({n}vCPU, {n * 2}GB RAM)" for n in (2, 4, 8, 16, 32, 56)},
    **{
        f"g2-standard-{n}": f"g2-standard-{n} ({gpus}GPU, {n}vCPU, {n * 4}GB RAM)*"
        for n, gpus in ((4, 1), (8, 1), (12, 1), (16, 1), (24, 2), (32, 1), (48, 4))
    },
    **{f"g_c{c}_m{c * 4}": f"g_c{c}_m{c * 4} ({c}vCPU, {c * 4}GB RAM)" for c in (2, 4, 6, 8, 12, 16, 32, 64)},
}


# -- public ------------------------------------------------------------------------------------------


def create_schema(plan: Plan) -> Schema:
    """The provisioning schema: what the cockpit's create form offers and the create request must meet."""
    names = [p for p in CONTROLS_ORDER if p in plan.properties]
    required = ["name", "region"] if "region" in plan.properties else ["name"]
    return _root(plan, names, update=False, required=required)


def update_schema(plan: Plan) -> Schema:
    """The update schema: no required fields, no settings fixed at provisioning, no autoscaler defaults."""
    names = [p for p in CONTROLS_ORDER if p in plan.properties and p not in CREATE_ONLY]
    return _root(plan, names, update=True, required=[])


# -- root --------------------------------------------------------------------------------------------


def _root(plan: Plan, names: list[str], *, update: bool, required: list[str]) -> Schema:
    """Assemble the root object; draft-04 forbids an empty ``required``, so it is left out then."""
    schema: Schema = {
        "$schema": SCHEMA_URI,
        "type": "object",
        "_show_form_view": True,
        "_load_current_config": True,
        "_controlsOrder": names,
        "properties": {name: _property(plan, name, update) for name in names},
    }
    if required:
        schema["required"] = required
    return schema


def _property(plan: Plan, name: str, update: bool) -> Schema:
    builders = {
        "name": lambda: _name(update),
        "region": lambda: _region(plan),
        "colocateControlPlane": _colocate_control_plane,
        "machineType": lambda: _machine_type(plan),
        "autoScalerMin": lambda: _autoscaler(plan, "minimum", plan.default_autoscaler_min, update),
        "autoScalerMax": lambda: _autoscaler(plan, "maximum", plan.default_autoscaler_max, update),
        "additionalVolumeSizeGi": _additional_volume,
        "gvisor": _gvisor,
        "additionalWorkerNodePools": lambda: _worker_pools(plan),
        "modules": _modules,
        "networking": lambda: _networking(plan),
        "accessControlList": _access_control_list,
        "oidc": lambda: _oidc(update),
        "administrators": _administrators,
        "ingressFiltering": _ingress_filtering,
    }
    return builders[name]()


# -- simple properties -------------------------------------------------------------------------------


def _name(update: bool) -> Schema:
    """The cluster name; only the create form prefills it from the subaccount subdomain."""
    prop: Schema = {
        "maxLength": 64,
        "minLength": 1,
        "pattern": NAME_PATTERN,
        "title": "Cluster Name",
        "type": "string",
    }
    if update:
        return prop
    return {"_BTPdefaultTemplate": {"elements": ["saSubdomain"]}, **prop}


def _region(plan: Plan) -> Schema:
    return {
        "_enumDisplayName": {r: REGION_NAMES.get(r, r) for r in plan.regions},
        "enum": list(plan.regions),
        "minLength": 1,
        "type": "string",
    }


def _machine_type(plan: Plan) -> Schema:
    return {
        "_enumDisplayName": _machine_names(plan.regular_machines),
        "description": "Specifies the type of the virtual machine.",
        "enum": list(plan.regular_machines),
        "type": "string",
    }


def _machine_names(machines: tuple[str, ...]) -> dict[str, str]:
    return {m: MACHINE_NAMES.get(m, m) for m in machines}


def _autoscaler(plan: Plan, bound: str, default: int, update: bool) -> Schema:
    """autoScalerMin/Max; the update form must not prefill a default that would resize the cluster."""
    prop: Schema = {
        "default": default,
        "description": f"Specifies the {bound} number of virtual machines to create",
        "maximum": plan.autoscaler_max,
        "minimum": plan.autoscaler_min,
        "type": "integer",
    }
    if update:
        del prop["default"]
    return prop


def _administrators() -> Schema:
    return {
        "description": "Specifies the list of runtime administrators.",
        "items": {"type": "string"},
        "title": "Administrators",
        "type": "array",
    }


def _colocate_control_plane() -> Schema:
    return {
        "default": False,
        "title": "Colocate control plane and worker nodes in the same region",
        "type": "boolean",
        "description": (
            "If set to true, the control plane is placed in the same region as the selected region from "
            "the Region field. Check regions supporting the feature on this <a href=https://help.sap.com/"
            "docs/btp/sap-business-technology-platform/provisioning-and-update-parameters-in-kyma-"
            "environment?locale=en-US#region*>website</a>. The provisioning process fails if the control "
            "plane cannot be colocated in the region."
        ),
    }


def _additional_volume() -> Schema:
    return {
        "default": 0,
        "maximum": MAX_VOLUME_GI,
        "minimum": 0,
        "title": "Additional Volume Size (Gi)",
        "type": "integer",
        "description": (
            "Additional disk space in Gi added on top of the default volume size for the worker pool."
        ),
    }


def _gvisor() -> Schema:
    return {
        "description": "Configures the gVisor container runtime for a worker pool",
        "properties": {
            "enabled": {"default": False, "title": "Enable gVisor container runtime", "type": "boolean"}
        },
        "required": ["enabled"],
        "type": "object",
    }


def _ingress_filtering() -> Schema:
    return {
        "default": False,
        "description": "If set to true, ingress traffic from embargoed countries is blocked.",
        "title": "Enable ingress geo-blocking",
        "type": "boolean",
    }


def _access_control_list() -> Schema:
    return {
        "properties": {
            "allowedCIDRs": {
                "items": {"example": "5.6.0.0/16", "title": "CIDR range", "type": "string"},
                "title": "Allowed CIDRs",
                "type": "array",
            }
        },
        "required": ["allowedCIDRs"],
        "title": "Access Control List",
        "type": "object",
    }


# -- additional worker node pools --------------------------------------------------------------------


def _worker_pools(plan: Plan) -> Schema:
    """Extra pools may use the plan's regular and additional (e.g. GPU) machine types."""
    order = ["name", "machineType", "haZones", "autoScalerMin", "autoScalerMax"]
    if not plan.ha_zones:
        order.remove("haZones")
    properties = {
        "name": _pool_name(),
        "machineType": _pool_machine_type(plan),
        "haZones": _pool_ha_zones(),
        "autoScalerMin": _pool_autoscaler(plan, "minimum", 0, plan.default_autoscaler_min),
        "autoScalerMax": _pool_autoscaler(plan, "maximum", 1, plan.default_autoscaler_max),
        "additionalVolumeSizeGi": _additional_volume(),
        "gvisor": _gvisor(),
        "labels": _string_map("Specifies the Kubernetes labels of the worker node pool nodes."),
        "annotations": _string_map("Specifies the Kubernetes annotations of the worker node pool nodes."),
        "taints": _taints(),
    }
    if not plan.ha_zones:
        del properties["haZones"]
    return {
        "description": "Specifies the list of additional worker node pools.",
        "items": {
            "_controlsOrder": [*order, "additionalVolumeSizeGi", "gvisor", "labels", "annotations", "taints"],
            "properties": properties,
            "required": order,
            "type": "object",
        },
        "type": "array",
        "uniqueItems": True,
    }


def _pool_name() -> Schema:
    return {
        "description": (
            "Specifies the unique name of the additional worker node pool. The name must consist of "
            "lowercase alphanumeric characters or '-', must start and end with an alphanumeric character, "
            "and can be a maximum of 15 characters in length. Do not use the name “cpu-worker-0” because "
            "it's reserved for the Kyma worker node pool."
        ),
        "maxLength": 15,
        "minLength": 1,
        "pattern": POOL_NAME_PATTERN,
        "type": "string",
    }


def _pool_machine_type(plan: Plan) -> Schema:
    machines = plan.regular_machines + plan.additional_machines
    return {
        "_enumDisplayName": _machine_names(machines),
        "description": (
            "Specifies the type of the virtual machine. The machine type marked with “*” has limited "
            "availability and generates high cost. This setting is permanent, and you cannot change it "
            "later. To use a different machine type, you must create a new worker node pool, migrate "
            "workloads to it, and decommission the old one."
        ),
        "enum": list(machines),
        "minLength": 1,
        "type": "string",
    }


def _pool_ha_zones() -> Schema:
    return {
        "default": True,
        "description": (
            "Specifies whether high availability (HA) zones are supported. This setting is permanent and "
            "cannot be changed later. If HA is disabled, all resources are placed in a single, randomly "
            "selected zone. Disabled HA allows setting autoScalerMin to 0 and autoScalerMax to 1, which "
            "helps reduce costs. It is not recommended for production environments. When enabled, "
            "resources are distributed across three zones to enhance fault tolerance. Enabled HA requires "
            "setting autoScalerMin to the minimal value 3."
        ),
        "title": "HA zones",
        "type": "boolean",
    }


def _pool_autoscaler(plan: Plan, bound: str, lowest: int, default: int) -> Schema:
    """Pools may shrink below the main pool's HA minimum (non-HA pools down to 0 nodes)."""
    return {
        "default": default,
        "description": f"Specifies the {bound} number of virtual machines to create.",
        "maximum": plan.autoscaler_max,
        "minimum": lowest,
        "type": "integer",
    }


def _string_map(description: str) -> Schema:
    return {"additionalProperties": {"type": "string"}, "description": description, "type": "object"}


def _taints() -> Schema:
    return {
        "description": "Specifies the Kubernetes taints of the worker node pool nodes.",
        "items": {
            "properties": {
                "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"], "type": "string"},
                "key": {"minLength": 1, "type": "string"},
                "value": {"type": "string"},
            },
            "required": ["key", "effect"],
            "type": "object",
        },
        "type": "array",
    }


# -- modules -----------------------------------------------------------------------------------------

_MODULES_HELP = "https://help.sap.com/docs/btp/sap-business-technology-platform/kyma-modules?version=Cloud"
_MODULES_DOCS = (
    "https://help.sap.com/docs/btp/sap-business-technology-platform/"
    "provisioning-and-update-parameters-in-kyma-environment?locale=en-US&q=IPv#modules"
)
_CHANNEL_NAMES = {"regular": "Regular - default version", "fast": "Fast - latest version"}


def _modules() -> Schema:
    """Either the default module set or an explicit list; ``{}`` or both at once fails the oneOf."""
    return {
        "_controlsOrder": ["default", "list"],
        "description": (
            "Use default modules or provide your custom list of modules. Provide an empty custom list of "
            "modules if you don\u2019t want any modules enabled."
        ),
        "oneOf": [_modules_default(), _modules_custom()],
        "type": "object",
    }


def _channel(description: str) -> Schema:
    return {
        "_enumDisplayName": dict(_CHANNEL_NAMES),
        "default": DEFAULT_MODULE_CHANNEL,
        "description": description,
        "enum": ["regular", "fast"],
        "title": "Default Module Channel",
        "type": "string",
    }


def _modules_default() -> Schema:
    return {
        "_controlsOrder": ["default", "channel"],
        "additionalProperties": False,
        "description": "Default modules",
        "properties": {
            "channel": _channel(
                "For the default modules, specifies your preferred default release channel: regular or "
                f"fast. For details, see <a href={_MODULES_DOCS}>Modules</a>."
            ),
            "default": {
                "default": True,
                "description": (
                    f"Check the default modules in the <a href={_MODULES_HELP}>default modules table</a>."
                ),
                "readOnly": True,
                "title": "Use Default",
                "type": "boolean",
            },
        },
        "title": "Default",
        "type": "object",
    }


def _modules_custom() -> Schema:
    return {
        "_controlsOrder": ["channel", "list"],
        "additionalProperties": False,
        "description": "Define custom module list",
        "properties": {
            "channel": _channel(
                "Specifies your preferred release channel, regular or fast, for all modules in your custom "
                "list. You can change this setting for individual modules if needed. For details, see "
                f"<a href={_MODULES_DOCS}>Modules</a>."
            ),
            "list": {
                "description": (
                    f"Check a module technical name on this <a href={_MODULES_HELP}>website</a>. You can "
                    "only use a module technical name once. Provide an empty custom list of modules if you "
                    "don\u2019t want any modules enabled."
                ),
                "items": _module_item(),
                "type": "array",
                "uniqueItems": True,
            },
        },
        "title": "Custom",
        "type": "object",
    }


def _module_item() -> Schema:
    return {
        "_controlsOrder": ["name", "channel", "customResourcePolicy"],
        "additionalProperties": False,
        "properties": {
            "channel": {
                "_enumDisplayName": {"": "", **_CHANNEL_NAMES},
                "default": "",
                "description": (
                    "Select your preferred release channel or leave this field empty. Overrides the "
                    "Default Module Channel."
                ),
                "enum": ["", "regular", "fast"],
                "type": "string",
            },
            "customResourcePolicy": {
                "_enumDisplayName": {
                    "": "",
                    "CreateAndDelete": "CreateAndDelete - default module resource is created or deleted.",
                    "Ignore": "Ignore - module resource is not created.",
                },
                "default": "",
                "description": (
                    "Select your preferred CustomResourcePolicy setting or leave this field empty."
                ),
                "enum": ["", "CreateAndDelete", "Ignore"],
                "type": "string",
            },
            "name": {
                "description": (
                    f"Check a module technical name on this <a href={_MODULES_HELP}>website</a>. You can "
                    "only use a module technical name once."
                ),
                "minLength": 1,
                "title": "Name",
                "type": "string",
            },
        },
        "type": "object",
    }


# -- networking --------------------------------------------------------------------------------------


def _networking(plan: Plan) -> Schema:
    properties: Schema = {
        part: {
            "default": NETWORKING_DEFAULTS[part],
            "description": f"CIDR range for {title}, must not overlap with the following CIDRs: {SEED_CIDRS}",
            "title": f"CIDR range for {title}",
            "type": "string",
        }
        for part, title in (("nodes", "Nodes"), ("pods", "Pods"), ("services", "Services"))
    }
    if plan.dual_stack:
        properties["dualStack"] = {
            "description": (
                "Enable dual-stack networking (IPv4 and IPv6). The Kyma Istio module does not support "
                "dual-stack mode."
            ),
            "title": "Enable dual stack (Istio module doesn't support dual stack)",
            "type": "boolean",
        }
    return {
        "description": (
            "Networking configuration. These values are immutable and cannot be updated later. All "
            "provided CIDR ranges must not overlap one another."
        ),
        "properties": properties,
        "required": ["nodes"],
        "type": "object",
    }


# -- OIDC --------------------------------------------------------------------------------------------

_OIDC_ORDER = [
    "clientID",
    "groupsClaim",
    "issuerURL",
    "signingAlgs",
    "usernameClaim",
    "usernamePrefix",
    "groupsPrefix",
    "requiredClaims",
    "encodedJwksArray",
]
_OIDC_TEXT = {
    "clientID": "The client ID for the OpenID Connect client.",
    "issuerURL": "The URL of the OpenID issuer, only HTTPS scheme will be accepted.",
    "groupsClaim": "If provided, the name of a custom OpenID Connect claim for specifying user groups.",
    "usernameClaim": "The OpenID claim to use as the user name.",
    "usernamePrefix": (
        "If provided, all usernames are prefixed with this value. If not provided, username claims other "
        "than 'email' are prefixed by the issuer URL to avoid clashes. To skip any prefixing, provide the "
        "value '-' (dash character without additional characters)."
    ),
    "groupsPrefix": (
        "If specified, causes claims mapping to group names to be prefixed with the current value. The "
        "'oidc:' value results in groups like 'oidc:engineering' and 'oidc:marketing'. The value '-' "
        "(dash character without additional characters) can be used to disable all prefixing."
    ),
    "signingAlgs": (
        "A comma-separated list of allowed JOSE asymmetric signing algorithms, for example, RS256, ES256."
    ),
    "requiredClaims": (
        "A list of key=value pairs that describes a required claim in the ID Token. If set, the claim is "
        "verified to be present in the ID Token with a matching value."
    ),
}


def _oidc(update: bool) -> Schema:
    """List-based OIDC (recommended) or the legacy single object, exactly one of them."""
    description = (
        "OIDC configuration. The list-based configuration is recommended. The object-based configuration "
        "is provided for backward compatibility."
    )
    if not update:
        description += (
            " The object-based configuration inputs are still writable, but only from the JSON view."
        )
    return {
        "description": description,
        "oneOf": [_oidc_list(update), _oidc_object(update)],
        "type": "object",
    }


def _oidc_list(update: bool) -> Schema:
    description = (
        "Specifies the list of OIDC configurations. Besides the default OIDC configuration, you can add "
        "multiple custom OIDC configurations. Leave the list empty to not use any OIDC configuration."
    )
    if update:
        description += (
            " To use the default configuration values, see the documentation. To switch the OIDC "
            "configuration from a single oidc object to an oidc list, rewrite your values."
        )
    default_entry = {**OIDC_DEFAULTS, "requiredClaims": [], "encodedJwksArray": ""}
    return {
        "additionalProperties": False,
        "description": "OIDC configuration list",
        "properties": {
            "list": {
                "default": [default_entry],
                "description": description,
                "items": _oidc_list_item(),
                "type": "array",
                "uniqueItems": True,
            }
        },
        "title": "List",
        "type": "object",
    }


def _oidc_list_item() -> Schema:
    properties: Schema = {}
    for key in ("clientID", "issuerURL", "groupsClaim", "usernameClaim", "usernamePrefix", "groupsPrefix"):
        properties[key] = {"description": _OIDC_TEXT[key], "minLength": 1, "type": "string"}
        if OIDC_DEFAULTS[key]:
            properties[key]["default"] = OIDC_DEFAULTS[key]
    properties["signingAlgs"] = {
        "default": list(OIDC_DEFAULTS["signingAlgs"]),
        "description": _OIDC_TEXT["signingAlgs"],
        "items": {"type": "string"},
        "minItems": 1,
        "type": "array",
    }
    properties["requiredClaims"] = {
        "description": _OIDC_TEXT["requiredClaims"],
        "items": {"pattern": "^[^=]+=[^=]+$", "type": "string"},
        "type": "array",
    }
    properties["encodedJwksArray"] = {
        "description": (
            "The JWKS array encoded in base64. Leave empty to not use it or to remove the previously "
            "set value."
        ),
        "type": "string",
    }
    return {
        "_controlsOrder": list(_OIDC_ORDER),
        "additionalProperties": False,
        "properties": properties,
        "required": _OIDC_ORDER[:7],
        "type": "object",
    }


def _oidc_object(update: bool) -> Schema:
    """The legacy object form; on create its inputs are read-only in the form view."""
    properties: Schema = {
        key: {"description": _OIDC_TEXT[key], "type": "string"}
        for key in ("clientID", "issuerURL", "groupsClaim", "usernameClaim", "usernamePrefix", "groupsPrefix")
    }
    properties["signingAlgs"] = {
        "description": _OIDC_TEXT["signingAlgs"],
        "items": {"type": "string"},
        "type": "array",
    }
    properties["requiredClaims"] = {
        "description": _OIDC_TEXT["requiredClaims"]
        + " To remove the previously set claims, use the value '-' (dash character without additional "
        "characters).",
        "items": {"pattern": "^([^=]+=[^=]+|-)$", "type": "string"},
        "type": "array",
    }
    properties["encodedJwksArray"] = {
        "description": (
            "The JWKS array encoded in base64. To remove the previously set value, enter the value '-' "
            "(dash character without additional characters)."
        ),
        "type": "string",
    }
    if not update:
        for prop in properties.values():
            prop["readOnly"] = True
    return {
        "_controlsOrder": list(_OIDC_ORDER),
        "description": "Legacy OIDC configuration",
        "properties": properties,
        "required": ["clientID", "issuerURL"],
        "title": "Object (not recommended)",
        "type": "object",
    }
