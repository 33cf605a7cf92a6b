//! The rules of the protocol registry (PROTOCOL §18), shared by the server
//! that enforces them and the clients that check what it returns: names,
//! semver versions and ranges, capability kinds, tags, and a JSON Schema
//! compiled (draft 2020-12) within size and depth limits.
//!
//! Versions and ranges are the `semver` crate's (Cargo's rules), schemas
//! are compiled by `jsonschema`: neither is written by hand.

use jsonschema::Validator;
pub use semver::{Version, VersionReq};
use serde_json::Value;

use super::tools::CLIENT_ID_PATTERN;

/// A protocol name: lowercase letters, digits and `_`, starting with a
/// letter, not ending with `_`, 2 to 64 characters.
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9_]*[a-z0-9]$";
/// The capability kinds a protocol may name (seed 004).
pub const KINDS: [&str; 4] = ["point_to_point", "broadcast", "request_response", "streaming"];
/// Most tags of one protocol, and most co-owners of one name.
pub const MAX_TAGS: usize = 16;
/// Most co-owners of one name.
pub const MAX_CO_OWNERS: usize = 16;
/// Most characters of a description.
pub const MAX_DESCRIPTION: usize = 1024;
/// The only `$schema` a schema may declare (or none).
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The content type of a typed message (PROTOCOL §18d), followed by
/// `; protocol=<name>@<version>`.
pub const TYPED_CONTENT_TYPE: &str = "application/mcpmsg-typed+json";

/// The content type of an unsealed typed body of `protocol`
/// (`<name>@<version>`), as [`typed_protocol`] reads it back.
pub fn typed_content_type(protocol: &str) -> String {
    format!("{TYPED_CONTENT_TYPE}; protocol={protocol}")
}

/// The protocol a content type names, if it is a typed message's:
/// `application/mcpmsg-typed+json; protocol=<name>@<version>`. `None` for
/// any other content type; an error for a typed one without a valid
/// `protocol` parameter.
pub fn typed_protocol(content_type: &str) -> Option<Result<(String, Version), String>> {
    let mut parts = content_type.split(';');
    if parts.next()?.trim() != TYPED_CONTENT_TYPE {
        return None;
    }
    let wanted = "content_type: application/mcpmsg-typed+json; protocol=<name>@<version> of a registered protocol";
    let param = parts.map(str::trim).find_map(|p| p.strip_prefix("protocol="));
    Some(named_version(param, wanted))
}

/// `<name>@<version>` from a content type's `protocol` parameter; the error
/// ends with what was `wanted`.
fn named_version(param: Option<&str>, wanted: &str) -> Result<(String, Version), String> {
    match param.and_then(|p| p.split_once('@')) {
        None => Err(wanted.to_owned()),
        Some((name, version)) => check_name("content_type", name)
            .and_then(|()| parse_version("content_type", version))
            .map(|v| (name.to_owned(), v))
            .map_err(|e| format!("{e} ({wanted})")),
    }
}

/// The protocol a sealed content type names after opening (PROTOCOL
/// §18d): a 1:1, room or broadcast sealed type ending with
/// `; protocol=<name>@<version>`. `None` for any other content type.
pub fn sealed_protocol(content_type: &str) -> Option<Result<(String, Version), String>> {
    let (base, param) = super::sealed::split_protocol(content_type);
    let sealed = super::sealed::sealed_kid(base).is_some()
        || base == super::room::SEALED_CONTENT_TYPE
        || base == super::broadcast::SEALED_BROADCAST_CONTENT_TYPE;
    if !sealed {
        return None;
    }
    param?;
    let wanted = "content_type: a sealed type may end with ; protocol=<name>@<version> of a registered protocol";
    Some(named_version(param, wanted))
}

/// The protocol of a body once readable: a typed content type's, or a
/// sealed one's after opening.
pub fn body_protocol(content_type: &str) -> Option<Result<(String, Version), String>> {
    typed_protocol(content_type).or_else(|| sealed_protocol(content_type))
}

/// `name`: see [`NAME_PATTERN`].
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = (2..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && b[b.len() - 1] != b'_';
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: 2 to 64 characters matching {NAME_PATTERN} (lowercase letters, digits and _, a letter first, not _ last)"
        ))
    }
}

/// A semver version, as `semver` parses it (`1.2.3`, `2.0.0-rc.1`; no `v`).
pub fn parse_version(field: &str, s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| format!("{field}: not a semver version such as 1.2.0 ({e})"))
}

/// A semver range (`^1.2`, `>=1.0, <3`, `1.*`), as Cargo reads one.
pub fn parse_range(field: &str, s: &str) -> Result<VersionReq, String> {
    VersionReq::parse(s).map_err(|e| format!("{field}: not a semver range such as ^1.2 or >=1.0, <3 ({e})"))
}

