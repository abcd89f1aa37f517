"""A TCP forwarder run as its own process, to stand between Settlement and the shared CQL server in tests.

Killing it (SIGKILL) cuts every connection and refuses new ones: to the driver the CQL server is down. Stopping it
(SIGSTOP) leaves connections open but silent: requests time out, as with an overloaded server. The shared
Cassandra itself is never touched.

    python -m tests.integration.settlement.tcp_proxy --listen-port 19042 --target 127.0.0.1:9042
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

CHUNK_BYTES = 65_536


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until EOF or an error, then close the writing side."""
    try:
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def serve(listen_port: int, target_host: str, target_port: int) -> None:
    """Accept on 127.0.0.1:listen_port and forward each connection to the target."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    print("proxy ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the flags and forward until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--target", required=True, help="host:port")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    asyncio.run(serve(args.listen_port, host, int(port)))


if __name__ == "__main__":
    main()
