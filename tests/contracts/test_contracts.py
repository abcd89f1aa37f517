"""The protobuf contracts: every message round-trips (binary and JSON), the enum table follows its rules,
the gRPC stubs import, the REST bindings include the seed's paths, the OpenAPI document is valid, and the
grpc-gateway proxy builds."""

import importlib
import json
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor, json_format
from google.protobuf.message import Message
from openapi_spec_validator import validate

import exchange.v1

REPO_ROOT = Path(__file__).resolve().parents[2]
GEN_MODULES: list[ModuleType] = [
    importlib.import_module(f"exchange.v1.{info.name}")
    for info in pkgutil.iter_modules(exchange.v1.__path__)
    if info.name.endswith("_pb2")
]
ALL_MESSAGES = sorted(
    (message for module in GEN_MODULES for message in module.DESCRIPTOR.message_types_by_name.values()),
    key=lambda message: message.full_name,
)
ALL_ENUMS = sorted(
    (enum for module in GEN_MODULES for enum in module.DESCRIPTOR.enum_types_by_name.values()),
    key=lambda enum: enum.full_name,
)
ALL_SERVICES = [service for module in GEN_MODULES for service in module.DESCRIPTOR.services_by_name.values()]


def _sample_value(field: descriptor.FieldDescriptor, depth: int) -> object:
    kind = field.type
    if kind == descriptor.FieldDescriptor.TYPE_MESSAGE:
        return _populated(field.message_type, depth + 1)
    if kind == descriptor.FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if kind == descriptor.FieldDescriptor.TYPE_BOOL:
        return True
    if kind == descriptor.FieldDescriptor.TYPE_STRING:
        return f"{field.name}-é"
    if kind == descriptor.FieldDescriptor.TYPE_BYTES:
        return bytes(range(32))
    if kind in (descriptor.FieldDescriptor.TYPE_INT64, descriptor.FieldDescriptor.TYPE_SINT64):
        return -(2**63) + field.number  # extreme values must survive the wire
    if kind == descriptor.FieldDescriptor.TYPE_UINT64:
        return 2**64 - field.number
    if kind == descriptor.FieldDescriptor.TYPE_INT32:
        return -(2**31) + field.number
    if kind == descriptor.FieldDescriptor.TYPE_UINT32:
        return 2**32 - field.number
    raise AssertionError(f"no sample for {field.full_name} of type {kind}")


def _populated(message_descriptor: descriptor.Descriptor, depth: int = 0) -> Message:
    """An instance with every field set to a non-default value (first member of each oneof)."""
    message = _message_class(message_descriptor)()
    if depth > 3:
        return message
    for field in message_descriptor.fields:
        if field.containing_oneof is not None and field.containing_oneof.fields[0] is not field:
            continue
        value = _sample_value(field, depth)
        if field.is_repeated:
            container = getattr(message, field.name)
            for _ in range(2):
                if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                    container.add().CopyFrom(value)
                else:
                    container.append(value)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(value)
        else:
            setattr(message, field.name, value)
    return message


def _message_class(message_descriptor: descriptor.Descriptor) -> type[Message]:
    module = next(m for m in GEN_MODULES if m.DESCRIPTOR.name == message_descriptor.file.name)
    return getattr(module, message_descriptor.name)


def test_contracts_cover_every_payload_named_by_the_design() -> None:
    names = {message.name for message in ALL_MESSAGES}
    required = {"BalanceRequest", "BalanceEvent", "InternalOrder", "InternalCancel", "OrderCommand",
                "UbscoreRequest", "UbscoreResponse", "EngineOutput", "Trade", "OrderUpdate", "BookDelta"}
    assert required <= names, required - names


@pytest.mark.parametrize("message_descriptor", ALL_MESSAGES, ids=lambda m: m.full_name)
def test_message_with_every_field_set_round_trips(message_descriptor: descriptor.Descriptor) -> None:
    original = _populated(message_descriptor)
    decoded = type(original).FromString(original.SerializeToString(deterministic=True))
    assert decoded == original
    from_json = json_format.Parse(json_format.MessageToJson(original), type(original)())
    assert from_json == original
    if message_descriptor.fields:
        assert original != type(original)(), "the sample must differ from the empty message"