/// Comma-separated, distinct, each checked by `ok`, at most `max`.
fn list(field: &str, s: &str, max: usize, what: &str, ok: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<String> = s.split(',').map(str::to_owned).collect();
    let distinct = items.iter().enumerate().all(|(i, t)| !items[..i].contains(t));
    if items.len() > max || !distinct || !items.iter().all(|t| ok(t)) {
        return Err(format!(
            "{field}: at most {max} distinct {what}, comma-separated, no spaces"
        ));
    }
    Ok(items)
}

/// `kinds`: one or more of [`KINDS`].
pub fn parse_kinds(s: &str) -> Result<Vec<String>, String> {
    let kinds = list(
        "kinds",
        s,
        KINDS.len(),
        "of point_to_point, broadcast, request_response, streaming",
        |k| KINDS.contains(&k),
    )?;
    if kinds.is_empty() {
        return Err("kinds: at least one of point_to_point, broadcast, request_response, streaming".into());
    }
    Ok(kinds)
}

/// `tags`: up to [`MAX_TAGS`] of `a-z`, `0-9` and `-`, 1 to 32 each.
pub fn parse_tags(s: &str) -> Result<Vec<String>, String> {
    parse_tag_list("tags", s, MAX_TAGS)
}

/// Up to `max` distinct tags ([`tag_ok`]), comma-separated, in `field`
/// (registry and capability tags, pairing interests).
pub fn parse_tag_list(field: &str, s: &str, max: usize) -> Result<Vec<String>, String> {
    list(field, s, max, "tags of a-z, 0-9 and - (1 to 32 characters)", tag_ok)
}

/// Whether `t` is a tag.
pub fn tag_ok(t: &str) -> bool {
    (1..=32).contains(&t.len()) && t.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// `co_owners`: up to [`MAX_CO_OWNERS`] client ids.
pub fn parse_co_owners(s: &str) -> Result<Vec<String>, String> {
    list("co_owners", s, MAX_CO_OWNERS, "client ids", |c| {
        super::check_client_id("co_owners", c).is_ok()
    })
    .map_err(|e| format!("{e} (each matching {CLIENT_ID_PATTERN})"))
}

/// How large and deep a schema may be.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// Bytes of its JSON text.
    pub max_bytes: usize,
    /// Nesting of arrays and objects.
    pub max_depth: usize,
}

