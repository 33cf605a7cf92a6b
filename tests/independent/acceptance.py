#!/usr/bin/env python3
"""Independent acceptance client for an mcpmsg v1 server.

Written from docs/PROTOCOL.md alone with the official Python MCP SDK (`mcp`)
and the primitives of check_v1.py (itself independent of the Rust code). It
registers identities, sends, receives, seals, rotates and revokes, and
asserts every refusal's exact code.

    acceptance.py URL [URL ...] --mode session|sessionless

With several URLs, calls are spread across them round robin (several server
nodes sharing one store). Prints one line a check and ends with
'N passed, M failed'; exits 1 if any check failed.
"""
import argparse
import asyncio
import base64
import json
import os
import sys
import time
from contextlib import AsyncExitStack

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_v1 as v1  # noqa: E402


def now_ms():
    return int(time.time() * 1000)


def ed_text(priv):
    return "ed25519:" + v1.b64e(v1.raw_pub(priv))


def x_text(priv):
    return "x25519:" + v1.b64e(v1.raw_pub(priv))


def nonce():
    return v1.b64e(os.urandom(16))


class Identity:
    """A client identity built from PROTOCOL §1-§3."""

    def __init__(self, client_id):
        self.id = client_id
        self.keys = [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]
        self.cur = 0
        self.sealing = [X25519PrivateKey.generate()]
        self.events = [self._establish("inception", "")]

    def key(self):
        return self.keys[self.cur]

    def kid(self, k=None):
        return v1.kid(ed_text(k or self.key()))

    def _sign_event(self, ev):
        ev["sig"] = v1.b64e(self.signer_for(ev).sign(v1.event_input(ev)))
        return ev

    def signer_for(self, ev):
        text = ev.get("signing_key") or ev.get("signer_key")
        return next(k for k in self.keys if ed_text(k) == text)

    def _establish(self, kind, prev):
        ev = {"type": kind, "client_id": self.id, "seq": str(len(getattr(self, "events", []))), "prev": prev,
              "signing_key": ed_text(self.key()), "sealing_key": x_text(self.sealing[-1]),
              "next_key_digest": v1.fingerprint(ed_text(self.keys[self.cur + 1])), "ts": str(now_ms())}
        return self._sign_event(ev)

    def rotate(self):
        self.cur += 1
        self.keys.append(Ed25519PrivateKey.generate())
        self.sealing.append(X25519PrivateKey.generate())
        ev = self._establish("rotation", v1.event_hash(self.events[-1]))
        self.events.append(ev)
        return ev

    def revoke(self):
        ev = {"type": "revocation", "client_id": self.id, "seq": str(len(self.events)),
              "prev": v1.event_hash(self.events[-1]), "signer_key": ed_text(self.key()),
              "reason": "retired", "ts": str(now_ms())}
        self._sign_event(ev)
        self.events.append(ev)
        return ev

    def auth(self, purpose, fields, key=None, ts=None):
        key = key or self.key()
        a = {"key_id": self.kid(key), "ts": str(ts or now_ms()), "nonce": nonce()}
        a["sig"] = v1.b64e(key.sign(v1.sign_input(purpose, fields + [a["key_id"], a["ts"], a["nonce"]])))
        return a

    def checkin(self, kel=True):
        args = {"client_id": self.id, "name": f"{self.id} (acceptance)", "capabilities": "tests"}
        args.update(self.auth("checkin", [self.id, args["name"], args["capabilities"]]))
        if kel:
            args["kel"] = self.events
        return args

    def send(self, to, message, content_type="text/markdown", in_reply_to="", key=None, ts=None):
        key = key or self.key()
        a = {"sender_id": self.id, "recipient_id": to, "message": message, "content_type": content_type,
             "key_id": self.kid(key), "ts": str(ts or now_ms()), "nonce": nonce()}
        if in_reply_to:
            a["in_reply_to"] = in_reply_to
        a["sig"] = v1.b64e(key.sign(v1.send_input(a)))
        return a

    def get(self, max_=None, wait_s=None, ack=None):
        a = {"client_id": self.id}
        for k, v in (("max", max_), ("wait_s", wait_s), ("ack", ack)):
            if v is not None:
                a[k] = v
        a.update(self.auth("get", [self.id, max_ or "", wait_s or "", ack or ""]))
        return a

    def ack(self, ids):
        joined = ",".join(ids)
        a = {"client_id": self.id, "message_ids": joined}
        a.update(self.auth("ack", [self.id, joined]))
        return a


