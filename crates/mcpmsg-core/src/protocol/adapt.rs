//! Version adapters (PROTOCOL §18f): a protocol owner's declarative
//! transform from one version's body to another's, as a short list of
//! operations on JSON Pointers (RFC 6901), and the deterministic chain of
//! them that takes a body from the version it was sent in to one its
//! reader speaks.
//!
//! An adapter never touches what was signed: the reader verifies the
//! original first and adapts a copy. No chain, no adaptation: the caller
//! shows the original as unreadable in the reader's versions rather than
//! falling back silently.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::registry::Version;

/// Most operations in one adapter.
pub const MAX_OPS: usize = 64;
/// Most bytes of one adapter's `ops` text.
pub const MAX_OPS_BYTES: usize = 16_384;
/// Most adapters one chain applies.
pub const MAX_CHAIN: usize = 16;

/// One operation. Pointers are RFC 6901 (`""` is the whole body, `/a/b`
/// member `b` of member `a`, `~1` a `/` and `~0` a `~` in a name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Rename or move: the value at `from`, if present, is removed and set
    /// at `path` (replacing what is there). Absent: nothing happens.
    Move {
        /// Where the value is.
        from: String,
        /// Where it goes.
        path: String,
    },
    /// Set a default: `value` is set at `path` if nothing is there.
    Default {
        /// Where.
        path: String,
        /// What.
        value: Value,
    },
    /// Drop: the value at `path`, if present, is removed.
    Remove {
        /// Where.
        path: String,
    },
}

/// Parses an adapter's `ops`: a JSON array of 1 to [`MAX_OPS`] operations,
/// at most [`MAX_OPS_BYTES`], every pointer valid and none the whole body.
pub fn parse_ops(s: &str) -> Result<Vec<Op>, String> {
    let form = "ops: a JSON array of 1 to 64 operations, each {\"op\":\"move\",\"from\":P,\"path\":P}, {\"op\":\"default\",\"path\":P,\"value\":V} or {\"op\":\"remove\",\"path\":P} with JSON Pointers P";
    if s.len() > MAX_OPS_BYTES {
        return Err(format!("ops: at most {MAX_OPS_BYTES} bytes"));
    }
    let ops: Vec<Op> = serde_json::from_str(s).map_err(|e| format!("{form} ({e})"))?;
    if ops.is_empty() || ops.len() > MAX_OPS {
        return Err(form.to_owned());
    }
    for op in &ops {
        let pointers: Vec<&str> = match op {
            Op::Move { from, path } => vec![from, path],
            Op::Default { path, .. } | Op::Remove { path } => vec![path],
        };
        for p in pointers {
            if !p.starts_with('/') || split_pointer(p).is_none() {
                return Err(format!(
                    "ops: {p:?} is not a JSON Pointer to a member (it starts with /, and ~ is followed by 0 or 1)"
                ));
            }
        }
    }
    Ok(ops)
}

/// The reference tokens of a pointer, unescaped; `None` if malformed.
fn split_pointer(p: &str) -> Option<Vec<String>> {
    p.split('/')
        .skip(1)
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return None,
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect()
}

/// The container that holds `p`'s last token, and that token.
fn parent_mut<'v>(body: &'v mut Value, p: &str, create: bool) -> Result<Option<(&'v mut Value, String)>, String> {
    let mut tokens = split_pointer(p).ok_or_else(|| format!("{p:?} is not a JSON Pointer"))?;
    let last = tokens.pop().ok_or_else(|| format!("{p:?} names the whole body"))?;
    let mut at = body;
    for t in tokens {
        at = match at {
            Value::Object(map) => {
                if create {
                    map.entry(t).or_insert_with(|| Value::Object(serde_json::Map::new()))
                } else {
                    match map.get_mut(&t) {
                        Some(v) => v,
                        None => return Ok(None),
                    }
                }
            }
            Value::Array(items) => match t.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None if create => return Err(format!("{p:?}: no element {t} to go into")),
                None => return Ok(None),
            },
            _ if create => return Err(format!("{p:?}: {t:?} is inside a value that is not an object")),
            _ => return Ok(None),
        };
    }
    Ok(Some((at, last)))
}

