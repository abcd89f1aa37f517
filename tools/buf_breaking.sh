#!/usr/bin/env bash
# Schema-compatibility check (make breaking): the working tree against the last PUBLISHED contract, committed in
# contracts/baseline/ (buf image + REST bindings). No git history is read, so shallow clones are checked fully.
# buf breaking (FILE + WIRE_JSON), then every published REST binding and OpenAPI path must still exist.
# Details and how to publish or declare a break: tools/contracts.py, README.md "Changing the contracts".
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tools.contracts check
