#!/usr/bin/env python3
"""Push (PROTOCOL §13) with the official Python MCP SDK, written from the
page alone.

    push.py URL --mode listen|subscribe

listen: a 2026-07-28 client listens (subscriptions/listen) on its inbox URI.
subscribe: a 2025-11-25 session client subscribes (resources/subscribe; the
server must run with --sessions). Either way a send must poke it with
notifications/resources/updated for exactly that URI within 5 s.
Prints "ok ..." and exits 0, or "FAILED: ..." and exits 1.
"""

import argparse
import asyncio
import os
import sys
import warnings

import anyio
import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import listen

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acceptance import Identity  # noqa: E402
import check_v1 as v1  # noqa: E402


async def call(session, tool, args):
    r = await session.call_tool(tool, args)
    v1.need(not r.is_error, f"{tool} refused: {r.content}")
    return r.structured_content


async def setup(session, tag):
    alice, bob = Identity(f"alice-{tag}"), Identity(f"bob-{tag}")
    for who in (alice, bob):
        await call(session, "checkin_client", who.checkin())
    args = {"client_id": bob.id}
    args.update(bob.auth("inbox", [bob.id]))
    uri = (await call(session, "get_inbox_uri", args))["uri"]
    v1.need(uri.startswith(f"mcpmsg://inbox/{bob.id}?token="), f"inbox uri: {uri}")
    return alice, bob, uri


async def by_listen(url, tag):
    async with streamable_http_client(url) as (read, write, *_):
        async with ClientSession(read, write) as s:
            await s.discover()
            alice, bob, uri = await setup(s, tag)
            forged = uri.split("?token=")[0] + "?token=AAAAAAAAAAAAAAAAAAAAAA"
            async with listen(s, resource_subscriptions=[uri, forged]) as sub:
                honored = sub.honored.resource_subscriptions or []
                v1.need(honored == [uri], f"the server must honour exactly the right URI: {honored}")
                await call(s, "send_message", alice.send(bob.id, "poke me"))
                with anyio.fail_after(5):
                    event = await sub.__anext__()
                v1.need(getattr(event, "uri", None) == uri, f"expected resources/updated for {uri}, got {event!r}")
    print("ok listen: poked through subscriptions/listen")


async def by_subscribe(url, tag):
    pokes = asyncio.Queue()

    async def handler(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            await pokes.put(message.params.uri)

    async with streamable_http_client(url) as (read, write, *_):
        async with ClientSession(read, write, message_handler=handler) as s:
            await s.initialize()
            alice, bob, uri = await setup(s, tag)
            await s.subscribe_resource(uri)
            await asyncio.sleep(0.2)
            await call(s, "send_message", alice.send(bob.id, "poke me"))
            got = await asyncio.wait_for(pokes.get(), 5)
            v1.need(got == uri, f"expected resources/updated for {uri}, got {got}")
            await s.unsubscribe_resource(uri)
    print("ok subscribe: poked on the session's stream")


def main():
    # resources/subscribe is the 2025-11-25 path on purpose here.
    warnings.filterwarnings("ignore", message="resources/(un)?subscribe is removed")
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--mode", choices=["listen", "subscribe"], required=True)
    a = p.parse_args()
    run = by_listen if a.mode == "listen" else by_subscribe
    try:
        asyncio.run(run(a.url, os.urandom(3).hex()))
    except v1.CheckFailed as e:
        print(f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
