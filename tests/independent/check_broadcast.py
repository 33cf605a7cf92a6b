#!/usr/bin/env python3
"""Typed protocols, broadcast and adapters (PROTOCOL §18-§18f), checked
independently from docs/PROTOCOL.md alone, with the primitives of
check_v1.py and the official MCP SDK; no code shared with the Rust side.

    check_broadcast.py vectors FILE   tests/vectors/mcpmsg-broadcast.json: the
                                      broadcasts' SIGN_INPUTs, ids and
                                      signatures, the sealed one opened as
                                      each recipient, the adapter's signature
                                      and its operations applied
    check_broadcast.py live URL       against a running server: registers a
                                      protocol, declares it, broadcasts to it
                                      (typed, then sealed) and receives both,
                                      verified; refusals with their codes

Exit 0 when every check passes, 1 on the first failure (printed).
"""
import asyncio
import copy
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_v1 as v1  # noqa: E402
from check_v1 import CheckFailed, b64d, b64e, need, sign_input  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

BROADCAST_FIELDS = ["sender_id", "tag", "protocol", "status", "content_type", "in_reply_to", "message", "wraps",
                    "key_id", "ts", "nonce"]
ADAPTER_FIELDS = ["client_id", "name", "from", "to", "ops", "key_id", "ts", "nonce"]
SEALED = "application/mcpmsg-broadcast-sealed"
INFO = b"mcpmsg-v1-broadcast-key"
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def broadcast_input(b):
    return sign_input("broadcast", [b[f] for f in BROADCAST_FIELDS])


def is_sealed(b):
    ct = b["content_type"]
    return ct == SEALED or ct.startswith(SEALED + "; protocol=")


def seal(sender, ts, nonce, recipients, plaintext):
    """§18e: the body once under a fresh key; the key wrapped per recipient."""
    key = os.urandom(32)
    body = ChaCha20Poly1305(key).encrypt(b"\0" * 12, plaintext.encode("utf-8"),
                                         sign_input("broadcast-body", [sender, ts, nonce]))
    wraps = []
    for who, key_text in sorted(recipients, key=lambda r: r[0].encode()):
        k = v1.kid(key_text)
        enc, ct = v1.hpke_seal(v1.x_key_bytes(key_text), INFO,
                               sign_input("broadcast-key", [sender, who, k, ts, nonce]), key)
        wraps.append(f"{who}:{k}:{b64e(enc + ct)}")
    return b64e(body), ",".join(wraps)


def open_sealed(b, me, secret):
    my_kid = v1.kid("x25519:" + b64e(v1.raw_pub(secret)))
    found = []
    prev = b""
    for entry in b["wraps"].split(","):
        parts = entry.split(":")
        need(len(parts) == 3 and CLIENT_ID.fullmatch(parts[0]), "wraps: client:kid:wrap entries")
        need(parts[0].encode() > prev, "wraps: strictly ascending clients")
        prev = parts[0].encode()
        if parts[0] == me and parts[1] == my_kid:
            found.append(b64d(parts[2]))
    need(len(found) == 1 and len(found[0]) == 80, f"no wrap for {me} under {my_kid}")
    aad = sign_input("broadcast-key", [b["sender_id"], me, my_kid, b["ts"], b["nonce"]])
    key = v1.hpke_open(secret, found[0][:32], INFO, aad, found[0][32:])
    need(len(key) == 32, "the message key is 32 bytes")
    try:
        return ChaCha20Poly1305(key).decrypt(b"\0" * 12, b64d(b["message"]),
                                             sign_input("broadcast-body", [b["sender_id"], b["ts"], b["nonce"]])
                                             ).decode("utf-8")
    except Exception:
        raise CheckFailed("the body does not open with the message key")


def check_delivered(b, me, sender_key, secret=None):
    """§18e: a broadcast in my inbox, verified (and opened if sealed)."""
    need(b.get("kind") == "broadcast" and b["recipient_id"] == me, "a broadcast for me")
    need(b["message_id"] == v1.message_id(b["sig"]), "message_id is derived from sig")
    need(b["key_id"] == v1.kid(sender_key), "signed with the sender's key")
    v1.verify(sender_key, broadcast_input(b), b["sig"])
    if not is_sealed(b):
        need(b["wraps"] == "", "an unsealed broadcast has no wraps")
        return b["message"]
    return open_sealed(b, me, secret)


# --- §18f operations, on JSON Pointers (RFC 6901) ---------------------------

def tokens(p):
    need(p.startswith("/"), f"{p!r}: a pointer to a member starts with /")
    out = []
    for t in p.split("/")[1:]:
        need(re.fullmatch(r"([^~]|~[01])*", t) is not None, f"{p!r}: ~ is followed by 0 or 1")
        out.append(t.replace("~1", "/").replace("~0", "~"))
    return out


