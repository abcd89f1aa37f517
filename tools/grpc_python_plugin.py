"""A protoc plugin that runs grpcio-tools' built-in gRPC Python generator on the request it is given.

buf talks to generators through the protoc plugin protocol (a CodeGeneratorRequest on stdin, a
CodeGeneratorResponse on stdout). grpcio-tools has no standalone `protoc-gen-grpc_python`, so this plugin writes
the request's descriptors to a descriptor set, runs the pinned `grpc_tools.protoc --grpc_python_out` on it in a
temporary directory and returns the files it wrote.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Run the gRPC Python generator over `request.file_to_generate`."""
    response = plugin_pb2.CodeGeneratorResponse()
    with tempfile.TemporaryDirectory() as work:
        descriptor_set = Path(work) / "descriptors.pb"
        descriptor_set.write_bytes(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        out_dir = Path(work) / "out"
        out_dir.mkdir()
        status = protoc.main(
            ["protoc", f"--descriptor_set_in={descriptor_set}", f"--grpc_python_out={out_dir}",
             *request.file_to_generate]
        )
        if status != 0:
            response.error = f"grpc_tools.protoc exited with {status}"
            return response
        for path in sorted(out_dir.rglob("*.py")):
            generated = response.file.add()
            generated.name = str(path.relative_to(out_dir))
            generated.content = path.read_text()
    return response


def main() -> None:
    """Read a CodeGeneratorRequest from stdin and write the CodeGeneratorResponse to stdout."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
