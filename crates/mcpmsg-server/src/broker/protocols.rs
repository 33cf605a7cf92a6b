//! The protocol registry (PROTOCOL §18): `register_protocol` (signed),
//! `get_protocol` and `discover_protocols` (public). Every rule on names,
//! versions, ranges and schemas is `mcpmsg_core::protocol::registry`'s; who
//! may register what is `store::decide`, applied in one store step.

use mcpmsg_core::protocol::registry::{
    check_name, parse_co_owners, parse_kinds, parse_range, parse_tags, parse_version, tag_ok, Schema, SchemaLimits,
    Version, MAX_DESCRIPTION,
};
use mcpmsg_core::protocol::tools::{
    DiscoverProtocolsArgs, GetProtocolArgs, ProtocolEntry, ProtocolInfo, ProtocolList, ProtocolRegistered,
    RegisterProtocolArgs,
};
use mcpmsg_core::protocol::{check_client_id, is_printable, now_ms, parse_decimal, ErrorCode};

use super::auth::Against;
use super::{Broker, Refusal};
use crate::store::{NameOwner, ProtocolRecord, ProtocolRegister, RegisterOutcome};

/// Most entries of one discovery page (and the default).
const PAGE: usize = 100;
/// Most names one discovery call reads before it answers with a cursor.
const SCAN: usize = 1_000;

fn unknown(what: String) -> Refusal {
    Refusal::new(
        ErrorCode::UnknownProtocol,
        format!("{what} is not registered; discover_protocols lists what is"),
    )
}

/// A record's version (registered ones always parse).
fn version_of(r: &ProtocolRecord) -> Version {
    Version::parse(&r.registration.version).unwrap_or_else(|_| Version::new(0, 0, 0))
}

