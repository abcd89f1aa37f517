"""Go tools the project needs, installed from the Go module proxy into `.local/bin` (pinned, cached).

- protoc-gen-go, protoc-gen-go-grpc, protoc-gen-grpc-gateway, protoc-gen-openapiv2: buf plugins (tools/protogen.py)
- grpcurl: the command-line gRPC client used in the README's examples

`go install` keeps its download and build caches in the user's Go directories, so a second install (or CI on the
same machine) is a fast no-op; a tool whose binary exists with the pinned version stamp is skipped entirely.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.infra.artifacts import LOCAL_DIR

GO_BIN_DIR = LOCAL_DIR / "bin"
GO_INSTALL_TIMEOUT_S = 900

# binary name -> module path@version
GO_TOOLS: dict[str, str] = {
    "protoc-gen-go": "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12",
    "protoc-gen-go-grpc": "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1",
    "protoc-gen-grpc-gateway": "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0",
    "protoc-gen-openapiv2": "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.33.0",
    "grpcurl": "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3",
}


def install_go_tools() -> Path:
    """Install every pinned Go tool that is missing or at another version; return the bin directory."""
    GO_BIN_DIR.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "GOBIN": str(GO_BIN_DIR), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    for binary, module in GO_TOOLS.items():
        stamp = GO_BIN_DIR / f".{binary}.version"
        if (GO_BIN_DIR / binary).exists() and stamp.exists() and stamp.read_text() == module:
            continue
        print(f"go install {module} ...", file=sys.stderr, flush=True)
        subprocess.run(["go", "install", module], check=True, env=environment, timeout=GO_INSTALL_TIMEOUT_S)
        stamp.write_text(module)
    return GO_BIN_DIR


if __name__ == "__main__":
    print(install_go_tools())