def parent(body, p, create):
    *path, last = tokens(p)
    at = body
    for t in path:
        if isinstance(at, dict):
            if t not in at:
                if not create:
                    return None, None
                at[t] = {}
            at = at[t]
        elif isinstance(at, list) and t.isdigit() and int(t) < len(at):
            at = at[int(t)]
        else:
            need(not create, f"{p!r}: cannot go into {t!r}")
            return None, None
    return at, last


def apply_ops(ops, body):
    out = copy.deepcopy(body)
    for op in ops:
        kind = op["op"]
        if kind == "move":
            need(set(op) == {"op", "from", "path"}, "move: op, from, path")
            at, k = parent(out, op["from"], False)
            if isinstance(at, dict) and k in at:
                value = at.pop(k)
            elif isinstance(at, list) and k.isdigit() and int(k) < len(at):
                value = at.pop(int(k))
            else:
                continue
            to, k2 = parent(out, op["path"], True)
            need(isinstance(to, dict), "move: the target's parent is an object")
            to[k2] = value
        elif kind == "default":
            need(set(op) == {"op", "path", "value"}, "default: op, path, value")
            to, k = parent(out, op["path"], True)
            need(isinstance(to, dict), "default: the parent is an object")
            to.setdefault(k, op["value"])
        elif kind == "remove":
            need(set(op) == {"op", "path"}, "remove: op, path")
            at, k = parent(out, op["path"], False)
            if isinstance(at, dict):
                at.pop(k, None)
            elif isinstance(at, list) and k.isdigit() and int(k) < len(at):
                at.pop(int(k))
        else:
            raise CheckFailed(f"unknown operation {kind!r}")
    return out


def check_vectors(v):
    alice = v1.check_kel(v["kels"]["alice"], out=lambda _: None)["signing_key"]
    b = v["broadcast"]
    need(broadcast_input(b).hex() == v["broadcast_sign_input_hex"], "broadcast SIGN_INPUT differs")
    need(v1.message_id(b["sig"]) == v["broadcast_message_id"], "broadcast message_id")
    delivered = dict(b, kind="broadcast", recipient_id="bob", message_id=v["broadcast_message_id"])
    need(check_delivered(delivered, "bob", alice) == b["message"], "the unsealed body")
    print("ok unsealed broadcast: SIGN_INPUT, message_id and signature")
    s = v["sealed"]
    need(broadcast_input(s).hex() == v["sealed_sign_input_hex"], "sealed SIGN_INPUT differs")
    need(s["content_type"] == SEALED + "; protocol=code_review@2.0.0", "a typed sealed broadcast")
    for who in ("bob", "carol"):
        secret = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["seeds"][f"{who}_sealing"]))
        d = dict(s, kind="broadcast", recipient_id=who, message_id=v["sealed_message_id"])
        need(check_delivered(d, who, alice, secret) == v["plaintext"], f"{who} opened another text")
        print(f"ok sealed broadcast: {who} opens it")
    a = v["adapter"]
    need(sign_input("adapter", [a[f] for f in ADAPTER_FIELDS]).hex() == v["adapter_sign_input_hex"],
         "adapter SIGN_INPUT differs")
    v1.verify(alice, sign_input("adapter", [a[f] for f in ADAPTER_FIELDS]), a["sig"])
    need(apply_ops(json.loads(a["ops"]), v["adapter_input"]) == v["adapter_output"], "the adapter's output differs")
    print("ok adapter: signature, and its operations applied")


