#!/usr/bin/env python3
"""Rooms (PROTOCOL §15), checked independently from docs/PROTOCOL.md alone:
the membership log verified statement by statement against each signer's
key event log, and a sealed room message opened as a member. Builds on the
primitives of check_v1.py (Ed25519, HPKE from RFC 9180), which share no
code with the Rust implementation.

    check_rooms.py vectors FILE   tests/vectors/mcpmsg-rooms.json: the log,
                                  and the sealed message opened as each member
    check_rooms.py member FILE    a live room: FILE holds {kels: {id: {kel,
                                  accepted_at}}, statements, accepted_at,
                                  message (a delivered room_message), me,
                                  sealing_secret (hex), now, and for a pen-pal
                                  room server_key and consents}; verifies the
                                  log, checks the message as `me`, prints its
                                  text

Exit 0 when every check passes, 1 on the first failure (printed).
"""
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_v1 as v1  # noqa: E402
from check_v1 import CheckFailed, b64d, b64e, need, sign_input  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

MAX_SKEW = 120_000
LIFETIME = 300_000
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
STATEMENT_FIELDS = ["op", "room_id", "seq", "prev", "client_id", "member", "title", "key_id", "ts", "nonce"]
SEND_FIELDS = ["sender_id", "room_id", "epoch", "content_type", "in_reply_to", "message", "wraps", "key_id", "ts", "nonce"]
SEALED = "application/mcpmsg-room-sealed"
ENTER_FIELDS = ["client_id", "display_name", "interests", "wait_s", "key_id", "ts", "nonce"]
SIGNAL_FIELDS = ["sender_id", "room_id", "signal", "key_id", "ts", "nonce"]
SIGNAL_MAX_AGE = 300_000


def statement_input(s):
    return sign_input("room", [s[f] for f in STATEMENT_FIELDS])


def statement_hash(s):
    return hashlib.sha256(statement_input(s) + b64d(s["sig"], 64)).hexdigest()


def key_periods(kel, accepted):
    """(signing key, from, until or None) for each establishment event: a key
    holds from its event's accepted_at until the next establishment or any
    revocation after it (PROTOCOL §3, §5a step 5)."""
    need(len(kel) == len(accepted), "one accepted_at per key event")
    v1.check_kel(kel, out=lambda _: None)
    periods = []
    for i, ev in enumerate(kel):
        if ev["type"] in ("inception", "rotation"):
            ends = [accepted[j] for j in range(i + 1, len(kel))]
            periods.append((ev["signing_key"], accepted[i], min(ends) if ends else None))
    return periods


def check_signed(kels, who, key_id, ts, input_bytes, sig, accepted_at):
    need(who in kels, f"no key event log of {who}")
    need(v1.is_decimal(ts), "ts is decimal")
    ts = int(ts)
    need(abs(ts - accepted_at) <= MAX_SKEW, "signed too far from when the server accepted it")
    for key, start, until in kels[who]:
        if v1.kid(key) == key_id:
            need(accepted_at >= start and (until is None or (accepted_at < until and ts < until)),
                 f"key {key_id} of {who} was not current then")
            v1.verify(key, input_bytes, sig)
            return
    raise CheckFailed(f"key {key_id} is not in {who}'s log")


def check_pair(s, at, consents, kels, server_key):
    """PROTOCOL §16c: a pen-pal room's first statement, signed by the server
    key, and both members' enter_queue requests as consent."""
    need(server_key is not None, "a pair statement needs the pinned server key")
    need(s["key_id"] == v1.kid(server_key), "a pair statement is signed by the server key")
    v1.verify(server_key, statement_input(s), s["sig"])
    need(isinstance(consents, list) and len(consents) == 2, "a pen-pal room has two consents")
    for who, c in ((s["client_id"], consents[0]), (s["member"], consents[1])):
        need(c["client_id"] == who, f"the consent of {who} is signed by another client")
        need(v1.is_decimal(c["wait_s"]) and v1.is_decimal(c["ts"]), "consent: wait_s and ts are decimal")
        wait_ms, ts = int(c["wait_s"]) * 1000, int(c["ts"])
        need(at - ts <= wait_ms + MAX_SKEW, f"{who} entered the queue longer ago than it agreed to wait")
        made = min(max(ts, at - wait_ms), at)
        check_signed(kels, who, c["key_id"], c["ts"], sign_input("enter-queue", [c[f] for f in ENTER_FIELDS]),
                     c["sig"], made)


