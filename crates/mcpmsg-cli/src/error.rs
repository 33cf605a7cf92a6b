//! CLI errors: what went wrong, how to fix it, and the exit code.
//!
//! Exit codes: 0 ok, 1 a verification failed, 2 usage or any other error.

use std::fmt;

/// An error with a hint for the fix, and whether it is a verification failure.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: Option<String>,
    pub verification: bool,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error with a hint.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
    Hinted {
        message: message.into(),
        hint: Some(hint.into()),
        verification: false,
    }
}

/// A verification failure (exit code 1).
pub fn verify_failed(message: impl Into<String>) -> Hinted {
    Hinted {
        message: message.into(),
        hint: None,
        verification: true,
    }
}

/// Prints `mcpmsg: error: ...` and a hint to stderr; returns the exit code.
pub fn report(err: &anyhow::Error) -> u8 {
    // A `Hinted` given as context is found by `downcast_ref`, one given as
    // a cause only by walking the chain.
    let hinted = err
        .downcast_ref::<Hinted>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Hinted>()));
    eprintln!("mcpmsg: error: {err:#}");
    if let Some(hint) = hinted.and_then(|h| h.hint.as_deref()) {
        eprintln!("hint: {hint}");
    }
    if hinted.is_some_and(|h| h.verification) {
        1
    } else {
        2
    }
}
