//! Key events made on this machine: `mcpmsg rotate` and `mcpmsg revoke`.
//!
//! Order of writes is chosen so that a crash at any point leaves a state the
//! next command can finish from: secrets are written before the log event
//! that commits to them.

use std::path::Path;

use anyhow::{bail, Context, Result};
use mcpmsg_core::crypto::{SealingSecret, SigningSecret};
use mcpmsg_core::keyfile::OldSealing;
use mcpmsg_core::protocol::kel::{Event, KelState, KelStatus, Reason};
use mcpmsg_core::protocol::now_ms;

use super::{push, ReasonArg, RevokeArgs, RotateArgs};
use crate::error::{hinted, verify_failed};
use crate::files::Existing;
use crate::identity::{Identity, LoadedKeys};
use crate::{out, Ctx};

/// The identity, its verified log, and its unlocked key files.
struct Unlocked {
    id: Identity,
    events: Vec<Event>,
    state: KelState,
    main: LoadedKeys,
    next_file: Option<LoadedKeys>,
}

fn unlock(ctx: &Ctx, next_override: Option<&Path>) -> Result<Unlocked> {
    let id = Identity::load(&ctx.config)?;
    let (events, state) = id.kel()?;
    // A suspended identity (A1) may still rotate or finally revoke with its
    // committed next key; a revoked one can do nothing more.
    if let KelStatus::Revoked { seq, reason } = state.status() {
        bail!(hinted(
            format!(
                "{} was revoked at seq {seq} ({}): its keys can do nothing more",
                state.client_id(),
                reason.as_str()
            ),
            "create a new identity with `mcpmsg init --id NEW-ID`",
        ));
    }
    let main = LoadedKeys::read(&id.key_path(), &ctx.pass)?;
    if main.keys.client_id != id.config.my_id || main.keys.signing.is_none() || main.keys.sealing.is_none() {
        bail!(verify_failed(format!(
            "{} is not the key file of {} (or lacks its signing or sealing key)",
            main.path.display(),
            id.config.my_id
        )));
    }
    let next_file = match id.next_key_path(next_override) {
        Some(p) => Some(LoadedKeys::read(&p, &ctx.pass).map_err(|e| {
            e.context(hinted(
                "cannot read the next-key file",
                "mount it, or pass --next-key-file FILE",
            ))
        })?),
        None => None,
    };
    Ok(Unlocked {
        id,
        events,
        state,
        main,
        next_file,
    })
}

fn committed(key: &SigningSecret, state: &KelState) -> bool {
    key.public().fingerprint() == state.next_key_digest()
}

pub fn rotate(ctx: &Ctx, a: RotateArgs) -> Result<()> {
    let Unlocked {
        id,
        mut events,
        state,
        mut main,
        mut next_file,
    } = unlock(ctx, a.next_key_file.as_deref())?;
    let now = now_ms();
    let on_file = main.keys.signing.as_ref().expect("checked in unlock");
    let resuming = if on_file.public() == state.current().signing_key {
        false
    } else if committed(on_file, &state) {
        true
    } else {
        bail!(verify_failed(format!(
            "the signing key in {} is neither the log's current key nor its committed next key",
            main.path.display()
        )));
    };

    if !resuming {
        promote_next_key(&mut main, next_file.as_mut(), &state, a.keep_old_sealing, now)?;
    }
    // The new next key: made (or found, when resuming) and on disk before
    // the rotation event publishes its digest.
    let holder = next_file.as_mut().unwrap_or(&mut main);
    if holder.keys.next_signing.as_ref().is_none_or(|k| committed(k, &state)) {
        holder.keys.next_signing = Some(SigningSecret::generate());
        holder.write(Existing::Replace)?;
    }
    let next_pub = holder.keys.next_signing.as_ref().expect("just ensured").public();

    let signer = main.keys.signing.as_ref().expect("checked in unlock");
    let sealing = main.keys.sealing.as_ref().expect("checked in unlock").public();
    let event = Event::rotation(
        state.client_id(),
        state.seq() + 1,
        state.head(),
        signer,
        &sealing,
        &next_pub,
        now,
    );
    let new = state
        .apply(&event)
        .context("internal error: the rotation does not verify")?;
    events.push(event);
    id.write_kel(&events)?;
    let pushed = push(&id, &events, a.offline);
    out(&(format!(
        "{} {}: now at seq {}\n  signing kid: {}\n  sealing kid: {}\n  next key committed: {}\n  old sealing key kept for {} s to open messages sealed before\n",
        if resuming { "finished an interrupted rotation of" } else { "rotated" },
        new.client_id(),
        new.seq(),
        new.current().signing_key.kid(),
        new.current().sealing_key.kid(),
        new.next_key_digest(),
        a.keep_old_sealing,
    ) + &pushed))?;
    Ok(())
}

