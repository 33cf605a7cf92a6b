//! One pass over a request body, without building a tree: refuses an
//! object that names a member twice, at any depth (amendment A5), and notes
//! what the JSON-RPC checks need of the envelope. Member names are borrowed
//! from the body where they have no escapes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What a body is.
pub(super) enum Shape {
    /// An array (a batch) or a scalar.
    NotObject {
        /// Whether it was an array.
        array: bool,
    },
    /// An object, and its JSON-RPC members.
    Object(Envelope),
}

/// The members of a JSON-RPC object that the edge judges.
#[derive(Default)]
pub(super) struct Envelope {
    /// `jsonrpc` is the string "2.0".
    pub jsonrpc_2: bool,
    /// `id`, when it is a scalar.
    pub id: Option<Value>,
    /// What `method` is.
    pub method: Method,
    /// It has `result` or `error`: a response, not a request.
    pub is_response: bool,
    /// `params` is an object with a string `name`.
    pub params_name: bool,
    /// `params.arguments` is absent, null or an object.
    pub params_arguments_ok: bool,
}

/// What `method` is.
#[derive(Default, PartialEq, Eq)]
pub(super) enum Method {
    /// No `method`.
    #[default]
    Absent,
    /// Not a string.
    NotString,
    /// `"tools/call"`.
    ToolsCall,
    /// Another string.
    Other,
}

/// Why a body was refused.
pub(super) enum ScanError {
    /// Not JSON.
    Syntax(serde_json::Error),
    /// An object names this member twice.
    Duplicate(String),
}

const DUP: &str = "duplicate member: ";

/// Scans `bytes`.
pub(super) fn scan(bytes: &[u8]) -> Result<Shape, ScanError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let shape = Top.deserialize(&mut de).map_err(classify)?;
    de.end().map_err(ScanError::Syntax)?;
    Ok(shape)
}

fn classify(e: serde_json::Error) -> ScanError {
    let text = e.to_string();
    match text.strip_prefix(DUP) {
        Some(rest) => ScanError::Duplicate(rest.split(" at line").next().unwrap_or(rest).to_owned()),
        None => ScanError::Syntax(e),
    }
}

/// The member names of one object; a set once there are many.
#[derive(Default)]
struct Names<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Names<'de> {
    /// Adds `name`; an error if it was there.
    fn add<E: serde::de::Error>(&mut self, name: Cow<'de, str>) -> Result<Cow<'de, str>, E> {
        let fresh = match &mut self.many {
            Some(set) => set.insert(name.clone()),
            None if self.few.len() < 16 => {
                let fresh = !self.few.contains(&name);
                if fresh {
                    self.few.push(name.clone());
                }
                fresh
            }
            None => {
                let mut set: HashSet<_> = self.few.drain(..).collect();
                let fresh = set.insert(name.clone());
                self.many = Some(set);
                fresh
            }
        };
        if fresh {
            Ok(name)
        } else {
            Err(E::custom(format!("{DUP}{name}")))
        }
    }
}

/// A member name, borrowed when it can be.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// What a value is, checked for duplicates within.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Object,
    Other,
}

/// Any value: checked for duplicate members at any depth, kept as its kind.
struct Check;

impl<'de> DeserializeSeed<'de> for Check {
    type Value = Kind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = Kind;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::Other)
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element_seed(Check)?.is_some() {}
        Ok(Kind::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut names = Names::default();
        while let Some(name) = map.next_key_seed(Name)? {
            names.add::<A::Error>(name)?;
            map.next_value_seed(Check)?;
        }
        Ok(Kind::Object)
    }
}

/// A value that may be a given string: true when it is.
struct StrIs(&'static str);

impl<'de> DeserializeSeed<'de> for StrIs {
    type Value = Option<bool>;
    /// `Some(true)` for the string, `Some(false)` for another string,
    /// `None` for anything else.
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrIs {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v == self.0))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Check.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Check.visit_map(map).map(|_| None)
    }
}

/// A JSON-RPC `id`: kept when it is a scalar.
struct Id;

impl<'de> DeserializeSeed<'de> for Id {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Id {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Check.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Check.visit_map(map).map(|_| None)
    }
}