/// A compiled schema: what validates bodies, compiled once.
pub struct Schema {
    validator: Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Parses and compiles `text` as a draft 2020-12 JSON Schema, within
    /// `limits`; the error is the reason (the compiler's, for a schema it
    /// refuses, with the path at fault). References outside the schema are
    /// refused: nothing is fetched.
    pub fn compile(text: &str, limits: SchemaLimits) -> Result<Self, String> {
        if text.len() > limits.max_bytes {
            return Err(format!(
                "schema: {} bytes, over the limit of {}",
                text.len(),
                limits.max_bytes
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| format!("schema: not JSON ({e})"))?;
        let depth = depth(&value);
        if depth > limits.max_depth {
            return Err(format!(
                "schema: nested {depth} deep, over the limit of {}",
                limits.max_depth
            ));
        }
        if !matches!(value, Value::Object(_) | Value::Bool(_)) {
            return Err("schema: a JSON Schema is an object (or true or false)".into());
        }
        if let Some(declared) = value.get("$schema") {
            if declared != DRAFT_2020_12 {
                return Err(format!("schema: $schema must be {DRAFT_2020_12} (or absent)"));
            }
        }
        let validator = jsonschema::draft202012::new(&value).map_err(|e| {
            let at = e.schema_path().to_string();
            format!(
                "schema: refused by the JSON Schema compiler at {}: {e}",
                if at.is_empty() { "/" } else { &at }
            )
        })?;
        Ok(Self { validator })
    }

    /// `None` when `body` is valid; else the first error, with its path in
    /// the body (a JSON Pointer).
    pub fn first_error(&self, body: &Value) -> Option<String> {
        self.validator.iter_errors(body).next().map(|e| {
            let at = e.instance_path().to_string();
            format!("at {}: {e}", if at.is_empty() { "/" } else { &at })
        })
    }
}

/// Checks that `reg` was signed by its registrant with a key of its
/// verified log current at its `ts` and at `registered_at` (within
/// `max_skew` of each other), the signature verifying strictly: the
/// schema `get_protocol` returned is the one the registrant signed.
pub fn verify_registration(
    reg: &super::tools::RegisterProtocolArgs,
    registered_at: u64,
    registrant: &crate::inbox::SenderLog<'_>,
    rules: crate::inbox::TimeRules,
) -> Result<(), String> {
    verify_registered(reg, &reg.client_id, registered_at, registrant, rules)
}

/// [`verify_registration`] for any registry statement signed by
/// `client_id` (a version, an adapter).
pub fn verify_registered<A: super::tools::SignedArgs>(
    args: &A,
    client_id: &str,
    registered_at: u64,
    registrant: &crate::inbox::SenderLog<'_>,
    rules: crate::inbox::TimeRules,
) -> Result<(), String> {
    if registrant.state.client_id() != client_id {
        return Err(format!("checked against the log of {}", registrant.state.client_id()));
    }
    let [key_id, ts, _, sig] = args.auth();
    super::room::check_signed_by(
        registrant,
        client_id,
        [key_id, ts, sig],
        &args.sign_input(),
        registered_at,
        rules,
    )
}

/// How deeply arrays and objects nest in `v` (a scalar is 0).
fn depth(v: &Value) -> usize {
    // Iterative: a hostile document must not exhaust the stack.
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SchemaLimits = SchemaLimits {
        max_bytes: 4096,
        max_depth: 8,
    };

    #[test]
    fn names_versions_and_ranges() {
        for good in ["ab", "code_review", "v2", "a1_b2"] {
            assert!(check_name("name", good).is_ok(), "{good}");
        }
        for bad in ["a", "_ab", "ab_", "Ab", "a-b", "1ab", "a b", &"a".repeat(65)] {
            assert!(check_name("name", bad).is_err(), "{bad}");
        }
        assert!(parse_version("version", "1.2.3-rc.1").is_ok());
        for bad in ["1.2", "v1.2.3", "01.2.3", ""] {
            let e = parse_version("version", bad).unwrap_err();
            assert!(e.starts_with("version: not a semver version"), "{e}");
        }
        let r = parse_range("range", "^1.1").unwrap();
        assert!(r.matches(&Version::parse("1.4.0").unwrap()));
        assert!(!r.matches(&Version::parse("2.0.0").unwrap()));
        assert!(parse_range("range", "one").is_err());
    }

    #[test]
    fn typed_content_types_name_a_protocol_version() {
        let (n, v) = typed_protocol("application/mcpmsg-typed+json; protocol=code_review@1.2.0")
            .unwrap()
            .unwrap();
        assert_eq!((n.as_str(), v), ("code_review", Version::new(1, 2, 0)));
        assert!(typed_protocol("text/markdown").is_none());
        let (n, v) = typed_protocol(&typed_content_type("code_review@1.2.0"))
            .unwrap()
            .unwrap();
        assert_eq!((n.as_str(), v.to_string()), ("code_review", "1.2.0".to_owned()));
        assert!(typed_protocol("application/mcpmsg-sealed; kid=ab").is_none());
        for bad in [
            "application/mcpmsg-typed+json",
            "application/mcpmsg-typed+json; protocol=code_review",
            "application/mcpmsg-typed+json; protocol=Code@1.0.0",
            "application/mcpmsg-typed+json; protocol=code@1.0",
        ] {
            assert!(typed_protocol(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_tags_and_co_owners() {
        assert_eq!(parse_kinds("broadcast,streaming").unwrap(), ["broadcast", "streaming"]);
        assert!(parse_kinds("").is_err());
        assert!(parse_kinds("broadcast,broadcast").is_err());
        assert!(parse_kinds("telepathy").is_err());
        assert_eq!(parse_tags("").unwrap(), Vec::<String>::new());
        assert!(parse_tags("ci,code-review").is_ok());
        assert!(parse_tags("Ci").is_err());
        assert!(parse_co_owners("bob,carol").is_ok());
        assert!(parse_co_owners("bob carol").is_err());
    }

    #[test]
    fn schemas_compile_within_limits_and_validate() {
        let s = Schema::compile(
            r#"{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"n":{"type":"integer"}}}"#,
            LIMITS,
        )
        .unwrap();
        assert_eq!(s.first_error(&serde_json::json!({"title": "x", "n": 2})), None);
        let e = s.first_error(&serde_json::json!({"title": "x", "n": "two"})).unwrap();
        assert!(e.starts_with("at /n:"), "{e}");
        let e = Schema::compile(r#"{"type": 5}"#, LIMITS).unwrap_err();
        assert!(e.contains("refused by the JSON Schema compiler"), "{e}");
        let e = Schema::compile(r#"{"$ref": "https://example.com/s.json"}"#, LIMITS).unwrap_err();
        assert!(e.contains("refused by the JSON Schema compiler"), "{e}");
        let deep = format!("{}{}", "[".repeat(20), "]".repeat(20));
        let e = Schema::compile(&format!(r#"{{"enum": {deep}}}"#), LIMITS).unwrap_err();
        assert!(e.contains("deep, over the limit of 8"), "{e}");
        let e = Schema::compile(&" ".repeat(5000), LIMITS).unwrap_err();
        assert!(e.contains("over the limit of 4096"), "{e}");
        let e = Schema::compile(r#"{"$schema": "http://json-schema.org/draft-04/schema#"}"#, LIMITS).unwrap_err();
        assert!(e.contains("$schema must be"), "{e}");
        assert!(Schema::compile("[1]", LIMITS).is_err());
    }
}
