//! The cost of validating a typed message (PROTOCOL §18d) beside the
//! signature check: a body of about the message size parsed and validated
//! against a compiled schema in process, as the server does for every
//! unsealed typed send.

use std::time::Instant;

use mcpmsg_core::protocol::registry::{Schema, SchemaLimits};
use serde_json::{json, Value};

/// A code review request: the shape of a typical agent message.
const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["title", "lines", "files"],
  "additionalProperties": false,
  "properties": {
    "title": {"type": "string", "maxLength": 200},
    "lines": {"type": "integer", "minimum": 0},
    "files": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_./-]+$"}, "maxItems": 100},
    "urgent": {"type": "boolean"},
    "notes": {"type": "string"}
  }
}"#;

/// A valid body of about `size` bytes.
pub fn body(size: usize) -> String {
    let mut files = Vec::new();
    let mut v = json!({"title": "Review the pairing rematch", "lines": 120, "urgent": false, "notes": "", "files": []});
    while serde_json::to_string(&v).map_or(0, |s| s.len()) < size.saturating_sub(40) && files.len() < 100 {
        files.push(format!("crates/mcpmsg-server/src/broker/file_{:03}.rs", files.len()));
        v["files"] = json!(files);
    }
    let short = size.saturating_sub(serde_json::to_string(&v).map_or(0, |s| s.len()));
    v["notes"] = json!("n".repeat(short));
    serde_json::to_string(&v).expect("a body serialises")
}

/// Median µs of parsing and validating one `size`-byte body (15 rounds of
/// 200, one core).
pub fn parse_and_validate_us(size: usize) -> f64 {
    let schema = Schema::compile(
        SCHEMA,
        SchemaLimits {
            max_bytes: 65_536,
            max_depth: 32,
        },
    )
    .expect("the bench schema compiles");
    let text = body(size);
    let mut rounds = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..200 {
            let v: Value = serde_json::from_str(&text).expect("the body is JSON");
            assert!(schema.first_error(&v).is_none(), "the bench body is valid");
        }
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    rounds.sort_by(|a, b| a.total_cmp(b));
    rounds[rounds.len() / 2]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_body_is_about_the_size_asked_and_valid() {
        let b = super::body(1024);
        assert!((1000..=1100).contains(&b.len()), "{}", b.len());
        assert!(super::parse_and_validate_us(1024) > 0.0);
    }
}
