//! The registry property of the storage conformance suite (PROTOCOL §18).

use std::sync::Arc;

use mcpmsg_core::protocol::tools::RegisterProtocolArgs;
use mcpmsg_server::store::{NameOwner, ProtocolRecord, ProtocolRegister, RegisterOutcome, Store};

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
