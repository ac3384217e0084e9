"""Serve the local Realtime peer: `python -m tests.peer [--port N] [--demo]`.

For offline development (scripts/develop) and for benchmarks that keep it in its own process.
Prints `ready <base URL>` once it listens. With `--demo` it is the pretend model of demo.py;
`POST /_peer/hear` (test-only, see http.py) tells it what the next speech it hears means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

import aioice.ice

from .demo import use_demo
from .http import VALID_KEY, LocalRealtimePeer


async def serve(args: argparse.Namespace) -> None:
    # Loopback candidates only: HA and the peer share this machine.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    peer = LocalRealtimePeer(args.key, keep_calls=False, quiet_when_idle=args.quiet_when_idle)
    if args.demo:
        use_demo(peer)
    await peer.serve_until_signalled(args.port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The local Realtime-compatible peer")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=VALID_KEY, help="the API key it accepts")
    parser.add_argument("--demo", action="store_true", help="answer like a small home model")
    parser.add_argument(
        "--quiet-when-idle", action="store_true", help="send no audio between speech (DTX)"
    )
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))
