"""The published contract and the check that nothing breaks it.

    python -m tools.contracts check                                  # make breaking (tools/buf_breaking.sh)
    python -m tools.contracts publish --reason "why"                 # make contract-publish REASON="why"
    python -m tools.contracts publish --reason "why" --breaking      # declare a deliberate break
    python -m tools.contracts publish --reason "why" --replace       # redo the latest, unannounced version

The last published contract lives in `contracts/baseline/`, committed: `exchange.binpb` (a buf image of
proto/, imports included, without source info) and `rest_bindings.json` (every REST binding, method + path,
with its RPC and body, plus the version). `check` compares the working tree with that baseline and needs no
git history, so a shallow clone or a squashed branch is checked exactly like a full clone:

1. `buf breaking proto --against contracts/baseline/exchange.binpb` (the FILE + WIRE_JSON rules of buf.yaml);
2. every baseline REST binding is still declared by a google.api.http annotation, on the same RPC with the
   same body (buf does not look at annotations);
3. every baseline binding is still a path + method of the generated OpenAPI document.

`publish` advances the baseline deliberately: the version is `info.version` of `contracts/openapi.yaml` (the
same file sets the OpenAPI document's title and version), it must be new, and an incompatible contract is only
published with `--breaking` and a new major version. Each publication adds an entry to `contracts/CHANGELOG.md`
with the reason. See README.md, "Changing the contracts".
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from tools.infra.artifacts import REPO_ROOT
from tools.protogen import buf_executable

BASELINE_DIR = Path("contracts/baseline")
IMAGE_NAME = "exchange.binpb"
BINDINGS_NAME = "rest_bindings.json"
CHANGELOG = Path("contracts/CHANGELOG.md")
OPENAPI_CONFIG = Path("contracts/openapi.yaml")
OPENAPI_DOCUMENT = Path("gen/openapi/exchange.swagger.json")
PROTO_MODULE = "proto"
OWN_FILES_PREFIX = "exchange/"
BUF_TIMEOUT_S = 300
VERSION_PATTERN = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
CHANGELOG_HEADER = (
    "# Contract changelog\n\n"
    "Every published version of the `exchange.v1` contract (protos, REST bindings, OpenAPI), newest first.\n"
    "Written by `python -m tools.contracts publish`; see README.md, \"Changing the contracts\".\n"
)


@dataclass(frozen=True, slots=True, order=True)
class Binding:
    """One REST binding: `method` and `path` as annotated, the RPC it calls and the body mapping."""

    method: str
    path: str
    rpc: str
    body: str
    response_body: str


class ContractError(Exception):
    """The contract check or the publication failed; the message says why and what to do."""


def _buf(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([buf_executable(), *args], cwd=root, capture_output=True, text=True, timeout=BUF_TIMEOUT_S)


def build_image(root: Path, output: Path) -> None:
    """`buf build proto` into `output` (binary image, imports included, no source info: stable bytes)."""
    result = _buf("build", PROTO_MODULE, "--exclude-source-info", "-o", str(output), root=root)
    if result.returncode != 0:
        raise ContractError(f"buf build failed:\n{result.stderr}")


def bindings_of_image(image: bytes) -> list[Binding]:
    """Every google.api.http binding (additional bindings included) of our own files in a buf image."""
    # A buf image is wire-compatible with FileDescriptorSet; google.api.http is parsed because it is imported.
    files = descriptor_pb2.FileDescriptorSet.FromString(image).file
    bindings = []
    for file in files:
        if not file.name.startswith(OWN_FILES_PREFIX):
            continue
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                rpc = f"{file.package}.{service.name}.{method.name}"
                rules = (rule, *rule.additional_bindings)
                bindings += [_binding(rpc, each) for each in rules if each.WhichOneof("pattern")]
    return sorted(bindings)


def _binding(rpc: str, rule: http_pb2.HttpRule) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        method, path = kind.upper(), getattr(rule, kind)
    return Binding(method=method, path=path, rpc=rpc, body=rule.body, response_body=rule.response_body)


def openapi_path(path: str) -> str:
    """The OpenAPI spelling of an annotated path: `{name=things/*}` becomes `{name}`."""
    return re.sub(r"\{([^}=]+)=[^}]*\}", r"{\1}", path)


def _read_baseline(root: Path) -> tuple[str, list[Binding]]:
    image, bindings = root / BASELINE_DIR / IMAGE_NAME, root / BASELINE_DIR / BINDINGS_NAME
    if not image.exists() or not bindings.exists():
        raise ContractError(
            f"no published contract in {BASELINE_DIR}/ ({IMAGE_NAME} and {BINDINGS_NAME}); nothing can be checked. "
            "Publish one with `python -m tools.contracts publish --reason ...` (README.md, \"Changing the contracts\")")
    recorded = json.loads(bindings.read_text())
    return recorded["version"], [Binding(**each) for each in recorded["bindings"]]


def _buf_breaking(root: Path) -> list[str]:
    result = _buf("breaking", PROTO_MODULE, "--against", str(BASELINE_DIR / IMAGE_NAME), root=root)
    if result.returncode == 0:
        return []
    return [f"buf breaking: {line}" for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def _missing_bindings(baseline: list[Binding], current: list[Binding]) -> list[str]:
    by_route = {(binding.method, binding.path): binding for binding in current}
    problems = []
    for binding in baseline:
        now = by_route.get((binding.method, binding.path))
        if now is None:
            problems.append(f"REST binding {binding.method} {binding.path} ({binding.rpc}) was removed or moved")
        elif now != binding:
            problems.append(f"REST binding {binding.method} {binding.path} changed: {binding} -> {now}")
    return problems


def _missing_openapi_paths(baseline: list[Binding], document: dict) -> list[str]:
    paths = document.get("paths", {})
    return [
        f"OpenAPI {binding.method} {openapi_path(binding.path)} is missing from {OPENAPI_DOCUMENT}"
        for binding in baseline
        if binding.method.lower() not in paths.get(openapi_path(binding.path), {})
    ]


def compatibility_problems(root: Path) -> tuple[str, list[str]]:
    """The published version and everything in the working tree at `root` that breaks it (empty: compatible)."""
    version, baseline = _read_baseline(root)
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / IMAGE_NAME
        build_image(root, image)
        current = bindings_of_image(image.read_bytes())
    document = json.loads((root / OPENAPI_DOCUMENT).read_text())
    problems = _buf_breaking(root) + _missing_bindings(baseline, current) + _missing_openapi_paths(baseline, document)
    return version, problems


def check(root: Path) -> None:
    """Fail (ContractError) unless the working tree is compatible with the published contract."""
    version, problems = compatibility_problems(root)
    if problems:
        raise ContractError(
            f"the contract is not compatible with the published version {version} ({BASELINE_DIR}/):\n  "
            + "\n  ".join(problems)
            + "\nRestore what was removed, or declare the break: README.md, \"Changing the contracts\".")
    print(f"contract check: compatible with the published version {version} ({BASELINE_DIR}/)")


def configured_version(root: Path) -> str:
    """`info.version` of the OpenAPI configuration: the version the next publication carries."""
    config = yaml.safe_load((root / OPENAPI_CONFIG).read_text())
    files = config["openapi_options"]["file"]
    versions = {each["option"]["info"]["version"] for each in files}
    if len(versions) != 1:
        raise ContractError(f"{OPENAPI_CONFIG} must give one info.version, found {sorted(versions)}")
    version = versions.pop()
    if VERSION_PATTERN.fullmatch(version) is None:
        raise ContractError(f"{OPENAPI_CONFIG}: info.version {version!r} is not MAJOR.MINOR.PATCH")
    return version


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _git_commit(root: Path) -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    if head.returncode != 0:
        return "no git commit"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "proto"], cwd=root, capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted proto changes" if dirty.stdout.strip() else "")


def _changelog_entries(root: Path) -> list[str]:
    path = root / CHANGELOG
    if not path.exists():
        return []
    text = path.read_text()
    return ["## " + entry for entry in text.split("\n## ")[1:]]


def _entry_version(entry: str) -> str:
    return entry.split()[1]


def publish(root: Path, *, reason: str, breaking: bool, replace: bool, today: datetime.date) -> str:
    """Advance the baseline to the working tree's contract; return the published version."""
    version = configured_version(root)
    document = json.loads((root / OPENAPI_DOCUMENT).read_text())
    if document["info"]["version"] != version:
        raise ContractError(f"{OPENAPI_DOCUMENT} says version {document['info']['version']}, {OPENAPI_CONFIG} says "
                            f"{version}: run `make gen` first")
    entries = _changelog_entries(root)
    if replace:
        if not entries or _entry_version(entries[0]) != version:
            raise ContractError(f"--replace redoes the latest publication, which is not {version}")
        entries = entries[1:]
    elif entries:
        _check_new_version(root, version, breaking=breaking)
    if any(_entry_version(entry) == version for entry in entries):
        raise ContractError(f"version {version} was published already; raise info.version in {OPENAPI_CONFIG}")

    baseline = root / BASELINE_DIR
    baseline.mkdir(parents=True, exist_ok=True)
    build_image(root, baseline / IMAGE_NAME)
    image = (baseline / IMAGE_NAME).read_bytes()
    bindings = bindings_of_image(image)
    (baseline / BINDINGS_NAME).write_text(json.dumps(
        {"version": version, "bindings": [asdict(binding) for binding in bindings]}, indent=2) + "\n")
    entry = (f"## {version} ({today.isoformat()})\n\n"
             f"- Reason: {reason}\n"
             f"- Breaking: {'yes, declared' if breaking else 'no'}\n"
             f"- From: {_git_commit(root)}; {len(bindings)} REST bindings; "
             f"image sha256 {hashlib.sha256(image).hexdigest()[:16]}\n")
    (root / CHANGELOG).write_text(CHANGELOG_HEADER + "\n" + "\n".join([entry, *entries]))
    return version


