//! A stdio client playing an IDE: it launches a real bridge and records
//! every notification the bridge pushes to it.

use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{CustomNotification, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{User, MCPMSG};

/// A stdio client (an IDE) that records what the bridge pushes.
pub struct Ide(UnboundedSender<(String, Value)>);

impl ClientHandler for Ide {
    async fn on_custom_notification(&self, n: CustomNotification, _c: NotificationContext<RoleClient>) {
        let _ = self.0.send((n.method, n.params.unwrap_or(Value::Null)));
    }

    async fn on_resource_updated(&self, p: ResourceUpdatedNotificationParam, _c: NotificationContext<RoleClient>) {
        let _ = self
            .0
            .send(("notifications/resources/updated".into(), json!({"uri": p.uri})));
    }
}

pub async fn ide_bridge(user: &User) -> (RunningService<RoleClient, Ide>, UnboundedReceiver<(String, Value)>) {
    let mut cmd = tokio::process::Command::new(MCPMSG);
    cmd.arg("--config").arg(user.config()).arg("bridge");
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let (tx, rx) = unbounded_channel();
    (Ide(tx).serve(transport).await.expect("bridge starts"), rx)
}

pub async fn next(rx: &mut UnboundedReceiver<(String, Value)>, method: &str) -> Value {
    loop {
        let (m, params) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {method} within 10 s"))
            .expect("the bridge is running");
        if m == method {
            return params;
        }
    }
}
