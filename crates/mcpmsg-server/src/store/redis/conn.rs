//! Connecting to Redis: one server (a reconnecting multiplexed connection)
//! or a Cluster, over TLS when asked, with passwords kept out of messages.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::StoreError;

pub(super) fn err(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

/// `url` with any password masked (`redis://user:***@host`), for logs and
/// errors. Userinfo without a `:` is masked whole, in case it is a password.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let nodes: Vec<String> = rest
        .split(',')
        .map(|node| match node.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:***@{host}"),
                None => format!("***@{host}"),
            },
            None => node.to_owned(),
        })
        .collect();
    format!("{scheme}://{}", nodes.join(","))
}

/// Certificate files for a TLS connection to Redis (`rediss://`). Without
/// `ca`, Redis's certificate is checked against the system's trust store;
/// there is no way to turn the check off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA certificates (PEM) to trust instead of the system's.
    pub ca: Option<std::path::PathBuf>,
    /// This node's client certificate chain (PEM), with `key`.
    pub cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `cert`.
    pub key: Option<std::path::PathBuf>,
}

impl RedisTls {
    /// The certificates for the Redis client; `None` when no file is given
    /// (the system's roots, no client certificate).
    pub(super) fn load(&self) -> Result<Option<redis::TlsCertificates>, StoreError> {
        let read = |what: &str, p: &std::path::Path| {
            std::fs::read(p).map_err(|e| StoreError(format!("cannot read the {what} {}: {e}", p.display())))
        };
        let root_cert = self.ca.as_deref().map(|p| read("Redis CA file", p)).transpose()?;
        let client_tls = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read("Redis client certificate", cert)?,
                // The client keeps the key to reconnect; our copy goes.
                client_key: zeroize::Zeroizing::new(read("Redis client key", key)?).to_vec(),
            }),
            (None, None) => None,
            _ => {
                return Err(StoreError(
                    "a Redis client certificate needs its key, and a key its certificate".into(),
                ))
            }
        };
        if root_cert.is_none() && client_tls.is_none() {
            return Ok(None);
        }
        Ok(Some(redis::TlsCertificates { client_tls, root_cert }))
    }
}

/// One Redis (reconnecting manager) or a Cluster.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        p: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(p, offset, count),
            Self::Cluster(c) => c.req_packed_commands(p, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Connects to `url` (see [`super::RedisStore::connect`]): the clients the
/// doorbell may subscribe through (the server, or each Cluster seed), and
/// the connection for everything else.
pub(super) async fn open(url: &str, tls: &RedisTls) -> Result<(Vec<redis::Client>, Conn), StoreError> {
    let bad = |e: redis::RedisError| StoreError(format!("redis URL {}: {e}", redacted_url(url)));
    let tls_hint = |e: redis::RedisError| {
        let e = err(e);
        if url.starts_with("rediss") {
            StoreError(format!(
                "{} (TLS: Redis's certificate is checked against --redis-ca, or the system's roots without it; a Redis with tls-auth-clients needs --redis-cert and --redis-key)",
                e.0
            ))
        } else {
            e
        }
    };
    let certs = tls.load()?;
    let client = |u: &str| match &certs {
        Some(c) => redis::Client::build_with_tls(u, c.clone()),
        None => redis::Client::open(u),
    };
    let cluster = [("redis-cluster://", "redis"), ("rediss-cluster://", "rediss")]
        .into_iter()
        .find_map(|(prefix, scheme)| url.strip_prefix(prefix).map(|nodes| (nodes, scheme)));
    if let Some((nodes, scheme)) = cluster {
        let urls: Vec<String> = nodes.split(',').map(|n| format!("{scheme}://{n}")).collect();
        let seeds = urls
            .iter()
            .map(|u| client(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let mut builder = redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_secs(2))
            .retries(1);
        if let Some(c) = &certs {
            builder = builder.certs(c.clone());
        }
        let conn = builder
            .build()
            .map_err(bad)?
            .get_async_connection()
            .await
            .map_err(tls_hint)?;
        return Ok((seeds, Conn::Cluster(conn)));
    }
    let one = client(url).map_err(bad)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    let conn = one.get_connection_manager_with_config(config).await.map_err(tls_hint)?;
    Ok((vec![one], Conn::Single(conn)))
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn passwords_in_redis_urls_are_masked() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:hunter2@db:6379/0", "redis://:***@db:6379/0"),
            ("rediss://mcpmsg:hunter2@db:6380/1", "rediss://mcpmsg:***@db:6380/1"),
            ("redis://hunter2@db/0", "redis://***@db/0"),
            (
                "redis-cluster://u:p1@a:1,u:p2@b:2",
                "redis-cluster://u:***@a:1,u:***@b:2",
            ),
            ("memory", "memory"),
        ] {
            assert_eq!(redacted_url(url), shown);
        }
    }
}