def _check_new_version(root: Path, version: str, *, breaking: bool) -> None:
    published, problems = compatibility_problems(root)
    if _version_key(version) <= _version_key(published):
        raise ContractError(f"version {version} is not above the published {published}; raise info.version in "
                            f"{OPENAPI_CONFIG} and run `make gen`")
    if problems and not breaking:
        raise ContractError("the contract breaks the published version " + published + ":\n  " + "\n  ".join(problems)
                            + "\nto publish it anyway, declare the break with --breaking and a new major version")
    if breaking and not problems:
        raise ContractError(f"nothing breaks {published}: publish without --breaking")
    if breaking and _version_key(version)[0] <= _version_key(published)[0]:
        raise ContractError(f"a declared break needs a new major version: {published} -> {version}")


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="fail unless the working tree is compatible with the published contract")
    publisher = commands.add_parser("publish", help="make the working tree's contract the published baseline")
    publisher.add_argument("--reason", required=True, help="why this version is published (goes to the changelog)")
    publisher.add_argument("--breaking", action="store_true", help="declare that this version breaks the last one")
    publisher.add_argument("--replace", action="store_true",
                           help="redo the latest publication (same version; only before it was announced)")
    args = parser.parse_args()
    try:
        if args.command == "check":
            check(REPO_ROOT)
        else:
            version = publish(REPO_ROOT, reason=args.reason, breaking=args.breaking, replace=args.replace,
                              today=datetime.datetime.now(datetime.UTC).date())
            print(f"published contract {version}: {BASELINE_DIR}/ and {CHANGELOG} (commit them)")
    except ContractError as error:
        print(f"contract {args.command}: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
