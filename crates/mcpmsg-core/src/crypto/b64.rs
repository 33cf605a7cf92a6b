//! Strict base64url without padding (RFC 4648 §5), PROTOCOL §1.
//!
//! Decoding rejects `=`, `+`, `/`, whitespace and non-canonical trailing
//! bits, so every byte string has exactly one accepted text form: a signed
//! field cannot be re-encoded into a second valid spelling.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Why a text is not strict base64url.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B64Error {
    /// A character outside `[A-Za-z0-9_-]`, padding, or non-canonical bits.
    #[error("not unpadded base64url (RFC 4648 §5): only A-Z a-z 0-9 - _ are allowed, no '=' padding")]
    Malformed,
    /// Decoded to the wrong number of bytes.
    #[error("decodes to {got} bytes, expected {expected}")]
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// Decodes strict unpadded base64url.
pub fn decode(text: &str) -> Result<Vec<u8>, B64Error> {
    STRICT.decode(text).map_err(|_| B64Error::Malformed)
}

/// Decodes strict unpadded base64url that must be exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], B64Error> {
    // Checking the text length first keeps a huge input from being decoded
    // just to learn it has the wrong size.
    if text.len() != encoded_len(N) {
        let got = text.len() * 3 / 4;
        return Err(match decode(text) {
            Err(e) => e,
            Ok(_) => B64Error::Length { expected: N, got },
        });
    }
    let bytes = decode(text)?;
    bytes.try_into().map_err(|v: Vec<u8>| B64Error::Length {
        expected: N,
        got: v.len(),
    })
}

/// Length of the unpadded encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        for n in 0..70u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            let text = encode(&bytes);
            assert_eq!(text.len(), encoded_len(bytes.len()));
            assert_eq!(decode(&text).unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_padding_std_alphabet_whitespace_and_loose_bits() {
        assert_eq!(decode("AA=="), Err(B64Error::Malformed));
        assert_eq!(decode("+/8"), Err(B64Error::Malformed));
        assert_eq!(decode("-_8"), Ok(vec![0xfb, 0xff]));
        assert_eq!(decode("AA A"), Err(B64Error::Malformed));
        assert_eq!(decode("AAAA\n"), Err(B64Error::Malformed));
        // "AB" carries 12 bits for one byte: the last 4 must be zero.
        assert_eq!(decode("AB"), Err(B64Error::Malformed));
        assert_eq!(decode("AA"), Ok(vec![0]));
    }

    #[test]
    fn fixed_length_decoding_names_the_length() {
        assert_eq!(decode_array::<2>("AAA"), Ok([0, 0]));
        assert_eq!(decode_array::<3>("AAA"), Err(B64Error::Length { expected: 3, got: 2 }));
        assert_eq!(decode_array::<2>("AA=A"), Err(B64Error::Malformed));
    }
}
