#!/usr/bin/env bash
# Schema-compatibility check: the protos of this commit against those of the previous commit of main.
# The first commit that introduced proto/ has nothing to compare against, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
against="${BUF_BREAKING_AGAINST:-HEAD~1}"
if ! git cat-file -e "${against}:buf.yaml" 2>/dev/null; then
  echo "buf breaking: ${against} has no buf.yaml; nothing to compare against"
  exit 0
fi
.venv/bin/buf breaking --against ".git#ref=${against}"
echo "buf breaking: no breaking change against ${against}"