pub fn revoke(ctx: &Ctx, a: RevokeArgs) -> Result<()> {
    let Unlocked {
        id,
        mut events,
        state,
        main,
        next_file,
    } = unlock(ctx, a.next_key_file.as_deref())?;
    let signer = if a.with_next {
        let holder = next_file.as_ref().unwrap_or(&main);
        let next = holder
            .keys
            .next_signing
            .as_ref()
            .ok_or_else(|| hinted("no committed next key on file", "pass --next-key-file FILE"))?;
        if !committed(next, &state) {
            bail!(verify_failed(
                "the next key on file is not the one the log committed to"
            ));
        }
        next
    } else {
        let current = main.keys.signing.as_ref().expect("checked in unlock");
        if current.public() != state.current().signing_key {
            bail!(hinted(
                "the key file is ahead of the log: a rotation was interrupted",
                "run `mcpmsg rotate` to finish it, then revoke"
            ));
        }
        current
    };
    let reason = match a.reason {
        ReasonArg::Superseded => Reason::Superseded,
        ReasonArg::Compromised => Reason::Compromised,
        ReasonArg::Retired => Reason::Retired,
    };
    let event = Event::revocation(
        state.client_id(),
        state.seq() + 1,
        state.head(),
        signer,
        reason,
        now_ms(),
    );
    let new = state
        .apply(&event)
        .context("internal error: the revocation does not verify")?;
    events.push(event);
    id.write_kel(&events)?;
    let pushed = push(&id, &events, a.offline);
    let what = if a.with_next {
        "revoked {} at seq {} ({}), signed by the committed next key. This cannot be undone.\n"
    } else {
        "suspended {} at seq {} ({}), signed by the current key: nothing signed by it is accepted any more. \
         The committed next key can lift this (`mcpmsg rotate`) or make it final (`mcpmsg revoke --with-next`).\n"
    };
    out(&(what
        .replacen("{}", new.client_id(), 1)
        .replacen("{}", &new.seq().to_string(), 1)
        .replacen("{}", reason.as_str(), 1)
        + &pushed))?;
    Ok(())
}

/// The first half of a rotation: the committed next key becomes the signing
/// key and a new sealing secret replaces the current one (kept, to open
/// what was sealed to it, for `keep_old_sealing` seconds). Written to disk
/// before the log commits to them; a crash after this resumes.
fn promote_next_key(
    main: &mut LoadedKeys,
    mut next_file: Option<&mut LoadedKeys>,
    state: &KelState,
    keep_old_sealing: u64,
    now: u64,
) -> Result<()> {
    let next = match next_file.as_deref_mut() {
        Some(f) => f.keys.next_signing.take(),
        None => main.keys.next_signing.take(),
    };
    let next = next.ok_or_else(|| hinted("no committed next key on file", "pass --next-key-file FILE"))?;
    if !committed(&next, state) {
        bail!(verify_failed(
            "the next key on file is not the one the log committed to"
        ));
    }
    let old = main
        .keys
        .sealing
        .replace(SealingSecret::generate())
        .expect("checked in unlock");
    main.keys.old_sealing.push(OldSealing {
        secret: old,
        expires_at: now.saturating_add(keep_old_sealing.saturating_mul(1000)),
    });
    main.keys.prune(now);
    main.keys.signing = Some(next);
    if next_file.is_none() {
        main.keys.next_signing = Some(SigningSecret::generate());
    }
    // The promoted key and new sealing secret are on disk before the
    // log commits to them; a crash after this resumes below.
    main.write(Existing::Replace)?;
    Ok(())
}
