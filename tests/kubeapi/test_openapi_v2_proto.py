"""The gnostic OpenAPI v2 encoder, decoded by the ``protobuf`` package; /openapi/v2 on a real server."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi import openapi_v2_proto
from kymaprov.kubeapi.openapi_v2_proto import encode, negotiate, to_yaml
from tests.kubeapi.conftest import Kube, binding_token

# openapi.v2 messages (google/gnostic openapiv2/OpenAPIv2.proto), declared independently of the encoder
# as "field=number:type" (s string, b bool, d double, i int64, else a message; * repeated). Declared
# proto2 so that a oneof member or an empty message that was written is visible with HasField.
MESSAGES = {
    "Document": "swagger=1:s info=2:Info host=3:s base_path=4:s schemes=5:*s consumes=6:*s produces=7:*s "
    "paths=8:Paths definitions=9:Definitions parameters=10:ParameterDefinitions responses=11:ResponseDefinitions "
    "security=12:*SecurityRequirement security_definitions=13:SecurityDefinitions tags=14:*Tag "
    "external_docs=15:ExternalDocs vendor_extension=16:*NamedAny",
    "Info": "title=1:s version=2:s description=3:s terms_of_service=4:s vendor_extension=7:*NamedAny",
    "Tag": "name=1:s description=2:s vendor_extension=4:*NamedAny",
    "ExternalDocs": "description=1:s url=2:s vendor_extension=3:*NamedAny",
    "Any": "yaml=2:s",
    "NamedAny": "name=1:s value=2:Any",
    "Paths": "vendor_extension=1:*NamedAny path=2:*NamedPathItem",
    "NamedPathItem": "name=1:s value=2:PathItem",
    "PathItem": "_ref=1:s get=2:Operation put=3:Operation post=4:Operation delete=5:Operation "
    "options=6:Operation head=7:Operation patch=8:Operation parameters=9:*ParametersItem "
    "vendor_extension=10:*NamedAny",
    "Operation": "tags=1:*s summary=2:s description=3:s operation_id=5:s produces=6:*s consumes=7:*s "
    "parameters=8:*ParametersItem responses=9:Responses schemes=10:*s deprecated=11:b "
    "vendor_extension=13:*NamedAny",
    "ParametersItem": "parameter=1:Parameter json_reference=2:JsonReference",
    "JsonReference": "_ref=1:s description=2:s",
    "Parameter": "body_parameter=1:BodyParameter non_body_parameter=2:NonBodyParameter",
    "BodyParameter": "description=1:s name=2:s in=3:s required=4:b schema=5:Schema vendor_extension=6:*NamedAny",
    "NonBodyParameter": "header_parameter_sub_schema=1:HeaderParameterSubSchema "
    "query_parameter_sub_schema=3:QueryParameterSubSchema path_parameter_sub_schema=4:PathParameterSubSchema",
    "HeaderParameterSubSchema": "required=1:b in=2:s description=3:s name=4:s type=5:s",
    "PathParameterSubSchema": "required=1:b in=2:s description=3:s name=4:s type=5:s format=6:s "
    "unique_items=19:b vendor_extension=22:*NamedAny",
    "QueryParameterSubSchema": "required=1:b in=2:s description=3:s name=4:s allow_empty_value=5:b type=6:s "
    "format=7:s items=8:PrimitivesItems collection_format=9:s default=10:Any maximum=11:d minimum=13:d "
    "max_length=15:i unique_items=20:b enum=21:*Any vendor_extension=23:*NamedAny",
    "PrimitivesItems": "type=1:s format=2:s",
    "Responses": "response_code=1:*NamedResponseValue vendor_extension=2:*NamedAny",
    "NamedResponseValue": "name=1:s value=2:ResponseValue",
    "ResponseValue": "response=1:Response json_reference=2:JsonReference",
    "Response": "description=1:s schema=2:SchemaItem vendor_extension=5:*NamedAny",
    "SchemaItem": "schema=1:Schema",
    "Definitions": "additional_properties=1:*NamedSchema",
    "Properties": "additional_properties=1:*NamedSchema",
    "NamedSchema": "name=1:s value=2:Schema",
    "Schema": "_ref=1:s format=2:s title=3:s description=4:s default=5:Any multiple_of=6:d maximum=7:d "
    "exclusive_maximum=8:b minimum=9:d exclusive_minimum=10:b max_length=11:i min_length=12:i pattern=13:s "
    "max_items=14:i min_items=15:i unique_items=16:b max_properties=17:i min_properties=18:i required=19:*s "
    "enum=20:*Any additional_properties=21:AdditionalPropertiesItem type=22:TypeItem items=23:ItemsItem "
    "all_of=24:*Schema properties=25:Properties discriminator=26:s read_only=27:b example=30:Any "
    "vendor_extension=31:*NamedAny",
    "AdditionalPropertiesItem": "schema=1:Schema boolean=2:b",
    "TypeItem": "value=1:*s",
    "ItemsItem": "schema=1:*Schema",
    "ParameterDefinitions": "additional_properties=1:*NamedParameter",
    "NamedParameter": "name=1:s value=2:Parameter",
    "ResponseDefinitions": "additional_properties=1:*NamedResponse",
    "NamedResponse": "name=1:s value=2:Response",
    "SecurityRequirement": "additional_properties=1:*NamedStringArray",
    "NamedStringArray": "name=1:s value=2:StringArray",
    "StringArray": "value=1:*s",
    "SecurityDefinitions": "additional_properties=1:*NamedSecurityDefinitionsItem",
    "NamedSecurityDefinitionsItem": "name=1:s value=2:SecurityDefinitionsItem",
    "SecurityDefinitionsItem": "api_key_security=2:ApiKeySecurity",
    "ApiKeySecurity": "type=1:s name=2:s in=3:s description=4:s vendor_extension=5:*NamedAny",
}
SCALARS = {
    "s": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "b": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "d": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "i": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
}


def _document_class() -> Any:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="openapiv2_test.proto", package="openapi.v2", syntax="proto2"
    )
    for name, spec in MESSAGES.items():
        message = fdp.message_type.add(name=name)
        for field in spec.split():
            field_name, _, rest = field.partition("=")
            number, _, kind = rest.partition(":")
            repeated = kind.startswith("*")
            kind = kind.lstrip("*")
            f = message.field.add(name=field_name, number=int(number), json_name=field_name)
            f.label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            if kind in SCALARS:
                f.type = SCALARS[kind]
            else:
                f.type, f.type_name = f.TYPE_MESSAGE, f".openapi.v2.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("openapi.v2.Document"))


Document = _document_class()


def decode(data: bytes) -> Any:
    document = Document()
    document.ParseFromString(data)
    return document


def _unknown_fields(message: Any) -> list[str]:
    """Fields the decoder did not recognise, anywhere in the tree (a wrong number or wire type)."""
    found = [f"{message.DESCRIPTOR.name}.{f.field_number}" for f in UnknownFieldSet(message)]
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for item in [value] if hasattr(value, "ListFields") else value:
                found += _unknown_fields(item)
    return found


GVK = {"group": "apps", "version": "v1", "kind": "Deployment"}
SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Kubernetes", "version": "v1.33.0"},
    "paths": {
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
            "parameters": [
                {
                    "uniqueItems": True,
                    "type": "string",
                    "description": "name",
                    "name": "name",
                    "in": "path",
                    "required": True,
                },
                {"$ref": "#/parameters/namespace-vgWSWtn3"},
            ],
            "patch": {
                "description": "partially update the specified Deployment",
                "consumes": ["application/json-patch+json", "application/apply-patch+yaml"],
                "produces": ["application/json"],
                "schemes": ["https"],
                "tags": ["apps_v1"],
                "operationId": "patchAppsV1NamespacedDeployment",
                "parameters": [
                    {"name": "body", "in": "body", "required": True, "schema": {"type": "object"}},
                    {"uniqueItems": True, "type": "string", "name": "fieldValidation", "in": "query"},
                    {
                        "type": "integer",
                        "maximum": 10.5,
                        "minimum": -1,
                        "maxLength": 3,
                        "default": 0,
                        "name": "n",
                        "in": "query",
                    },
                    {"type": "string", "enum": ["Strict", "Warn", ""], "name": "mode", "in": "query"},
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"},
                    },
                    "401": {"description": "Unauthorized"},
                    "default": {"$ref": "#/responses/error"},
                },
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": GVK,
            },
        },
        "x-ignored-by-paths": True,
    },
    "definitions": {
        "io.k8s.api.apps.v1.Deployment": {
            "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
            "type": "object",
            "required": ["spec"],
            "properties": {
                "metadata": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                    "default": {},
                },
                "spec": {"description": "spec", "allOf": [{"$ref": "#/definitions/Spec"}]},
                "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1e21},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "closed": {"type": "object", "additionalProperties": False},
                "ports": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-patch-merge-key": "containerPort",
                    "x-kubernetes-patch-strategy": "merge",
                },
                "intOrString": {"type": ["string", "integer"], "x-kubernetes-int-or-string": True},
                "empty": {"properties": {}},
            },
            "x-kubernetes-group-version-kind": [GVK],
        },
    },
    "parameters": {
        "namespace-vgWSWtn3": {
            "uniqueItems": True,
            "type": "string",
            "name": "namespace",
            "in": "path",
            "required": True,
        }
    },
    "responses": {"error": {"description": "error"}},
    "securityDefinitions": {
        "BearerToken": {
            "description": "Bearer Token authentication",
            "type": "apiKey",
            "name": "authorization",
            "in": "header",
        }
    },
    "security": [{"BearerToken": []}],
}


@pytest.fixture(scope="module")
def doc() -> Any:
    """SWAGGER encoded here and decoded by protobuf's own parser with gnostic's message classes."""
    return decode(encode(SWAGGER))


def test_encoding_decodes_with_an_independent_parser_in_canonical_order(doc: Any) -> None:
    assert _unknown_fields(doc) == []
    # written in field-number order, as Go's proto.Marshal (and this canonical serializer) writes it
    assert doc.SerializeToString() == encode(SWAGGER)


def test_encoded_info_and_paths(doc: Any) -> None:
    assert (doc.swagger, doc.info.title, doc.info.version) == ("2.0", "Kubernetes", "v1.33.0")
    assert [(e.name, e.value.yaml) for e in doc.paths.vendor_extension] == [("x-ignored-by-paths", "true\n")]
    [path] = doc.paths.path
    assert path.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def test_encoded_path_parameters(doc: Any) -> None:
    item = doc.paths.path[0].value
    name_param = item.parameters[0].parameter.non_body_parameter.path_parameter_sub_schema
    assert (name_param.name, getattr(name_param, "in")) == ("name", "path")
    assert name_param.required and name_param.unique_items and name_param.description == "name"
    assert item.parameters[1].json_reference._ref == "#/parameters/namespace-vgWSWtn3"


def test_encoded_operation(doc: Any) -> None:
    patch = doc.paths.path[0].value.patch
    assert list(patch.consumes) == ["application/json-patch+json", "application/apply-patch+yaml"]
    assert (list(patch.schemes), list(patch.tags), patch.operation_id) == (
        ["https"],
        ["apps_v1"],
        "patchAppsV1NamespacedDeployment",
    )


def test_encoded_operation_parameters_of_each_kind(doc: Any) -> None:
    body, field_validation, n, mode = doc.paths.path[0].value.patch.parameters
    assert body.parameter.body_parameter.schema.type.value == ["object"]
    assert body.parameter.body_parameter.required
    query = field_validation.parameter.non_body_parameter.query_parameter_sub_schema
    assert (query.name, query.type, query.unique_items) == ("fieldValidation", "string", True)
    numbers = n.parameter.non_body_parameter.query_parameter_sub_schema
    assert (numbers.maximum, numbers.minimum, numbers.max_length, numbers.default.yaml) == (
        10.5,
        -1.0,
        3,
        "0\n",
    )
    assert [e.yaml for e in mode.parameter.non_body_parameter.query_parameter_sub_schema.enum] == [
        "Strict\n",
        "Warn\n",
        '""\n',
    ]


def test_encoded_operation_responses_and_vendor_extensions(doc: Any) -> None:
    patch = doc.paths.path[0].value.patch
    codes = {r.name: r.value for r in patch.responses.response_code}
    assert codes["200"].response.schema.schema._ref == "#/definitions/io.k8s.api.apps.v1.Deployment"
    assert codes["401"].response.description == "Unauthorized" and not codes["401"].response.HasField(
        "schema"
    )
    assert codes["default"].json_reference._ref == "#/responses/error"
    extensions = {e.name: e.value.yaml for e in patch.vendor_extension}
    assert extensions == {
        "x-kubernetes-action": "patch\n",
        "x-kubernetes-group-version-kind": "group: apps\nversion: v1\nkind: Deployment\n",
    }


def test_encoded_definition(doc: Any) -> None:
    [definition] = doc.definitions.additional_properties
    schema = definition.value
    assert definition.name == "io.k8s.api.apps.v1.Deployment"
    assert (schema.type.value, list(schema.required)) == (["object"], ["spec"])
    assert {e.name: e.value.yaml for e in schema.vendor_extension} == {
        "x-kubernetes-group-version-kind": "- group: apps\n  version: v1\n  kind: Deployment\n"
    }
    props = {p.name: p.value for p in schema.properties.additional_properties}
    assert list(props) == [
        "metadata",
        "spec",
        "replicas",
        "labels",
        "closed",
        "ports",
        "intOrString",
        "empty",
    ]


def test_encoded_schema_properties_of_each_kind(doc: Any) -> None:
    props = {
        p.name: p.value
        for p in doc.definitions.additional_properties[0].value.properties.additional_properties
    }
    assert props["metadata"]._ref == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert props["metadata"].default.yaml == "{}\n"
    assert props["spec"].all_of[0]._ref == "#/definitions/Spec"
    assert (props["replicas"].format, props["replicas"].maximum) == ("int32", 1e21)
    assert not props["replicas"].HasField("minimum")  # proto3 leaves a zero out
    assert props["labels"].additional_properties.schema.type.value == ["string"]
    assert props["labels"].additional_properties.schema.default.yaml == '""\n'
    assert props["closed"].additional_properties.HasField("boolean")
    assert props["closed"].additional_properties.boolean is False
    assert props["ports"].items.schema[0].type.value == ["integer"]
    assert {e.name: e.value.yaml for e in props["ports"].vendor_extension} == {
        "x-kubernetes-list-map-keys": "- containerPort\n- protocol\n",
        "x-kubernetes-list-type": "map\n",
        "x-kubernetes-patch-merge-key": "containerPort\n",
        "x-kubernetes-patch-strategy": "merge\n",
    }
    assert props["intOrString"].type.value == ["string", "integer"]
    assert props["empty"].HasField("properties") and not props["empty"].properties.additional_properties


def test_encoded_shared_parameters_responses_and_security(doc: Any) -> None:
    namespace = doc.parameters.additional_properties[0]
    assert namespace.value.non_body_parameter.path_parameter_sub_schema.name == "namespace"
    assert doc.responses.additional_properties[0].value.description == "error"
    bearer = doc.security_definitions.additional_properties[0]
    assert (bearer.name, bearer.value.api_key_security.name) == ("BearerToken", "authorization")
    assert doc.security[0].additional_properties[0].name == "BearerToken"
    assert doc.security[0].additional_properties[0].value.value == []


def test_wire_details() -> None:
    """Hand-checked bytes: key = number << 3 | wire type, negative int64 as ten bytes, doubles LE."""
    assert encode({"swagger": "2.0"}) == b"\x0a\x032.0"
    schema = (
        bytes.fromhex("39 000000000000f83f")  # maximum = 7, fixed64 1.5
        + bytes.fromhex("60 ffffffffffffffffff01")  # min_length = 12, varint -1
        + bytes.fromhex("aa01 02 1001")  # additional_properties = 21 {boolean = 2: true}
    )
    named = b"\x0a\x01a" + b"\x12" + bytes([len(schema)]) + schema
    definitions = b"\x0a" + bytes([len(named)]) + named
    document = {"definitions": {"a": {"minLength": -1, "maximum": 1.5, "additionalProperties": True}}}
    assert encode(document) == b"\x4a" + bytes([len(definitions)]) + definitions
    assert decode(encode(document)).definitions.additional_properties[0].value.min_length == -1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("get", "get\n"),
        ("", '""\n'),
        ("true", '"true"\n'),
        ("1.33", '"1.33"\n'),
        ("0755", '"0755"\n'),
        ("2024-01-02", '"2024-01-02"\n'),
        ("yes", "yes\n"),
        ("null", '"null"\n'),
        ("retainKeys,merge", "retainKeys,merge\n"),
        ("a: b", "'a: b'\n"),
        ("*", "'*'\n"),
        ("it's", "it's\n"),
        ("it's #1", "'it''s #1'\n"),
        ("a#b", "a#b\n"),
        ("tab\there", '"tab\\there"\n'),
        ("two\nlines", "|-\n    two\n    lines\n"),
        (5, "5\n"),
        (1.5, "1.5\n"),
        (100.0, "100\n"),
        (True, "true\n"),
        (None, "null\n"),
        ({}, "{}\n"),
        ([], "[]\n"),
        ({"code": 123, "message": 999}, "code: 123\nmessage: 999\n"),
        ([{"group": "", "kind": "Pod", "version": "v1"}], '- group: ""\n  kind: Pod\n  version: v1\n'),
        (
            {"a": {"b": [1, {"c": "d", "e": []}]}},
            "a:\n    b:\n        - 1\n        - c: d\n          e: []\n",
        ),
        ({"k": "x\ny\n"}, "k: |\n    x\n    y\n"),
    ],
)
def test_vendor_extension_yaml_is_go_yaml_v3(value: Any, expected: str) -> None:
    """``Any.yaml`` as gnostic's compiler.Marshal writes it (block style, 4 spaces, quoting by type)."""
    assert to_yaml(value) == expected