class Runner:
    def __init__(self, sessions):
        self.sessions = sessions
        self.turn = 0
        self.passed = 0
        self.failed = 0

    async def call(self, tool, args):
        s = self.sessions[self.turn % len(self.sessions)]
        self.turn += 1
        r = await s.call_tool(tool, args)
        text = "\n".join(c.text for c in r.content if getattr(c, "text", None) is not None)
        return bool(r.is_error), text, r.structured_content

    async def ok(self, tool, args):
        err, text, sc = await self.call(tool, args)
        if err:
            raise v1.CheckFailed(f"{tool} refused: {text}")
        return sc

    async def refused(self, code, tool, args):
        err, text, sc = await self.call(tool, args)
        v1.need(err, f"{tool} should be refused with [{code}] but succeeded")
        v1.need(text.startswith(f"[{code}] "), f"{tool}: expected [{code}], got {text!r}")
        v1.need(sc == {"error": {"code": code, "message": sc["error"]["message"]}}, f"{tool}: structuredContent {sc}")
        return sc["error"]["message"]

    async def check(self, name, coro):
        try:
            await coro
            print(f"ok {name}")
            self.passed += 1
        except Exception as e:  # a failed check is reported, not fatal
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            self.failed += 1


def delivered_input(m):
    return v1.send_input(m)