def verify_log(statements, accepted_at, kels, consents=None, server_key=None):
    """Returns (room_id, members by epoch (index epoch-1), final state)."""
    need(isinstance(statements, list) and statements, "a log has at least its create statement")
    need(len(accepted_at) == len(statements), "one accepted_at per statement")
    st = None
    by_epoch = []
    for i, (s, at) in enumerate(zip(statements, accepted_at)):
        need(set(s) == set(STATEMENT_FIELDS) | {"sig"}, f"statement {i}: members must be exactly the protocol's")
        need(all(isinstance(x, str) for x in s.values()), f"statement {i}: members are strings")
        op, actor = s["op"], s["client_id"]
        if i == 0 and op == "pair":
            check_pair(s, int(at), consents, kels, server_key)
        else:
            check_signed(kels, s["client_id"], s["key_id"], s["ts"], statement_input(s), s["sig"], int(at))
        need(CLIENT_ID.fullmatch(actor), f"statement {i}: bad client_id")
        if i == 0 and op == "pair":
            need(s["room_id"] == "" and s["seq"] == "0" and s["prev"] == "" and s["title"] == "",
                 "statement 0: a pair has empty room_id, prev and title, seq 0")
            need(CLIENT_ID.fullmatch(s["member"]) and s["member"] != actor, "statement 0: two different clients")
            st = {"room_id": b64e(hashlib.sha256(b64d(s["sig"], 64)).digest()[:16]), "owner": "",
                  "members": {actor, s["member"]}, "invited": set(), "epoch": 1, "pair": True}
        elif i == 0:
            need(op == "create" and s["room_id"] == "" and s["seq"] == "0" and s["prev"] == "" and s["member"] == "",
                 "statement 0 must be a create with empty room_id, prev and member, seq 0")
            need(len(s["title"]) <= 128, "title of at most 128 characters")
            st = {"room_id": b64e(hashlib.sha256(b64d(s["sig"], 64)).digest()[:16]), "owner": actor,
                  "members": {actor}, "invited": set(), "epoch": 1}
        else:
            need(s["room_id"] == st["room_id"], f"statement {i}: another room")
            need(s["seq"] == str(i) and s["prev"] == st["head"], f"statement {i}: does not extend the log")
            need(s["title"] == "", f"statement {i}: only a create has a title")
            need(not st.get("pair") or op == "leave", f"statement {i}: in a pen-pal room one only leaves")
            member = s["member"]
            if op == "invite":
                need(actor in st["members"], f"statement {i}: {actor} invites but is not a member")
                need(CLIENT_ID.fullmatch(member) and member not in st["members"] and member not in st["invited"],
                     f"statement {i}: bad invitee")
                st["invited"].add(member)
            elif op == "join":
                need(member == "" and actor in st["invited"] and actor not in st["members"],
                     f"statement {i}: {actor} joins without an invitation")
                st["invited"].discard(actor)
                st["members"].add(actor)
            elif op == "leave":
                need(member == "" and actor in st["members"], f"statement {i}: {actor} leaves but is not a member")
                st["members"].discard(actor)
            elif op == "remove":
                need(actor == st["owner"] and actor in st["members"], f"statement {i}: only the owner removes")
                need(member != actor and member in st["members"], f"statement {i}: removes a non-member")
                st["members"].discard(member)
            else:
                raise CheckFailed(f"statement {i}: unknown op {op!r}")
            if op != "invite":
                st["epoch"] += 1
        st["head"] = statement_hash(s)
        if len(by_epoch) < st["epoch"]:
            by_epoch.append(set(st["members"]))
        print(f"ok statement {i}: {op} by {actor}, epoch {st['epoch']}, hash {st['head']}")
    return st["room_id"], by_epoch, st


def parse_wraps(text):
    out = []
    for entry in text.split(","):
        parts = entry.split(":")
        need(len(parts) == 3, "wraps: member:kid:wrap entries")
        member, key_kid, wrap = parts
        need(CLIENT_ID.fullmatch(member) and re.fullmatch(r"[0-9a-f]{32}", key_kid), "wraps: bad entry")
        need(len(b64d(wrap)) == 80, "wraps: a wrap is 80 bytes")
        need(not out or out[-1][0].encode() < member.encode(), "wraps: strictly ascending members")
        out.append((member, key_kid, wrap))
    return out


def open_room(m, me, secret):
    my_kid = v1.kid("x25519:" + b64e(v1.raw_pub(secret)))
    wraps = [w for w in parse_wraps(m["wraps"]) if w[0] == me and w[1] == my_kid]
    need(len(wraps) == 1, f"no wrap for {me} under {my_kid}")
    raw = b64d(wraps[0][2])
    aad = sign_input("room-key", [m["room_id"], m["epoch"], m["sender_id"], me, my_kid, m["ts"], m["nonce"]])
    key = v1.hpke_open(secret, raw[:32], b"mcpmsg-v1-room-key", aad, raw[32:])
    need(len(key) == 32, "the message key is 32 bytes")
    body_aad = sign_input("room-body", [m["room_id"], m["epoch"], m["sender_id"], m["ts"], m["nonce"]])
    try:
        return ChaCha20Poly1305(key).decrypt(b"\0" * 12, b64d(m["message"]), body_aad).decode("utf-8")
    except CheckFailed:
        raise
    except Exception:
        raise CheckFailed("the body does not open with the message key")


