#!/usr/bin/env python3
"""An independent implementation of the mcpmsg v1 checks, written from
docs/PROTOCOL.md alone (no code shared with the Rust implementation).

It uses only primitives from the `cryptography` package (Ed25519, X25519,
ChaCha20-Poly1305) and the standard library (SHA-256, HMAC); HPKE
(RFC 9180) is implemented here from the RFC and checked against its
Appendix A.2.1 vector before it is trusted.

    check_v1.py rfc9180 FILE     the HPKE code against RFC 9180 A.2.1
    check_v1.py kel FILE         verify a key event log, event by event
    check_v1.py vectors FILE     check tests/vectors/mcpmsg-v1.json
    check_v1.py open SECRET_HEX ARGS_JSON   verify nothing, open a sealed send
    check_v1.py seal PUB_TEXT SENDER RECIPIENT TS NONCE PLAINTEXT  -> b64 message
    check_v1.py delivered FILE   a recipient's checks of one delivered message
                                 (PROTOCOL §5a, amendment A3); FILE holds
                                 {kel, accepted_at, message, me, now}

Exit 0 when every check passes, 1 on the first failure (printed).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization


class CheckFailed(Exception):
    pass


def need(cond, what):
    if not cond:
        raise CheckFailed(what)


# --- PROTOCOL §1 encodings ---------------------------------------------------

B64_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64d(text, n=None):
    need(isinstance(text, str) and B64_RE.match(text) and len(text) % 4 != 1, f"not unpadded base64url: {text!r}")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    need(b64e(raw) == text, f"non-canonical base64url: {text!r}")
    need(n is None or len(raw) == n, f"expected {n} bytes in {text!r}")
    return raw


def b64e(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def fingerprint(key_text):
    return hashlib.sha256(key_text.encode()).hexdigest()


def kid(key_text):
    return fingerprint(key_text)[:32]


def ed_key(text):
    need(text.startswith("ed25519:"), f"not an ed25519 key: {text!r}")
    return Ed25519PublicKey.from_public_bytes(b64d(text[len("ed25519:"):], 32))


def x_key_bytes(text):
    need(text.startswith("x25519:"), f"not an x25519 key: {text!r}")
    return b64d(text[len("x25519:"):], 32)


def is_decimal(s):
    return isinstance(s, str) and re.fullmatch(r"0|[1-9][0-9]*", s) is not None


# --- PROTOCOL §2 signing input -----------------------------------------------

def lp(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return len(b).to_bytes(4, "big") + b


def sign_input(purpose, fields):
    return b"mcpmsg-v1\x00" + lp(purpose) + b"".join(lp(f) for f in fields)


def verify(key_text, message, sig_text):
    try:
        ed_key(key_text).verify(b64d(sig_text, 64), message)
    except CheckFailed:
        raise
    except Exception:
        raise CheckFailed(f"signature does not verify under {kid(key_text)}")


# --- PROTOCOL §3 key event log -----------------------------------------------

EST_FIELDS = ["client_id", "seq", "prev", "signing_key", "sealing_key", "next_key_digest", "ts"]
REV_FIELDS = ["client_id", "seq", "prev", "signer_key", "reason", "ts"]


def event_input(ev):
    fields = EST_FIELDS if ev["type"] in ("inception", "rotation") else REV_FIELDS
    return sign_input(ev["type"], [ev[f] for f in fields])


def event_hash(ev):
    return hashlib.sha256(event_input(ev) + b64d(ev["sig"], 64)).hexdigest()


def check_kel(events, out=print):
    """Returns the state after the last event: current key, next digest, ..."""
    need(isinstance(events, list) and events, "a log is a non-empty JSON array")
    state = None
    for i, ev in enumerate(events):
        need(isinstance(ev, dict), f"event {i} is not an object")
        t = ev.get("type")
        need(t in ("inception", "rotation", "revocation"), f"event {i}: bad type {t!r}")
        fields = EST_FIELDS if t != "revocation" else REV_FIELDS
        need(set(ev) == set(fields) | {"type", "sig"}, f"event {i}: members must be exactly {fields} + type, sig")
        need(all(isinstance(v, str) for v in ev.values()), f"event {i}: members must be strings")
        need(is_decimal(ev["seq"]) and int(ev["seq"]) == i, f"event {i}: seq must be {i}")
        need(is_decimal(ev["ts"]), f"event {i}: ts must be decimal")
        if i == 0:
            need(t == "inception", "event 0 must be an inception")
            need(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", ev["client_id"]), "bad client_id")
            need(ev["prev"] == "", "inception prev must be empty")
        else:
            need(state["revoked"] is None, f"event {i}: nothing may follow a final revocation")
            need(t != "inception", f"event {i}: inception only at seq 0")
            need(ev["client_id"] == state["client_id"], f"event {i}: client_id changed")
            need(ev["prev"] == state["head"], f"event {i}: prev is not the hash of event {i - 1}")
        if t in ("inception", "rotation"):
            if t == "rotation":
                need(fingerprint(ev["signing_key"]) == state["next_key_digest"],
                     f"event {i}: rotation key is not the committed next key")
            x_key_bytes(ev["sealing_key"])
            need(re.fullmatch(r"[0-9a-f]{64}", ev["next_key_digest"]), f"event {i}: bad next_key_digest")
            verify(ev["signing_key"], event_input(ev), ev["sig"])
            state = {
                "client_id": ev["client_id"],
                "anchor": state["anchor"] if state else ev["signing_key"],
                "signing_key": ev["signing_key"],
                "sealing_key": ev["sealing_key"],
                "next_key_digest": ev["next_key_digest"],
                "revoked": None,
                "suspended": None,
                "keys": (state["keys"] if state else []) + [ev["signing_key"]],
            }
        else:
            # A1: the committed next key revokes for good; the current key
            # only suspends, and has no further say once it has.
            signer = ev["signer_key"]
            final = fingerprint(signer) == state["next_key_digest"]
            need(final or (signer == state["signing_key"] and state["suspended"] is None),
                 f"event {i}: revocation signer is neither the current key of an active identity nor the committed next key")
            need(ev["reason"] in ("superseded", "compromised", "retired"), f"event {i}: bad reason")
            verify(signer, event_input(ev), ev["sig"])
            if final:
                state["revoked"] = ev["reason"]
            else:
                state["suspended"] = ev["reason"]
        state["head"] = event_hash(ev)
        state["seq"] = i
        out(f"ok event {i}: {t} of {ev['client_id']}, hash {state['head']}")
    return state


# --- RFC 9180 HPKE, mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305

KEM_SUITE = b"KEM" + (0x0020).to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + (0x0020).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0x0003).to_bytes(2, "big")


def hkdf_extract(salt, ikm):
    return hmac.new(salt or b"\x00" * 32, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def labeled_extract(suite, salt, label, ikm):
    return hkdf_extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite, prk, label, info, n):
    return hkdf_expand(prk, n.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, n)


def raw_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kem_shared(dh, enc, pk_r):
    need(dh != b"\x00" * 32, "all-zero X25519 output")
    prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE, prk, b"shared_secret", enc + pk_r, 32)


def key_schedule(shared, info):
    psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    ctx = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_SUITE, shared, b"secret", b"")
    return labeled_expand(HPKE_SUITE, secret, b"key", ctx, 32), labeled_expand(HPKE_SUITE, secret, b"base_nonce", ctx, 12)


def derive_keypair(ikm):
    prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm)
    return X25519PrivateKey.from_private_bytes(labeled_expand(KEM_SUITE, prk, b"sk", b"", 32))


def hpke_seal(pk_r, info, aad, pt, sk_e=None):
    sk_e = sk_e or X25519PrivateKey.generate()
    enc = raw_pub(sk_e)
    shared = kem_shared(sk_e.exchange(X25519PublicKey.from_public_bytes(pk_r)), enc, pk_r)
    key, nonce = key_schedule(shared, info)
    return enc, ChaCha20Poly1305(key).encrypt(nonce, pt, aad)


def hpke_open(sk_r, enc, info, aad, ct):
    shared = kem_shared(sk_r.exchange(X25519PublicKey.from_public_bytes(enc)), enc, raw_pub(sk_r))
    key, nonce = key_schedule(shared, info)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except Exception:
        raise CheckFailed("sealed message does not open")


def check_rfc9180(v):
    h = bytes.fromhex
    sk_r = derive_keypair(h(v["ikmR"]))
    need(raw_pub(sk_r) == h(v["pkRm"]), "RFC 9180: DeriveKeyPair(ikmR) gives the wrong pkRm")
    sk_e = derive_keypair(h(v["ikmE"]))
    need(raw_pub(sk_e) == h(v["pkEm"]), "RFC 9180: DeriveKeyPair(ikmE) gives the wrong pkEm")
    first = v["encryptions"][0]
    enc, ct = hpke_seal(h(v["pkRm"]), h(v["info"]), h(first["aad"]), h(first["pt"]), sk_e)
    need(enc == h(v["enc"]) and ct == h(first["ct"]), "RFC 9180: seal gives the wrong enc or ct")
    need(hpke_open(sk_r, enc, h(v["info"]), h(first["aad"]), ct) == h(first["pt"]), "RFC 9180: open")
    print("ok RFC 9180 A.2.1: DeriveKeyPair, seal and open match")


# --- PROTOCOL §5, §6 messages ------------------------------------------------

SEND_FIELDS = ["sender_id", "recipient_id", "content_type", "in_reply_to", "message", "key_id", "ts", "nonce"]
SEALED_PREFIX = "application/mcpmsg-sealed; kid="


def send_input(args):
    return sign_input("send", [args.get(f) or "" for f in SEND_FIELDS])


def message_id(sig_text):
    return b64e(hashlib.sha256(b64d(sig_text, 64)).digest()[:16])


def seal_aad(sender, recipient, key_kid, ts, nonce):
    return sign_input("seal", [sender, recipient, key_kid, ts, nonce])


def open_sealed(secret, args):
    ct_type = args.get("content_type") or ""
    need(ct_type.startswith(SEALED_PREFIX), "not a sealed content_type")
    key_kid = ct_type[len(SEALED_PREFIX):]
    need(kid("x25519:" + b64e(raw_pub(secret))) == key_kid, "sealed to another key")
    body = b64d(args["message"])
    need(len(body) >= 48, "sealed body too short")
    aad = seal_aad(args["sender_id"], args["recipient_id"], key_kid, args["ts"], args["nonce"])
    return hpke_open(secret, body[:32], b"mcpmsg-v1-seal", aad, body[32:]).decode("utf-8")


def seal_message(recipient_key_text, sender, recipient, ts, nonce, plaintext):
    pk = x_key_bytes(recipient_key_text)
    aad = seal_aad(sender, recipient, kid(recipient_key_text), ts, nonce)
    enc, ct = hpke_seal(pk, b"mcpmsg-v1-seal", aad, plaintext.encode("utf-8"))
    return b64e(enc + ct)


def key_for(state, key_id):
    for k in state["keys"]:
        if kid(k) == key_id:
            return k
    raise CheckFailed(f"key_id {key_id} is not in the sender's log")


CLIENT_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def check_delivered(case, max_skew=120_000, lifetime=300_000):
    """PROTOCOL §5a steps 1-6 for one delivered (unsealed) message."""
    events, msg, me = case["kel"], case["message"], case["me"]
    accepted = [int(a) for a in case["accepted_at"]]
    now = int(case["now"])
    check_kel(events, out=lambda *_: None)
    need(len(accepted) == len(events), "accepted_at must have one entry per event")
    for f in ("sender_id", "recipient_id"):
        need(re.fullmatch(CLIENT_ID, msg[f]), f"{f} is not a client_id")
    need(msg["recipient_id"] == me, "not addressed to this client")
    need(events[0]["client_id"] == msg["sender_id"], "checked against another sender's log")
    need(message_id(msg["sig"]) == msg["message_id"], "message_id is not derived from sig")
    need(is_decimal(msg["ts"]) and is_decimal(msg["received_at"]), "ts and received_at must be decimal")
    ts, received = int(msg["ts"]), int(msg["received_at"])
    need(abs(received - ts) <= max_skew, "ts is too far from received_at")
    need(now - ts <= lifetime + max_skew, "older than a message may live")
    established = [(i, e["signing_key"]) for i, e in enumerate(events) if e["type"] != "revocation"]
    at = [j for j, (_, key) in enumerate(established) if kid(key) == msg["key_id"]]
    need(at, "the signing key is not in the sender's log")
    j = at[0]
    seq = established[j][0]
    ends = [accepted[i] for i, e in enumerate(events) if e["type"] == "revocation" and i > seq]
    if j + 1 < len(established):
        ends.append(accepted[established[j + 1][0]])
    until = min(ends) if ends else None
    need(received >= accepted[seq], "received before its key was established")
    need(until is None or (received < until and ts < until), "the key was not current at ts and received_at")
    verify(established[j][1], send_input(msg), msg["sig"])
    print("ok delivered")


def check_vectors(v):
    # Amendment A1: a revocation by the current key suspends; the committed
    # next key recovers with a rotation.
    suspended = check_kel(v["kel_recovery"][:2])
    need(suspended["suspended"] == "compromised" and suspended["revoked"] is None, "kel_recovery: not suspended")
    recovered = check_kel(v["kel_recovery"])
    need(recovered["suspended"] is None and recovered["revoked"] is None, "kel_recovery: not recovered")
    print("ok kel_recovery: suspended by the current key, recovered by the next")
    state = check_kel(v["kel"])
    seeds = v["seeds"]
    need(all(re.fullmatch(r"[0-9a-f]{64}", s) for s in seeds.values()), "seeds must be 64 hex")
    send = v["send"]
    args = send["args"]
    need(send_input(args).hex() == send["sign_input_hex"], "send: sign_input_hex differs from PROTOCOL §2")
    verify(key_for(state, args["key_id"]), send_input(args), args["sig"])
    need(message_id(args["sig"]) == send["message_id"], "send: message_id differs")
    print(f"ok send: sign input, signature and message_id {send['message_id']}")
    sealed = v["sealed"]
    sargs = sealed["args"]
    verify(key_for(state, sargs["key_id"]), send_input(sargs), sargs["sig"])
    secret = X25519PrivateKey.from_private_bytes(bytes.fromhex(sealed["recipient_sealing_secret"]))
    need(open_sealed(secret, sargs) == sealed["plaintext"], "sealed: plaintext differs")
    print("ok sealed: signature verifies and the message opens to its plaintext")
    beat = v["heartbeat"]
    bargs = beat["args"]
    binput = sign_input("heartbeat", [bargs["client_id"], bargs["key_id"], bargs["ts"], bargs["nonce"]])
    need(binput.hex() == beat["sign_input_hex"], "heartbeat: sign_input_hex differs from PROTOCOL §2")
    verify(key_for(state, bargs["key_id"]), binput, bargs["sig"])
    print("ok heartbeat: sign input and signature")
    check_acceptance(v["acceptance"], send)
    check_event(v["event"], v["acceptance"]["server_key"])


def check_event(vec, server_key):
    # PROTOCOL §14: the server key's signature over an event, its data
    # members name then value in ascending byte order of the names.
    e = vec["event"]
    need(e["kind"] == "event", "event: kind must be \"event\"")
    need(e["server_kid"] == kid(server_key), "event: server_kid is not the server key's kid")
    fields = [e["event"], e["event_id"], e["recipient_id"], e["at"], e["expires_at"], e["server_kid"]]
    for name in sorted(e["data"], key=lambda n: n.encode()):
        fields += [name, e["data"][name]]
    message = sign_input("server-event", fields)
    need(message.hex() == vec["sign_input_hex"], "event: sign_input_hex differs from PROTOCOL §14")
    verify(server_key, message, e["server_sig"])
    print(f"ok event: the server key signs {e['event']} for {e['recipient_id']}")


def check_acceptance(vec, send):
    # PROTOCOL §12a: the server key's signature over its acceptance.
    a = vec["acceptance"]
    server_key = vec["server_key"]
    need(a["server_kid"] == kid(server_key), "acceptance: server_kid is not the server key's kid")
    need(all(is_decimal(a[k]) for k in ("received_at", "expires_at")), "acceptance: times must be decimal")
    fields = [a["message_id"], a["sender_id"], a["recipient_id"], a["received_at"], a["expires_at"], a["server_kid"]]
    message = sign_input("server-accept", fields)
    need(message.hex() == vec["sign_input_hex"], "acceptance: sign_input_hex differs from PROTOCOL §12a")
    verify(server_key, message, a["server_sig"])
    need(a["message_id"] == send["message_id"] and a["sender_id"] == send["args"]["sender_id"]
         and a["recipient_id"] == send["args"]["recipient_id"], "acceptance: does not state the send")
    print("ok acceptance: the server key signs what it accepted")


def main(argv):
    try:
        cmd = argv[1]
        if cmd == "rfc9180":
            check_rfc9180(json.load(open(argv[2])))
        elif cmd == "kel":
            state = check_kel(json.load(open(argv[2])))
            print(f"ok log of {state['client_id']}: {state['seq'] + 1} events, "
                  f"{'revoked (' + state['revoked'] + ')' if state['revoked'] else 'suspended (' + state['suspended'] + ')' if state['suspended'] else 'active'}")
        elif cmd == "vectors":
            check_vectors(json.load(open(argv[2])))
        elif cmd == "delivered":
            check_delivered(json.load(open(argv[2])))
        elif cmd == "open":
            secret = X25519PrivateKey.from_private_bytes(bytes.fromhex(argv[2]))
            print(open_sealed(secret, json.loads(argv[3])))
        elif cmd == "seal":
            print(seal_message(*argv[2:8]))
        else:
            raise IndexError
    except CheckFailed as e:
        print(f"FAILED: {e}")
        return 1
    except IndexError:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