impl Broker {
    /// `register_protocol`: checks every field, authenticates, compiles
    /// the schema, and registers in one store step.
    pub async fn register_protocol(&self, args: RegisterProtocolArgs) -> Result<ProtocolRegistered, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        check_name("name", &args.name).map_err(Refusal::invalid)?;
        parse_version("version", &args.version).map_err(Refusal::invalid)?;
        parse_kinds(&args.kinds).map_err(Refusal::invalid)?;
        parse_tags(&args.tags).map_err(Refusal::invalid)?;
        let co_owners = parse_co_owners(&args.co_owners).map_err(Refusal::invalid)?;
        if args.description.chars().count() > MAX_DESCRIPTION || !is_printable(&args.description) {
            return Err(Refusal::invalid(format!(
                "description: at most {MAX_DESCRIPTION} printable characters"
            )));
        }
        // Authenticated before the schema is compiled: compiling is the
        // costly part, and only a registered client may make the server do it.
        let now = self.accept_request(&args, Against::Stored, now_ms()).await?;
        let limits = SchemaLimits {
            max_bytes: self.config.max_schema_bytes,
            max_depth: self.config.max_schema_depth,
        };
        Schema::compile(&args.schema, limits).map_err(|why| Refusal::new(ErrorCode::InvalidSchema, why))?;
        let (name, version) = (args.name.clone(), args.version.clone());
        let record = ProtocolRecord {
            registration: args,
            registered_at: now,
        };
        let step = ProtocolRegister {
            record: &record,
            co_owners: &co_owners,
            max_names: self.config.max_protocols,
            max_versions: self.config.max_protocol_versions,
        };
        match self.store.register_protocol(step).await? {
            RegisterOutcome::Registered(NameOwner { owner, co_owners }) => Ok(ProtocolRegistered {
                name,
                version,
                owner,
                co_owners,
                registered_at: now.to_string(),
            }),
            RegisterOutcome::Exists => Err(Refusal::new(
                ErrorCode::ProtocolExists,
                format!("{name}@{version} is registered already, and a version never changes; register a new version"),
            )),
            RegisterOutcome::NotOwner(o) => Err(Refusal::new(
                ErrorCode::NotOwner,
                format!(
                    "{name} belongs to {} (co-owners: {}); only its owner registers versions with co_owners, and only they or a co-owner register versions at all: choose another name or ask the owner",
                    o.owner,
                    if o.co_owners.is_empty() { "none".to_owned() } else { o.co_owners.join(", ") }
                ),
            )),
            RegisterOutcome::NamesFull => Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("the registry holds its most names, {} (--max-protocols)", self.config.max_protocols),
            )),
            RegisterOutcome::VersionsFull => Err(Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "{name} has its most versions, {} (--max-protocol-versions)",
                    self.config.max_protocol_versions
                ),
            )),
        }
    }

    /// `get_protocol`: a version, the highest in a range, or the highest.
    pub async fn get_protocol(&self, args: GetProtocolArgs) -> Result<ProtocolInfo, Refusal> {
        check_name("name", &args.name).map_err(Refusal::invalid)?;
        let (owners, versions) = self
            .store
            .protocol(&args.name)
            .await?
            .ok_or_else(|| unknown(format!("protocol {}", args.name)))?;
        let pick = match args.version.as_deref() {
            None => versions.iter().max_by_key(|r| version_of(r)),
            Some(v) => match Version::parse(v) {
                Ok(exact) => versions.iter().find(|r| version_of(r) == exact),
                Err(_) => {
                    let range = parse_range("version", v).map_err(|_| {
                        Refusal::invalid("version: a semver version such as 1.2.0 or a range such as ^1.2")
                    })?;
                    versions
                        .iter()
                        .filter(|r| range.matches(&version_of(r)))
                        .max_by_key(|r| version_of(r))
                }
            },
        };
        let r = pick.ok_or_else(|| unknown(format!("{}@{}", args.name, args.version.as_deref().unwrap_or(""))))?;
        Ok(ProtocolInfo {
            registration: r.registration.clone(),
            registered_at: r.registered_at.to_string(),
            owner: owners.owner,
            co_owners: owners.co_owners,
        })
    }

    /// `discover_protocols`: versions by name, then semver order, filtered,
    /// a page at a time; the cursor is the last entry's `name@version`.
    pub async fn discover_protocols(&self, args: DiscoverProtocolsArgs) -> Result<ProtocolList, Refusal> {
        if let Some(n) = &args.name {
            check_name("name", n).map_err(Refusal::invalid)?;
        }
        let range = args
            .range
            .as_deref()
            .map(|r| parse_range("range", r).map_err(Refusal::invalid))
            .transpose()?;
        if let Some(t) = &args.tag {
            if !tag_ok(t) {
                return Err(Refusal::invalid("tag: 1 to 32 of a-z, 0-9 and -"));
            }
        }
        let limit = match args.limit.as_deref() {
            None => PAGE,
            Some(s) => parse_decimal("limit", s)
                .ok()
                .filter(|n| (1..=PAGE as u64).contains(n))
                .ok_or_else(|| Refusal::invalid(format!("limit: a decimal string from \"1\" to \"{PAGE}\"")))?
                as usize,
        };
        let after = match args.cursor.as_deref() {
            None => None,
            Some(c) => {
                let (n, v) = c
                    .split_once('@')
                    .ok_or_else(|| Refusal::invalid("cursor: the next_cursor of the previous page"))?;
                check_name("cursor", n).map_err(Refusal::invalid)?;
                Some((n.to_owned(), parse_version("cursor", v).map_err(Refusal::invalid)?))
            }
        };
        let wanted = |r: &ProtocolRecord, v: &Version| {
            range.as_ref().is_none_or(|q| q.matches(v))
                && args
                    .tag
                    .as_ref()
                    .is_none_or(|t| r.registration.tags.split(',').any(|x| x == t))
        };
        let mut out = Vec::new();
        let mut scanned = 0;
        // Names from the cursor's (inclusive: its later versions remain).
        let mut from = after.as_ref().map(|(n, _)| prev_name(n)).unwrap_or_default();
        loop {
            let names = match &args.name {
                Some(n) if from.as_str() < n.as_str() => vec![n.clone()],
                Some(_) => Vec::new(),
                None => self.store.protocol_names(&from, 100).await?,
            };
            if names.is_empty() {
                return Ok(ProtocolList {
                    protocols: out,
                    next_cursor: None,
                });
            }
            for name in names {
                scanned += 1;
                let Some((_, mut versions)) = self.store.protocol(&name).await? else {
                    continue;
                };
                versions.sort_by_key(version_of);
                for r in versions {
                    let v = version_of(&r);
                    if after.as_ref().is_some_and(|(n, av)| *n == name && v <= *av) {
                        continue;
                    }
                    if !wanted(&r, &v) {
                        continue;
                    }
                    if out.len() == limit {
                        let last: &ProtocolEntry = out.last().expect("limit is at least 1");
                        let next_cursor = Some(format!("{}@{}", last.name, last.version));
                        return Ok(ProtocolList {
                            protocols: out,
                            next_cursor,
                        });
                    }
                    out.push(entry(&r));
                }
                from = name;
                if scanned >= SCAN && !out.is_empty() {
                    // Enough reading for one call: go on from here next time.
                    let last = out.last().expect("not empty");
                    let next_cursor = Some(format!("{}@{}", last.name, last.version));
                    return Ok(ProtocolList {
                        protocols: out,
                        next_cursor,
                    });
                }
            }
            if args.name.is_some() {
                return Ok(ProtocolList {
                    protocols: out,
                    next_cursor: None,
                });
            }
        }
    }
}

/// A string that sorts just before `name` and after every other name
/// before it (the last byte lowered, then `~`, which no name contains), so
/// a listing "after" it starts at `name` itself.
fn prev_name(name: &str) -> String {
    let mut b = name.as_bytes().to_vec();
    let last = b.pop().expect("names have 2 or more bytes");
    b.push(last - 1);
    b.push(b'~');
    String::from_utf8(b).expect("ASCII")
}

fn entry(r: &ProtocolRecord) -> ProtocolEntry {
    let reg = &r.registration;
    let split = |s: &str| s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect();
    ProtocolEntry {
        name: reg.name.clone(),
        version: reg.version.clone(),
        kinds: split(&reg.kinds),
        tags: split(&reg.tags),
        description: reg.description.clone(),
        registered_by: reg.client_id.clone(),
    }
}
