//! The registry property of the storage conformance suite (PROTOCOL §18).

use std::sync::Arc;

use mcpmsg_core::protocol::tools::{RegisterAdapterArgs, RegisterProtocolArgs};
use mcpmsg_server::store::{
    AdapterOutcome, AdapterRecord, AdapterRegister, NameOwner, ProtocolRecord, ProtocolRegister, RegisterOutcome, Store,
};

use super::tag;

/// The registry's one rule, in one step on every store: a new name is its
/// registrant's; versions come from the owner or a co-owner; only the
/// owner changes the co-owners; a name@version is registered once; both
/// limits hold.
pub async fn protocol_names_are_owned_and_versions_immutable(store: Arc<dyn Store>) {
    let t = tag().replace('-', "_");
    let name = format!("p{t}");
    let (a, b, c) = (format!("a{t}"), format!("b{t}"), format!("c{t}"));
    let record = |who: &str, version: &str| ProtocolRecord {
        registration: RegisterProtocolArgs {
            client_id: who.to_owned(),
            name: name.clone(),
            version: version.to_owned(),
            schema: "true".into(),
            description: "✓".into(),
            ..Default::default()
        },
        registered_at: 1_000,
    };
    fn step<'a>(r: &'a ProtocolRecord, co: &'a [String]) -> ProtocolRegister<'a> {
        ProtocolRegister {
            record: r,
            co_owners: co,
            max_names: 1_000_000,
            max_versions: 3,
        }
    }
    let owners = |co: &[String]| NameOwner {
        owner: a.clone(),
        co_owners: co.to_vec(),
    };
    let with_b = [b.clone()];
    let r1 = record(&a, "1.0.0");
    assert_eq!(
        store.register_protocol(step(&r1, &with_b)).await.unwrap(),
        RegisterOutcome::Registered(owners(&with_b))
    );
    assert_eq!(
        store.register_protocol(step(&r1, &with_b)).await.unwrap(),
        RegisterOutcome::Exists
    );
    let r2 = record(&b, "2.0.0");
    assert_eq!(
        store.register_protocol(step(&r2, &[])).await.unwrap(),
        RegisterOutcome::Registered(owners(&with_b)),
        "a co-owner adds a version and leaves the co-owners as they are"
    );
    let r3 = record(&b, "3.0.0");
    assert_eq!(
        store
            .register_protocol(step(&r3, std::slice::from_ref(&c)))
            .await
            .unwrap(),
        RegisterOutcome::NotOwner(owners(&with_b))
    );
    let r4 = record(&c, "4.0.0");
    assert_eq!(
        store.register_protocol(step(&r4, &[])).await.unwrap(),
        RegisterOutcome::NotOwner(owners(&with_b))
    );
    let r5 = record(&a, "5.0.0");
    assert_eq!(
        store.register_protocol(step(&r5, &[])).await.unwrap(),
        RegisterOutcome::Registered(owners(&[])),
        "the owner's list replaces the last"
    );
    let r6 = record(&a, "6.0.0");
    assert_eq!(
        store.register_protocol(step(&r6, &[])).await.unwrap(),
        RegisterOutcome::VersionsFull
    );
    let (o, mut versions) = store.protocol(&name).await.unwrap().unwrap();
    assert_eq!(o, owners(&[]));
    versions.sort_by(|x, y| x.registration.version.cmp(&y.registration.version));
    assert_eq!(versions, vec![r1, r2, r5]);
    let names = store.protocol_names("", 1_000_000).await.unwrap();
    assert!(names.contains(&name));
    let after = store.protocol_names(&name, 1_000_000).await.unwrap();
    assert!(!after.contains(&name), "after is exclusive");
    let mut other = record(&a, "1.0.0");
    other.registration.name = format!("q{t}");
    let full = ProtocolRegister {
        max_names: names.len(),
        ..step(&other, &[])
    };
    assert_eq!(store.register_protocol(full).await.unwrap(), RegisterOutcome::NamesFull);
}

/// A declaration replaces the last; an undeclared client reads as none.
pub async fn declarations_replace_the_last(store: Arc<dyn Store>) {
    use mcpmsg_server::store::Declaration;
    let t = tag();
    let (a, b) = (format!("a{t}"), format!("b{t}"));
    let first = Declaration {
        tags: vec!["ci".into()],
        protocols: vec!["p@1.0.0".into()],
    };
    store.declare(&a, &first).await.unwrap();
    let second = Declaration {
        tags: vec!["review".into()],
        protocols: vec![],
    };
    store.declare(&a, &second).await.unwrap();
    assert_eq!(store.declarations(&[&a, &b]).await.unwrap(), vec![Some(second), None]);
    assert_eq!(store.declarations(&[]).await.unwrap(), vec![]);
}

/// Adapters (PROTOCOL §18f), in one step with the owners check on every
/// store: an unknown name, a client that neither owns nor co-owns it, a
/// second adapter for the same pair and one over the limit are refused,
/// and change nothing; what was registered is read back exactly.
pub async fn adapters_are_owned_and_registered_once(store: Arc<dyn Store>) {
    let t = tag().replace('-', "_");
    let name = format!("ad{t}");
    let (a, b, stranger) = (format!("a{t}"), format!("b{t}"), format!("s{t}"));
    let version = ProtocolRecord {
        registration: RegisterProtocolArgs {
            client_id: a.clone(),
            name: name.clone(),
            version: "1.0.0".into(),
            schema: "true".into(),
            ..Default::default()
        },
        registered_at: 1_000,
    };
    let co = [b.clone()];
    let registered = ProtocolRegister {
        record: &version,
        co_owners: &co,
        max_names: 1_000_000,
        max_versions: 10,
    };
    assert!(matches!(
        store.register_protocol(registered).await.unwrap(),
        RegisterOutcome::Registered(_)
    ));
    let adapter = |who: &str, on: &str, from: &str, to: &str| AdapterRecord {
        registration: RegisterAdapterArgs {
            client_id: who.to_owned(),
            name: on.to_owned(),
            from: from.into(),
            to: to.into(),
            ops: r#"[{"op":"remove","path":"/x"}]"#.into(),
            ..Default::default()
        },
        registered_at: 2_000,
    };
    async fn put(store: &dyn Store, r: &AdapterRecord) -> AdapterOutcome {
        store
            .register_adapter(AdapterRegister { record: r, max: 2 })
            .await
            .unwrap()
    }
    let store = store.as_ref();
    let first = adapter(&a, &name, "2.0.0", "1.0.0");
    assert_eq!(put(store, &first).await, AdapterOutcome::Registered);
    assert_eq!(put(store, &first).await, AdapterOutcome::Exists);
    assert_eq!(
        put(store, &adapter(&a, &format!("x{name}"), "2.0.0", "1.0.0")).await,
        AdapterOutcome::UnknownName
    );
    let owners = NameOwner {
        owner: a.clone(),
        co_owners: co.to_vec(),
    };
    assert_eq!(
        put(store, &adapter(&stranger, &name, "1.0.0", "2.0.0")).await,
        AdapterOutcome::NotOwner(owners)
    );
    let second = adapter(&b, &name, "1.0.0", "2.0.0");
    assert_eq!(put(store, &second).await, AdapterOutcome::Registered, "a co-owner may");
    assert_eq!(
        put(store, &adapter(&a, &name, "1.0.0", "3.0.0")).await,
        AdapterOutcome::Full
    );
    let mut listed = store.adapters(&name).await.unwrap();
    listed.sort_by(|x, y| x.registration.from.cmp(&y.registration.from));
    assert_eq!(listed, vec![second, first], "exactly what was registered");
}