@pytest.mark.parametrize("enum_descriptor", ALL_ENUMS, ids=lambda e: e.full_name)
def test_enum_starts_with_unspecified_zero_and_prefixes_values(enum_descriptor: descriptor.EnumDescriptor) -> None:
    prefix = "".join(("_" + c if c.isupper() else c.upper()) for c in enum_descriptor.name).lstrip("_")
    assert enum_descriptor.values[0].name == f"{prefix}_UNSPECIFIED"
    assert enum_descriptor.values[0].number == 0
    assert all(value.name.startswith(prefix + "_") for value in enum_descriptor.values)


def test_reject_reason_numbers_sit_in_their_owner_ranges() -> None:
    reasons = next(e for e in ALL_ENUMS if e.name == "RejectReason")
    for value in reasons.values[1:]:
        assert 1000 <= value.number < 4000, value.name


def test_grpc_stubs_import_and_expose_every_rpc() -> None:
    assert {service.name for service in ALL_SERVICES} == {"TradingService", "AccountService", "MarketDataService"}
    for service in ALL_SERVICES:
        module = importlib.import_module(f"exchange.v1.{Path(service.file.name).stem}_pb2_grpc")
        servicer = getattr(module, f"{service.name}Servicer")
        assert hasattr(module, f"{service.name}Stub")
        assert hasattr(module, f"add_{service.name}Servicer_to_server")
        for method in service.methods:
            assert callable(getattr(servicer, method.name))


def test_every_rpc_but_client_streaming_has_a_rest_binding() -> None:
    """grpc-gateway cannot carry a client stream over HTTP/1; every other RPC must be reachable over REST."""
    for service in ALL_SERVICES:
        for method in service.methods:
            has_binding = method.GetOptions().HasExtension(annotations_pb2.http)
            assert has_binding != method.client_streaming, method.full_name


def _http_paths() -> set[str]:
    paths = set()
    for service in ALL_SERVICES:
        for method in service.methods:
            if not method.GetOptions().HasExtension(annotations_pb2.http):
                continue
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            for binding in [rule, *rule.additional_bindings]:
                paths.add(getattr(binding, binding.WhichOneof("pattern")))
    return paths


def test_rest_bindings_include_the_seed_paths() -> None:
    assert {"/transfer_in", "/transfer_out", "/orders"} <= _http_paths()


def test_openapi_document_is_valid_and_lists_every_rest_path() -> None:
    document = json.loads((REPO_ROOT / "gen/openapi/exchange.swagger.json").read_text())
    validate(document)
    assert _http_paths() <= set(document["paths"])


def test_openapi_document_has_title_version_bearer_security_and_error_schema() -> None:
    """Every operation needs the bearer key (document-level security) and documents its error answers."""
    document = json.loads((REPO_ROOT / "gen/openapi/exchange.swagger.json").read_text())
    assert document["info"]["title"] == "Exchange API"
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", document["info"]["version"])
    assert document["securityDefinitions"]["bearer"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": document["securityDefinitions"]["bearer"]["description"]}
    assert document["security"] == [{"bearer": []}]
    assert set(document["definitions"]["rpcStatus"]["properties"]) == {"code", "message", "details"}
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    for operation in operations:
        assert "security" not in operation, operation["operationId"]
        for http_status in ("400", "401", "403", "404", "429", "503", "default"):
            assert operation["responses"][http_status]["schema"]["$ref"] == "#/definitions/rpcStatus"


def test_openapi_operation_ids_are_unique_and_readable() -> None:
    """Additional (seed-path) bindings are named after their path, not numbered (`..._PlaceOrder2`)."""
    document = json.loads((REPO_ROOT / "gen/openapi/exchange.swagger.json").read_text())
    ids = {path: operation["operationId"] for path, item in document["paths"].items() for operation in item.values()}
    assert len(set(ids.values())) == len(ids)
    assert all(not operation_id[-1].isdigit() for operation_id in ids.values()), ids
    assert ids["/orders"] == "TradingService_PlaceOrder_orders"
    assert ids["/transfer_in"] == "AccountService_TransferIn_transfer_in"


def test_grpc_gateway_proxy_builds(proxy_binary: Path) -> None:
    """`go build ./gateway/rest` succeeds (the fixture builds it once for every REST test)."""
    assert proxy_binary.stat().st_size > 0