@pytest.mark.parametrize(
    ("accept", "form"),
    [
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "protobuf"),
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "protobuf"),
        ("application/json", "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/*", "json"),
        ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "protobuf"),
        ("*/*, application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "protobuf"),
        ("application/yaml", None),
        ("text/html", None),
    ],
)
def test_negotiation(accept: str, form: str | None) -> None:
    assert negotiate(accept) == form


def test_full_size_document_encodes_and_decodes() -> None:
    """~700 definitions with nested properties (the size of kube's document); how long encoding takes is
    measured by ``bench/bench_openapi_v2_proto.py``."""
    definitions = {
        f"io.k8s.api.group{i}.v1.Kind{i}": {
            "description": "A kind. " * 20,
            "type": "object",
            "properties": {
                f"field{j}": {
                    "description": "A field. " * 10,
                    "type": "array",
                    "items": {"$ref": f"#/definitions/io.k8s.api.group{j}.v1.Kind{j}", "default": {}},
                    "x-kubernetes-list-type": "atomic",
                }
                for j in range(12)
            },
            "x-kubernetes-group-version-kind": [{"group": f"group{i}", "kind": f"Kind{i}", "version": "v1"}],
        }
        for i in range(700)
    }
    data = encode(
        {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "definitions": definitions}
    )
    assert len(decode(data).definitions.additional_properties) == 700