fn take(body: &mut Value, p: &str) -> Result<Option<Value>, String> {
    Ok(match parent_mut(body, p, false)? {
        Some((Value::Object(map), k)) => map.remove(&k),
        Some((Value::Array(items), k)) => match k.parse::<usize>() {
            Ok(i) if i < items.len() => Some(items.remove(i)),
            _ => None,
        },
        _ => None,
    })
}

fn set(body: &mut Value, p: &str, value: Value, only_if_absent: bool) -> Result<(), String> {
    match parent_mut(body, p, true)? {
        Some((Value::Object(map), k)) => {
            if !(only_if_absent && map.contains_key(&k)) {
                map.insert(k, value);
            }
            Ok(())
        }
        _ => Err(format!("{p:?}: its parent is not an object")),
    }
}

/// Applies `ops` in order to a copy of `body`. An error says which
/// operation could not apply (the body is then not shown as adapted).
pub fn apply(ops: &[Op], body: &Value) -> Result<Value, String> {
    let mut out = body.clone();
    for (i, op) in ops.iter().enumerate() {
        let r = match op {
            Op::Move { from, path } => match take(&mut out, from) {
                Ok(Some(v)) => set(&mut out, path, v, false),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            Op::Default { path, value } => set(&mut out, path, value.clone(), true),
            Op::Remove { path } => take(&mut out, path).map(|_| ()),
        };
        r.map_err(|e| format!("operation {i}: {e}"))?;
    }
    Ok(out)
}

/// One registered adapter, as a chain uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// The version it reads.
    pub from: Version,
    /// The version it writes.
    pub to: Version,
    /// What it does.
    pub ops: Vec<Op>,
}

/// The adapters that take a body of version `from` to `to`, in order: the
/// fewest steps, and among chains as short, the one whose versions come
/// first in ascending semver order at each step (so every reader picks the
/// same chain). `None` if no chain of at most [`MAX_CHAIN`] reaches `to`;
/// an empty chain when `from == to`.
pub fn chain<'a>(adapters: &'a [Adapter], from: &Version, to: &Version) -> Option<Vec<&'a Adapter>> {
    let mut edges: BTreeMap<&Version, Vec<&Adapter>> = BTreeMap::new();
    for a in adapters {
        edges.entry(&a.from).or_default().push(a);
    }
    for list in edges.values_mut() {
        list.sort_by(|x, y| x.to.cmp(&y.to));
    }
    // Breadth first from `from`: the first path to reach a version is the
    // shortest, and, edges taken in ascending order, the first in order.
    let mut came_by: BTreeMap<&Version, &Adapter> = BTreeMap::new();
    let mut seen: BTreeSet<&Version> = BTreeSet::from([from]);
    let mut queue = VecDeque::from([(from, 0usize)]);
    while let Some((v, depth)) = queue.pop_front() {
        if v == to {
            let mut path = Vec::new();
            let mut at = v;
            while at != from {
                let a = came_by[at];
                path.push(a);
                at = &a.from;
            }
            path.reverse();
            return Some(path);
        }
        if depth == MAX_CHAIN {
            continue;
        }
        for a in edges.get(v).into_iter().flatten() {
            if seen.insert(&a.to) {
                came_by.insert(&a.to, a);
                queue.push_back((&a.to, depth + 1));
            }
        }
    }
    None
}