async def check_live(url):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from acceptance import Identity, Runner

    tag = os.urandom(3).hex()
    owner, fan, other = Identity(f"owner-{tag}"), Identity(f"fan-{tag}"), Identity(f"other-{tag}")
    name = f"weather_{tag}"
    schema = json.dumps({"type": "object", "required": ["city"],
                         "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}}})
    async with streamable_http_client(url) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            r = Runner([session])
            for who in (owner, fan, other):
                await r.ok("checkin_client", who.checkin())

            async def registry():
                reg = {"client_id": owner.id, "name": name, "version": "1.0.0", "schema": schema,
                       "kinds": "broadcast", "description": "a weather report", "tags": "weather", "co_owners": ""}
                reg.update(owner.auth("protocol", [reg[k] for k in ("client_id", "name", "version", "schema", "kinds",
                                                                     "description", "tags", "co_owners")]))
                sc = await r.ok("register_protocol", reg)
                need(sc["owner"] == owner.id and sc["version"] == "1.0.0", f"registered: {sc}")
                await r.refused("protocol_exists", "register_protocol", reg | owner.auth(
                    "protocol", [reg[k] for k in ("client_id", "name", "version", "schema", "kinds", "description",
                                                  "tags", "co_owners")]))
                got = await r.ok("get_protocol", {"name": name, "version": "^1"})
                g = got["registration"]
                v1.verify(v1.check_kel(owner.events, out=lambda _: None)["signing_key"],
                          sign_input("protocol", [g[k] for k in ("client_id", "name", "version", "schema", "kinds",
                                                                 "description", "tags", "co_owners", "key_id", "ts",
                                                                 "nonce")]), g["sig"])

            async def declare():
                for who in (fan, other):
                    d = {"client_id": who.id, "tags": "weather", "protocols": f"{name}@1.0.0"}
                    d.update(who.auth("declare", [who.id, d["tags"], d["protocols"]]))
                    sc = await r.ok("declare_capabilities", d)
                    need(sc["protocols"] == [f"{name}@1.0.0"], f"declared: {sc}")
                listed = await r.ok("list_clients", {"protocol": f"{name}@^1"})
                ids = sorted(c["client_id"] for c in listed["clients"])
                need(ids == sorted([fan.id, other.id]), f"list_clients by protocol: {ids}")

            def broadcast(sender, filt, content_type, message, wraps="", ts=None, nonce=None):
                b = {"sender_id": sender.id, "tag": filt[0], "protocol": filt[1], "status": filt[2],
                     "content_type": content_type, "in_reply_to": "", "message": message, "wraps": wraps}
                a = sender.auth("broadcast", [b[f] for f in BROADCAST_FIELDS[:8]])
                if ts is not None:
                    a = {"key_id": sender.kid(), "ts": ts, "nonce": nonce}
                    a["sig"] = b64e(sender.key().sign(sign_input("broadcast", [b[f] for f in BROADCAST_FIELDS[:8]]
                                                                 + [a["key_id"], ts, nonce])))
                return b | a

            async def receive(body):
                typed = f"application/mcpmsg-typed+json; protocol={name}@1.0.0"
                sent = await r.ok("broadcast", broadcast(owner, ("", f"{name}@^1", ""), typed, body))
                need(sent["delivered"] == sorted([fan.id, other.id]) and sent["skipped"] == [], f"sent: {sent}")
                got = (await r.ok("get_messages", fan.get()))["messages"]
                need(len(got) == 1, f"one broadcast: {got}")
                text = check_delivered(got[0], fan.id, v1.check_kel(owner.events, out=lambda _: None)["signing_key"])
                need(json.loads(text) == json.loads(body) and got[0]["content_type"] == typed, "the typed body")
                need(len((await r.ok("get_messages", other.get()))["messages"]) == 1, "the other match got it too")
                await r.refused("schema_mismatch", "broadcast",
                                broadcast(owner, ("weather", "", ""), typed, '{"celsius": "warm"}'))
                await r.refused("invalid_argument", "broadcast", broadcast(owner, ("", "", "active"), "", "hi"))

            async def sealed():
                keys = await r.ok("get_client_keys", {"client_id": fan.id})
                pub = v1.check_kel(keys["kel"], out=lambda _: None)["sealing_key"]
                ts, n = str(int(time.time() * 1000)), b64e(os.urandom(16))
                body, wraps = seal(owner.id, ts, n, [(fan.id, pub)], "sealed for the fan only")
                args = broadcast(owner, ("", "", ""), SEALED, body, wraps, ts=ts, nonce=n)
                sent = await r.ok("broadcast", args)
                need(sent["delivered"] == [fan.id], f"sealed sent: {sent}")
                got = (await r.ok("get_messages", fan.get()))["messages"]
                text = check_delivered(got[0], fan.id, v1.check_kel(owner.events, out=lambda _: None)["signing_key"],
                                       fan.sealing[-1])
                need(text == "sealed for the fan only", "did not open")
                need((await r.ok("get_messages", other.get()))["messages"] == [], "only the fan got it")

            await r.check("register a protocol, verified", registry())
            await r.check("declare it; list_clients filters by it", declare())
            await r.check("receive a typed broadcast, verified", receive('{"city": "Lyon", "celsius": 21.5}'))
            await r.check("receive a sealed broadcast, opened", sealed())
    print(f"{r.passed} passed, {r.failed} failed")
    if r.failed:
        raise CheckFailed(f"{r.failed} live check(s) failed")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("vectors", "live"):
        print(__doc__)
        return 2
    try:
        if argv[1] == "vectors":
            check_vectors(json.load(open(argv[2])))
        else:
            asyncio.run(check_live(argv[2]))
    except (CheckFailed, KeyError, IndexError, ValueError) as e:
        print(f"FAILED: {e!r}" if not isinstance(e, CheckFailed) else f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