def test_served_bodies_are_built_once() -> None:
    assert openapi_v2_proto.served() is openapi_v2_proto.served()


PROTOBUF_ACCEPT = {"accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}


def test_openapi_v2_endpoint(access: ClusterAccess, admin: Kube) -> None:
    binding = Kube(access, token=binding_token(admin))
    reply = binding.get("/openapi/v2", headers=PROTOBUF_ACCEPT)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert reply.headers["vary"] == "Accept"
    doc = decode(reply.content)
    assert _unknown_fields(doc) == []
    assert doc.swagger == "2.0"
    patches = {}
    for path in doc.paths.path:
        if path.value.HasField("patch"):
            extensions = {e.name: e.value.yaml for e in path.value.patch.vendor_extension}
            gvk = yaml.safe_load(extensions["x-kubernetes-group-version-kind"])
            patches[gvk["group"], gvk["version"], gvk["kind"]] = path.value.patch
    deployment = patches["apps", "v1", "Deployment"]
    queries = [p.parameter.non_body_parameter.query_parameter_sub_schema.name for p in deployment.parameters]
    assert "fieldValidation" in queries

    json_reply = binding.get("/openapi/v2")
    assert json_reply.status_code == 200
    assert json_reply.headers["content-type"] == "application/json"
    assert json_reply.json()["swagger"] == "2.0"
    assert json_reply.headers["etag"] == reply.headers["etag"]
    assert decode(encode(json_reply.json())) == doc

    refused = binding.get("/openapi/v2", headers={"accept": "application/yaml"})
    assert refused.status_code == 406

    # kubectl's old fallback path: an unknown non-resource URL, forbidden without a rule for it, else 404
    forbidden = binding.get("/swagger-2.0.0.pb-v1")
    assert (forbidden.status_code, forbidden.json()["reason"]) == (403, "Forbidden")
    assert 'cannot get path "/swagger-2.0.0.pb-v1"' in forbidden.json()["message"]
    missing = admin.get("/swagger-2.0.0.pb-v1")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "NotFound"
    assert "/openapi/v2" in admin.get("/").json()["paths"]
    binding.close()