/// What a reader speaking `speaks` (versions of the message's protocol)
/// makes of a body sent as `sent`: the version to read it as (the one
/// sent if spoken, else the highest spoken that a chain reaches), the
/// chain, and the adapted body.
pub fn adapt_for_reader<'a>(
    adapters: &'a [Adapter],
    sent: &Version,
    speaks: &[Version],
    body: &Value,
) -> Result<(Version, Vec<&'a Adapter>, Value), String> {
    if speaks.contains(sent) {
        return Ok((sent.clone(), Vec::new(), body.clone()));
    }
    let mut targets: Vec<&Version> = speaks.iter().collect();
    targets.sort();
    for target in targets.into_iter().rev() {
        if let Some(steps) = chain(adapters, sent, target) {
            let mut out = body.clone();
            for a in &steps {
                out = apply(&a.ops, &out).map_err(|e| format!("the adapter {} -> {}: {e}", a.from, a.to))?;
            }
            return Ok((target.clone(), steps, out));
        }
    }
    let spoken: Vec<String> = speaks.iter().map(Version::to_string).collect();
    Err(format!(
        "no registered adapter chain from {sent} to a version you speak ({})",
        spoken.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn adapter(from: &str, to: &str, ops: &str) -> Adapter {
        Adapter {
            from: v(from),
            to: v(to),
            ops: parse_ops(ops).unwrap(),
        }
    }

    #[test]
    fn operations_rename_default_and_drop() {
        let ops = parse_ops(
            r#"[{"op":"move","from":"/title","path":"/summary/text"},
                {"op":"default","path":"/priority","value":"normal"},
                {"op":"default","path":"/lines","value":0},
                {"op":"remove","path":"/legacy"},
                {"op":"remove","path":"/not/there"},
                {"op":"move","from":"/a~1b","path":"/ab"}]"#,
        )
        .unwrap();
        let body = json!({"title": "fix", "lines": 3, "legacy": true, "a/b": 1});
        let out = apply(&ops, &body).unwrap();
        assert_eq!(
            out,
            json!({"summary": {"text": "fix"}, "priority": "normal", "lines": 3, "ab": 1})
        );
        assert_eq!(body["title"], "fix", "the original is untouched");
    }

    #[test]
    fn bad_ops_are_refused_naming_the_field() {
        for bad in [
            "",
            "[]",
            r#"[{"op":"copy","from":"/a","path":"/b"}]"#,
            r#"[{"op":"remove","path":""}]"#,
            r#"[{"op":"remove","path":"a"}]"#,
            r#"[{"op":"remove","path":"/a~2"}]"#,
            r#"[{"op":"remove","path":"/a","extra":1}]"#,
        ] {
            assert!(parse_ops(bad).unwrap_err().starts_with("ops:"), "{bad}");
        }
        let many = format!("[{}]", vec![r#"{"op":"remove","path":"/a"}"#; MAX_OPS + 1].join(","));
        assert!(parse_ops(&many).is_err());
    }

    #[test]
    fn a_chain_is_the_shortest_and_the_same_for_everyone() {
        let all = [
            adapter("1.1.0", "2.0.0", r#"[{"op":"move","from":"/title","path":"/summary"}]"#),
            adapter("1.0.0", "1.1.0", r#"[{"op":"default","path":"/lines","value":0}]"#),
            adapter("2.0.0", "1.1.0", r#"[{"op":"move","from":"/summary","path":"/title"}]"#),
            adapter("1.0.0", "1.2.0", r#"[{"op":"remove","path":"/x"}]"#),
            adapter("1.2.0", "2.0.0", r#"[{"op":"remove","path":"/y"}]"#),
        ];
        let c = chain(&all, &v("1.0.0"), &v("2.0.0")).unwrap();
        let steps: Vec<String> = c.iter().map(|a| format!("{}>{}", a.from, a.to)).collect();
        assert_eq!(steps, ["1.0.0>1.1.0", "1.1.0>2.0.0"], "ties go to the lower version");
        assert!(chain(&all, &v("2.0.0"), &v("1.0.0")).is_none());
        assert_eq!(chain(&all, &v("1.1.0"), &v("1.1.0")).unwrap().len(), 0);
        let body = json!({"title": "t"});
        let (to, via, out) = adapt_for_reader(&all, &v("1.0.0"), &[v("2.0.0"), v("1.1.0")], &body).unwrap();
        assert_eq!(
            (to, via.len(), out),
            (v("2.0.0"), 2, json!({"summary": "t", "lines": 0}))
        );
        let e = adapt_for_reader(&all, &v("2.0.0"), &[v("1.0.0")], &body).unwrap_err();
        assert!(e.contains("no registered adapter chain from 2.0.0"), "{e}");
    }
}