/// `params`: `(a string name, arguments absent/null/object)`.
struct Params;

impl<'de> DeserializeSeed<'de> for Params {
    type Value = (bool, bool);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Params {
    type Value = (bool, bool);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Names::default();
        let (mut name_ok, mut args_ok) = (false, true);
        while let Some(name) = map.next_key_seed(Name)? {
            match names.add::<A::Error>(name)?.as_ref() {
                "name" => name_ok = map.next_value_seed(StrIs(""))?.is_some(),
                "arguments" => args_ok = map.next_value_seed(Check)? != Kind::Other,
                _ => {
                    map.next_value_seed(Check)?;
                }
            }
        }
        Ok((name_ok, args_ok))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Check.visit_seq(seq).map(|_| (false, false))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok((false, false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok((false, false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok((false, false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok((false, false))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok((false, false))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((false, false))
    }
}

/// The whole body.
struct Top;

impl<'de> DeserializeSeed<'de> for Top {
    type Value = Shape;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut names = Names::default();
        let mut env = Envelope {
            params_arguments_ok: true,
            ..Envelope::default()
        };
        while let Some(name) = map.next_key_seed(Name)? {
            match names.add::<A::Error>(name)?.as_ref() {
                "jsonrpc" => env.jsonrpc_2 = map.next_value_seed(StrIs("2.0"))? == Some(true),
                "id" => env.id = map.next_value_seed(Id)?,
                "method" => {
                    env.method = match map.next_value_seed(StrIs("tools/call"))? {
                        Some(true) => Method::ToolsCall,
                        Some(false) => Method::Other,
                        None => Method::NotString,
                    }
                }
                "params" => (env.params_name, env.params_arguments_ok) = map.next_value_seed(Params)?,
                "result" | "error" => {
                    env.is_response = true;
                    map.next_value_seed(Check)?;
                }
                _ => {
                    map.next_value_seed(Check)?;
                }
            }
        }
        Ok(Shape::Object(env))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::NotObject { array: true })
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::NotObject { array: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(body: &str) -> Option<String> {
        match scan(body.as_bytes()) {
            Err(ScanError::Duplicate(name)) => Some(name),
            _ => None,
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert!(scan(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        assert_eq!(dup(r#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(
            dup(r#"{"params":{"arguments":{"event":{"type":"rotation","type":"revocation"}}}}"#).as_deref(),
            Some("type")
        );
        assert_eq!(dup(r#"{"x":[1,{"k":1,"k":2}]}"#).as_deref(), Some("k"));
        // The same name spelled with an escape is the same name.
        assert_eq!(dup(r#"{"ab":1,"a\u0062":2}"#).as_deref(), Some("ab"));
        // Many members: the set takes over from the list.
        let many: Vec<String> = (0..40).map(|i| format!("\"m{i}\":{i}")).collect();
        assert!(scan(format!("{{{}}}", many.join(",")).as_bytes()).is_ok());
        assert_eq!(dup(&format!("{{{},\"m7\":0}}", many.join(","))).as_deref(), Some("m7"));
        assert!(matches!(scan(b"{"), Err(ScanError::Syntax(_))));
        assert!(matches!(scan(b"{} x"), Err(ScanError::Syntax(_))));
    }

    #[test]
    fn the_envelope_is_read() {
        let Ok(Shape::Object(env)) =
            scan(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":1}}}"#)
        else {
            panic!()
        };
        assert!(env.jsonrpc_2 && env.params_name && env.params_arguments_ok);
        assert!(env.method == Method::ToolsCall && env.id == Some(7.into()) && !env.is_response);
        let Ok(Shape::Object(env)) = scan(br#"{"jsonrpc":"1.0","method":5,"params":{"arguments":"x"}}"#) else {
            panic!()
        };
        assert!(!env.jsonrpc_2 && env.method == Method::NotString && !env.params_name && !env.params_arguments_ok);
        assert!(matches!(scan(b"[1]"), Ok(Shape::NotObject { array: true })));
        assert!(matches!(scan(b"42"), Ok(Shape::NotObject { array: false })));
    }
}