async def scenario(r, tag):
    alice, bob = Identity(f"alice-{tag}"), Identity(f"bob-{tag}")

    async def tools_listed():
        s = r.sessions[0]
        names = {t.name for t in (await s.list_tools()).tools}
        want = {"checkin_client", "send_message", "send_message_and_wait", "get_messages", "ack_messages",
                "rotate_key", "revoke_key", "get_client_keys", "list_clients", "get_my_identity"}
        v1.need(want <= names, f"missing tools {want - names}")

    async def register():
        for who in (alice, bob):
            sc = await r.ok("checkin_client", who.checkin())
            v1.need(sc["registered"] is True and sc["kel_seq"] == "0", f"registration: {sc}")
            v1.need(sc["kel_head"] == v1.event_hash(who.events[0]), "kel_head is not the event hash of §3")
        sc = await r.ok("checkin_client", alice.checkin(kel=False))
        v1.need(sc["registered"] is False, "second check-in must not register")

    async def send_and_get():
        args = alice.send(bob.id, "hello, **bob**")
        sc = await r.ok("send_message", args)
        v1.need(sc["message_id"] == v1.message_id(args["sig"]), "message_id is not b64(SHA-256(sig)[:16])")
        v1.need(sc["duplicate"] is False, "first send marked duplicate")
        # PROTOCOL §12/§12a: the acceptance verifies against the published server key.
        info = await r.ok("get_server_key", {})
        v1.need(v1.fingerprint(info["server_key"]) == info["fingerprint"], "server key: fingerprint differs")
        a = sc["acceptance"]
        v1.need(a["server_kid"] == v1.kid(info["server_key"]), "acceptance: server_kid is not the server key's")
        v1.need((a["message_id"], a["sender_id"], a["recipient_id"], a["received_at"], a["expires_at"])
                == (sc["message_id"], alice.id, bob.id, sc["received_at"], sc["expires_at"]),
                f"acceptance does not state the send: {a}")
        fields = [a["message_id"], a["sender_id"], a["recipient_id"], a["received_at"], a["expires_at"], a["server_kid"]]
        v1.verify(info["server_key"], v1.sign_input("server-accept", fields), a["server_sig"])
        got = (await r.ok("get_messages", bob.get()))["messages"]
        v1.need(len(got) == 1, f"expected 1 message, got {len(got)}")
        m = got[0]
        members = {"message_id", "sender_id", "recipient_id", "content_type", "in_reply_to", "message", "key_id",
                   "ts", "nonce", "sig", "received_at", "expires_at"}
        v1.need(set(m) >= members and all(isinstance(m[k], str) for k in members), f"delivered message shape: {m}")
        keys = await r.ok("get_client_keys", {"client_id": alice.id})
        state = v1.check_kel(keys["kel"], out=lambda _: None)
        v1.verify(v1.key_for(state, m["key_id"]), delivered_input(m), m["sig"])
        v1.need((await r.ok("get_messages", bob.get()))["messages"] == [], "auto ack left the message queued")

    async def idempotent_send():
        args = alice.send(bob.id, "only once")
        a = await r.ok("send_message", args)
        b = await r.ok("send_message", args)
        v1.need(b["duplicate"] is True and b["message_id"] == a["message_id"], f"retry: {b}")
        got = (await r.ok("get_messages", bob.get()))["messages"]
        v1.need(len(got) == 1, f"a retried send queued {len(got)} messages")

    async def refusals():
        args = alice.send(bob.id, "original")
        args["message"] = "tampered"
        await r.refused("bad_signature", "send_message", args)
        await r.refused("stale_timestamp", "send_message", alice.send(bob.id, "old", ts=now_ms() - 600_000))
        get = bob.get()
        await r.ok("get_messages", get)
        await r.refused("replay", "get_messages", get)
        carol = Identity(f"carol-{tag}")
        await r.refused("unknown_client", "send_message", carol.send(bob.id, "hi"))
        await r.refused("unknown_recipient", "send_message", alice.send(f"nobody-{tag}", "hi"))
        bad = alice.send(bob.id, "x")
        bad["ts"] = 12
        await r.refused("invalid_argument", "send_message", bad)
        await r.refused("too_large", "send_message", alice.send(bob.id, "x" * 70_000))
        await r.refused("already_registered", "checkin_client", Identity(bob.id).checkin())

    async def manual_ack():
        await r.ok("send_message", alice.send(bob.id, "lease me"))
        got = (await r.ok("get_messages", bob.get(ack="manual")))["messages"]
        v1.need(len(got) == 1, "manual get returned nothing")
        v1.need((await r.ok("get_messages", bob.get(ack="manual")))["messages"] == [], "leased message handed out twice")
        sc = await r.ok("ack_messages", bob.ack([got[0]["message_id"]]))
        v1.need(sc == {"acked": [got[0]["message_id"]], "unknown": []}, f"ack: {sc}")

    async def sealed():
        keys = await r.ok("get_client_keys", {"client_id": bob.id})
        state = v1.check_kel(keys["kel"], out=lambda _: None)
        pub = state["sealing_key"]
        args = alice.send(bob.id, "")
        ts, n = args["ts"], args["nonce"]
        body = v1.seal_message(pub, alice.id, bob.id, ts, n, "sealed for bob only")
        args = alice.send(bob.id, "", content_type=f"{v1.SEALED_PREFIX}{v1.kid(pub)}")
        args.update({"message": body, "ts": ts, "nonce": n})
        args["sig"] = v1.b64e(alice.key().sign(v1.send_input(args)))
        await r.ok("send_message", args)
        err, text, sc = await r.call("get_messages", bob.get())
        v1.need(not err and "sealed for bob only" not in text, "the server showed the plaintext")
        m = sc["messages"][0]
        v1.need(v1.open_sealed(bob.sealing[-1], m) == "sealed for bob only", "did not open")

    async def send_and_wait():
        args = alice.send(bob.id, "anyone there?")
        args["timeout_s"] = 1
        sc = await r.ok("send_message_and_wait", args)
        v1.need(sc["timed_out"] is True and sc["reply"] is None and sc["message_id"] == v1.message_id(args["sig"]), f"timeout: {sc}")
        await r.ok("get_messages", bob.get())
        question = alice.send(bob.id, "question")
        qid = v1.message_id(question["sig"])
        await r.ok("send_message", bob.send(alice.id, "unrelated"))
        await r.ok("send_message", bob.send(alice.id, "the answer", in_reply_to=qid))
        question["timeout_s"] = 5
        sc = await r.ok("send_message_and_wait", question)
        v1.need(sc["timed_out"] is False and sc["reply"]["message"] == "the answer", f"reply: {sc}")
        left = (await r.ok("get_messages", alice.get()))["messages"]
        v1.need([m["message"] for m in left] == ["unrelated"], f"left: {left}")

    async def rotation_and_revocation():
        old = alice.key()
        sc = await r.ok("rotate_key", {"event": alice.rotate()})
        v1.need(sc["kel_seq"] == "1" and sc["kel_head"] == v1.event_hash(alice.events[1]), f"rotate: {sc}")
        await r.refused("key_superseded", "send_message", alice.send(bob.id, "old key", key=old))
        await r.ok("send_message", alice.send(bob.id, "new key"))
        await r.refused("kel_conflict", "rotate_key", {"event": alice.events[1]})
        await r.ok("revoke_key", {"event": alice.revoke()})
        await r.refused("revoked", "send_message", alice.send(bob.id, "ghost"))
        await r.refused("revoked", "checkin_client", alice.checkin(kel=False))

    async def directory():
        sc = await r.ok("list_clients", {})
        v1.need(any(c["client_id"] == bob.id for c in sc["clients"]), "bob not listed")
        err, text, _ = await r.call("get_my_identity", {})
        v1.need(not err and "mcp_recipients.json" in text, "get_my_identity")

    for name, fn in [("tools listed", tools_listed), ("register", register), ("send and get, verified", send_and_get),
                     ("idempotent send", idempotent_send), ("every refusal code", refusals),
                     ("manual ack and lease", manual_ack), ("sealed end to end", sealed),
                     ("send and wait", send_and_wait), ("rotation and revocation", rotation_and_revocation),
                     ("public directory", directory)]:
        await r.check(name, fn())


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("urls", nargs="+")
    p.add_argument("--mode", choices=["session", "sessionless"], required=True)
    a = p.parse_args()
    async with AsyncExitStack() as stack:
        sessions = []
        for url in a.urls:
            read, write = (await stack.enter_async_context(streamable_http_client(url)))[:2]
            s = await stack.enter_async_context(ClientSession(read, write))
            await (s.initialize() if a.mode == "session" else s.discover())
            sessions.append(s)
        r = Runner(sessions)
        print(f"mode {a.mode}: protocol {sessions[0].protocol_version}, {len(sessions)} node(s)")
        await scenario(r, f"{a.mode}-{os.urandom(3).hex()}")
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
