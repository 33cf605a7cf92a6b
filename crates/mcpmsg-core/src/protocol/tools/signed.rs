//! Signed arguments: the four authentication members every signed tool
//! carries (PROTOCOL §4), and the order its fields are signed in, written
//! once beside the type by [`signed_args!`].

use crate::crypto::{b64, SigningSecret};
use crate::protocol::{new_nonce, sign_input};

/// A field as it is signed: an absent optional argument is signed as the
/// empty string (PROTOCOL §2).
pub trait SignedField {
    /// The bytes that go under the signature.
    fn as_signed(&self) -> &str;
}

impl SignedField for String {
    fn as_signed(&self) -> &str {
        self
    }
}

impl SignedField for Option<String> {
    fn as_signed(&self) -> &str {
        self.as_deref().unwrap_or("")
    }
}

/// The arguments of a signed tool.
pub trait SignedArgs {
    /// The purpose string that starts its SIGN_INPUT.
    const PURPOSE: &'static str;
    /// The acting client: the one whose key must have signed.
    fn actor(&self) -> &str;
    /// The argument name of [`SignedArgs::actor`], for messages.
    fn actor_field(&self) -> &'static str;
    /// The tool's own fields, in signed order (before key_id, ts, nonce).
    fn signed_fields(&self) -> Vec<&str>;
    /// key_id, ts, nonce, sig.
    fn auth(&self) -> [&str; 4];
    /// key_id, ts, nonce, sig, to fill in.
    fn auth_mut(&mut self) -> [&mut String; 4];

    /// SIGN_INPUT of these arguments (PROTOCOL §2).
    fn sign_input(&self) -> Vec<u8> {
        let [key_id, ts, nonce, _] = self.auth();
        let mut fields = self.signed_fields();
        fields.extend([key_id, ts, nonce]);
        sign_input(Self::PURPOSE, &fields)
    }

    /// Signs these arguments with `key` at `ts` and a fresh nonce,
    /// replacing any authentication members they had.
    fn sign_at(&mut self, key: &SigningSecret, ts: u64) {
        let [key_id, at, nonce, sig] = self.auth_mut();
        *key_id = key.public().kid();
        *at = ts.to_string();
        *nonce = new_nonce();
        sig.clear();
        let signature = b64::encode(&key.sign(&self.sign_input()));
        let [_, _, _, sig] = self.auth_mut();
        *sig = signature;
    }

    /// Signs these arguments with `key`, now.
    fn signed_by(mut self, key: &SigningSecret) -> Self
    where
        Self: Sized,
    {
        self.sign_at(key, crate::protocol::now_ms());
        self
    }
}

/// Defines a signed tool's arguments: the struct with its fields and the
/// four authentication members appended, and [`SignedArgs`] with the
/// purpose and the signed order given once, here.
///
/// ```text
/// signed_args! {
///     /// Docs.
///     pub struct GetMessagesArgs {
///         /// Field docs (the description a model sees).
///         pub client_id: String,
///         ...
///     }
///     purpose "get", actor client_id, signed [client_id, max, wait_s, ack]
/// }
/// ```
macro_rules! signed_args {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
        purpose $purpose:literal, actor $actor:ident, signed [$($signed:ident),* $(,)?]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Kid of the caller's current signing key: the first 32 hex
            /// characters of its fingerprint.
            #[schemars(pattern($crate::protocol::tools::KID_PATTERN))]
            pub key_id: String,
            /// Request time, Unix milliseconds as a decimal string, within the
            /// server's skew window.
            #[schemars(pattern($crate::protocol::tools::DECIMAL_PATTERN))]
            pub ts: String,
            /// base64url of 16 fresh random bytes, never reused.
            #[schemars(pattern($crate::protocol::tools::B64_16_PATTERN))]
            pub nonce: String,
            /// base64url Ed25519 signature over this tool's signing input,
            /// made by the caller's key.
            #[schemars(pattern($crate::protocol::tools::B64_64_PATTERN))]
            pub sig: String,
        }

        impl $crate::protocol::tools::SignedArgs for $name {
            const PURPOSE: &'static str = $purpose;

            fn actor(&self) -> &str {
                &self.$actor
            }

            fn actor_field(&self) -> &'static str {
                stringify!($actor)
            }

            fn signed_fields(&self) -> Vec<&str> {
                vec![$( $crate::protocol::tools::SignedField::as_signed(&self.$signed) ),*]
            }

            fn auth(&self) -> [&str; 4] {
                [&self.key_id, &self.ts, &self.nonce, &self.sig]
            }

            fn auth_mut(&mut self) -> [&mut String; 4] {
                [&mut self.key_id, &mut self.ts, &mut self.nonce, &mut self.sig]
            }
        }
    };
}
