#!/usr/bin/env python3
"""An independent sender: registers a fresh identity on an mcpmsg server,
seals a message to a recipient's current sealing key (PROTOCOL §6, HPKE from
check_v1.py), signs it (§2) and sends it. Written from PROTOCOL.md alone.

    send_sealed.py URL SENDER_ID RECIPIENT_ID KEL_OUT TEXT [TEXT ...]

Writes the sender's key event log to KEL_OUT (so the recipient can pin it)
and prints one message id a line.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_v1 as v1  # noqa: E402
from acceptance import Identity, Runner  # noqa: E402


async def main(url, sender_id, recipient_id, kel_out, texts):
    async with streamable_http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            r = Runner([s])
            me = Identity(sender_id)
            await r.ok("checkin_client", me.checkin())
            with open(kel_out, "w") as f:
                json.dump(me.events, f)
            keys = await r.ok("get_client_keys", {"client_id": recipient_id})
            state = v1.check_kel(keys["kel"], out=lambda _: None)
            pub = state["sealing_key"]
            for text in texts:
                args = me.send(recipient_id, "", content_type=f"{v1.SEALED_PREFIX}{v1.kid(pub)}")
                args["message"] = v1.seal_message(pub, me.id, recipient_id, args["ts"], args["nonce"], text)
                args["sig"] = v1.b64e(me.key().sign(v1.send_input(args)))
                print((await r.ok("send_message", args))["message_id"])


if __name__ == "__main__":
    if len(sys.argv) < 6:
        print(__doc__)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]))