def check_message(m, me, room_id, by_epoch, kels, secret, now):
    """PROTOCOL §15d, steps 1 to 4, for a delivered room message."""
    need(m.get("kind", "room_message") == "room_message", "not a room message")
    need(m.get("recipient_id", me) == me and m["room_id"] == room_id, "not for this member of this room")
    need(v1.is_decimal(m["epoch"]) and 1 <= int(m["epoch"]) <= len(by_epoch), "an epoch the log does not reach")
    members = by_epoch[int(m["epoch"]) - 1]
    need(m["sender_id"] in members and me in members, "sender and member were not both members then")
    received = int(m.get("received_at", m["ts"]))
    need(now - int(m["ts"]) <= LIFETIME + MAX_SKEW, "older than a message may live")
    check_signed(kels, m["sender_id"], m["key_id"], m["ts"], sign_input("room-send", [m[f] for f in SEND_FIELDS]),
                 m["sig"], received)
    if "message_id" in m:
        need(m["message_id"] == v1.message_id(m["sig"]), "message_id is not derived from sig")
    if m["content_type"] != SEALED:
        need(m["wraps"] == "", "an unsealed message has no wraps")
        return m["message"]
    wrapped = {w[0] for w in parse_wraps(m["wraps"])}
    need(wrapped == members - {m["sender_id"]}, f"wrapped for {sorted(wrapped)}, not the members of the epoch")
    return open_room(m, me, secret)


def check_signal(s, me, room_id, members, kels, now):
    """A typing signal (PROTOCOL §15d): for me, in this room, from a current member, signed, recent."""
    need(s.get("recipient_id", me) == me, "addressed to another client")
    need(s["room_id"] == room_id, "for another room")
    need(s["sender_id"] in members and me in members, "sender and reader are not both current members")
    need(s["signal"] in ("typing", "stopped"), "an unknown signal")
    need(now - int(s["ts"]) <= SIGNAL_MAX_AGE + MAX_SKEW, "an old signal delivered again")
    accepted = int(s.get("received_at", s["ts"]))
    check_signed(kels, s["sender_id"], s["key_id"], s["ts"], sign_input("signal", [s[f] for f in SIGNAL_FIELDS]),
                 s["sig"], accepted)
    return f"{s['sender_id']} {s['signal']}"


def kels_of(data):
    return {who: key_periods(k["kel"], [int(t) for t in k["accepted_at"]]) for who, k in data["kels"].items()}


def check_vectors(v):
    kels = kels_of(v)
    for i, (s, want_input, want_hash) in enumerate(zip(v["statements"], v["sign_input_hex"], v["hashes"])):
        need(statement_input(s).hex() == want_input, f"statement {i}: SIGN_INPUT differs")
        need(statement_hash(s) == want_hash, f"statement {i}: hash differs")
    room_id, by_epoch, st = verify_log(v["statements"], [int(t) for t in v["accepted_at"]], kels)
    need(room_id == v["room_id"], "room_id is not derived from the create statement's signature")
    need(str(st["epoch"]) == v["epoch"] and sorted(st["members"]) == v["members"], "epoch or members differ")
    m = v["sealed"]
    need(sign_input("room-send", [m[f] for f in SEND_FIELDS]).hex() == v["sealed_sign_input_hex"], "room-send SIGN_INPUT")
    need(v1.message_id(m["sig"]) == v["message_id"], "message_id")
    now = int(m["ts"])
    for member in sorted(st["members"] - {m["sender_id"]}):
        secret = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["seeds"][f"{member}_sealing"]))
        text = check_message(m, member, room_id, by_epoch, kels, secret, now)
        need(text == v["plaintext"], f"{member} opened another text")
        print(f"ok sealed: {member} opens it")
    s = v["signal"]
    need(sign_input("signal", [s[f] for f in SIGNAL_FIELDS]).hex() == v["signal_sign_input_hex"], "signal SIGN_INPUT")
    print("ok signal:", check_signal(s, "alice", room_id, st["members"], kels, int(s["ts"])))
    alice = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["seeds"]["alice_sealing"]))
    try:
        open_room(m, "alice", alice)
    except CheckFailed:
        print("ok sealed: the sender has no wrap of its own")
    else:
        raise CheckFailed("the sender could open its own message: it wrapped for itself")


def check_member(d):
    kels = kels_of(d)
    room_id, by_epoch, st = verify_log(d["statements"], [int(t) for t in d["accepted_at"]], kels,
                                       d.get("consents"), d.get("server_key"))
    if d.get("signal"):
        print("ok signal:", check_signal(d["signal"], d["me"], room_id, st["members"], kels, int(d["now"])))
    secret = X25519PrivateKey.from_private_bytes(bytes.fromhex(d["sealing_secret"]))
    print(check_message(d["message"], d["me"], room_id, by_epoch, kels, secret, int(d["now"])))


def main(argv):
    checks = {"vectors": check_vectors, "member": check_member}
    if len(argv) != 3 or argv[1] not in checks:
        print(__doc__)
        return 2
    try:
        checks[argv[1]](json.load(open(argv[2])))
    except (CheckFailed, KeyError, IndexError, ValueError) as e:
        print(f"FAILED: {e!r}" if not isinstance(e, CheckFailed) else f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
