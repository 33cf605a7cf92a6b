//! Declarations and negotiation (PROTOCOL §18b, §18c): what a client says
//! it speaks, and what two clients can use together. Pure functions, so a
//! client can check what the server computed.
//!
//! Two versions are compatible as Cargo's caret rule has it: the same
//! major version, or for 0.x the same minor (for 0.0.x the same patch). A
//! speaker of 1.4 reads 1.2 messages, so two clients meet at the lower of
//! their highest versions in the highest compatibility series both speak.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use serde::{Deserialize, Serialize};

use super::registry::{check_name, parse_version};

/// Most protocol versions one client declares.
pub const MAX_DECLARED: usize = 64;

/// What a client declared: capability tags and `name@version`s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// Capability tags, as declared.
    pub tags: Vec<String>,
    /// `name@version`s, as declared.
    pub protocols: Vec<String>,
}

/// Parses the `protocols` member of a declaration: distinct
/// `name@version`s, comma-separated, at most [`MAX_DECLARED`].
pub fn parse_declared(s: &str) -> Result<Vec<(String, Version)>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(String, Version)> = Vec::new();
    for item in s.split(',') {
        let (name, version) = item
            .split_once('@')
            .ok_or_else(|| format!("protocols: {item:?} is not name@version"))?;
        check_name("protocols", name)?;
        let v = parse_version("protocols", version)?;
        if out.iter().any(|(n, w)| n == name && *w == v) {
            return Err(format!("protocols: {item} twice"));
        }
        out.push((name.to_owned(), v));
    }
    if out.len() > MAX_DECLARED {
        return Err(format!("protocols: at most {MAX_DECLARED}"));
    }
    Ok(out)
}

/// The caret series a version is in.
fn series(v: &Version) -> (u64, u64, u64) {
    match (v.major, v.minor) {
        (0, 0) => (0, 0, v.patch),
        (0, m) => (0, m, 0),
        (m, _) => (m, 0, 0),
    }
}

fn by_name(d: &Declaration) -> BTreeMap<String, BTreeSet<Version>> {
    let mut m: BTreeMap<String, BTreeSet<Version>> = BTreeMap::new();
    for p in &d.protocols {
        if let Some((n, v)) = p.split_once('@') {
            if let Ok(v) = Version::parse(v) {
                m.entry(n.to_owned()).or_default().insert(v);
            }
        }
    }
    m
}

/// One protocol both speak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Agreed {
    /// The protocol.
    pub name: String,
    /// The version to use, or null when no versions are compatible.
    pub version: Option<String>,
    /// What the first speaks of it.
    pub a_speaks: Vec<String>,
    /// What the second speaks of it.
    pub b_speaks: Vec<String>,
}

/// What two clients can use together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Negotiation {
    /// The first client.
    pub a: String,
    /// The second client.
    pub b: String,
    /// Protocols both speak, by name.
    pub protocols: Vec<Agreed>,
    /// `name@version`s only the first speaks (of names the second does not).
    pub only_a: Vec<String>,
    /// The same for the second.
    pub only_b: Vec<String>,
    /// Tags both declared.
    pub tags_both: Vec<String>,
    /// Tags only the first declared.
    pub tags_only_a: Vec<String>,
    /// Tags only the second declared.
    pub tags_only_b: Vec<String>,
}

/// Negotiates between `a` (declared `da`) and `b` (declared `db`).
pub fn negotiate(a: &str, da: &Declaration, b: &str, db: &Declaration) -> Negotiation {
    let (ma, mb) = (by_name(da), by_name(db));
    let list = |vs: &BTreeSet<Version>| vs.iter().map(Version::to_string).collect::<Vec<_>>();
    let mut protocols = Vec::new();
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    for (name, va) in &ma {
        let Some(vb) = mb.get(name) else {
            only_a.extend(va.iter().map(|v| format!("{name}@{v}")));
            continue;
        };
        // The highest series both speak; in it, the lower of the two highest.
        let sa: BTreeSet<_> = va.iter().map(series).collect();
        let version = sa.iter().rev().find(|s| vb.iter().any(|v| series(v) == **s)).map(|s| {
            let top = |vs: &BTreeSet<Version>| vs.iter().filter(|v| series(v) == *s).max().cloned();
            std::cmp::min(top(va), top(vb))
                .expect("both speak the series")
                .to_string()
        });
        protocols.push(Agreed {
            name: name.clone(),
            version,
            a_speaks: list(va),
            b_speaks: list(vb),
        });
    }
    for (name, vb) in &mb {
        if !ma.contains_key(name) {
            only_b.extend(vb.iter().map(|v| format!("{name}@{v}")));
        }
    }
    let (ta, tb): (BTreeSet<&String>, BTreeSet<&String>) = (da.tags.iter().collect(), db.tags.iter().collect());
    let owned = |s: std::collections::btree_set::Difference<'_, &String>| s.map(|t| (*t).clone()).collect();
    Negotiation {
        a: a.to_owned(),
        b: b.to_owned(),
        protocols,
        only_a,
        only_b,
        tags_both: ta.intersection(&tb).map(|t| (*t).clone()).collect(),
        tags_only_a: owned(ta.difference(&tb)),
        tags_only_b: owned(tb.difference(&ta)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(tags: &[&str], protocols: &[&str]) -> Declaration {
        Declaration {
            tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            protocols: protocols.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn two_clients_meet_at_the_highest_compatible_version() {
        let a = decl(
            &["ci", "review"],
            &[
                "review@1.0.0",
                "review@1.4.0",
                "review@2.0.0",
                "deploy@0.3.1",
                "chat@1.0.0",
            ],
        );
        let b = decl(
            &["review", "docs"],
            &["review@1.2.0", "review@3.0.0", "deploy@0.4.0", "notes@1.0.0"],
        );
        let n = negotiate("alice", &a, "bob", &b);
        assert_eq!(
            n.protocols,
            vec![
                Agreed {
                    name: "deploy".into(),
                    version: None,
                    a_speaks: vec!["0.3.1".into()],
                    b_speaks: vec!["0.4.0".into()],
                },
                Agreed {
                    name: "review".into(),
                    version: Some("1.2.0".into()),
                    a_speaks: vec!["1.0.0".into(), "1.4.0".into(), "2.0.0".into()],
                    b_speaks: vec!["1.2.0".into(), "3.0.0".into()],
                },
            ]
        );
        assert_eq!(n.only_a, ["chat@1.0.0"]);
        assert_eq!(n.only_b, ["notes@1.0.0"]);
        assert_eq!(
            (n.tags_both, n.tags_only_a, n.tags_only_b),
            (vec!["review".into()], vec!["ci".into()], vec!["docs".into()])
        );
    }

    #[test]
    fn declarations_parse_strictly() {
        assert_eq!(parse_declared("").unwrap(), vec![]);
        assert_eq!(parse_declared("review@1.2.0").unwrap()[0].1, Version::new(1, 2, 0));
        assert!(parse_declared("review").is_err());
        assert!(parse_declared("review@1.2").is_err());
        assert!(parse_declared("review@1.2.0,review@1.2.0").is_err());
        assert!(parse_declared("Review@1.2.0").is_err());
    }
}
