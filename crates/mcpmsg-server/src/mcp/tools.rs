//! The tools of PROTOCOL §5 as MCP lists them, built from their one typed
//! definition in [`mcpmsg_core::protocol::tools`]: names, titles,
//! annotations, descriptions, input schemas (patterns for ids, enums, no
//! unknown members) and output schemas for every `structuredContent`, all
//! derived from the types.
//!
//! Output schemas describe successful results (a refused call has
//! `isError: true` and `{"error": {...}}`, which clients do not check
//! against them) and allow members added later.

use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{Tool, ToolAnnotations};

use mcpmsg_core::protocol::tools::{
    AckMessagesArgs, BlockClientArgs, BroadcastArgs, ChangeRoomArgs, CheckinClientArgs, CompatibilityMatrixArgs,
    DeclareArgs, DiscoverProtocolsArgs, EnterQueueArgs, GetClientKeysArgs, GetInboxUriArgs, GetMessagesArgs,
    GetMyIdentityArgs, GetProtocolArgs, GetRoomLogArgs, GetServerKeyArgs, HeartbeatArgs, LeaveQueueArgs,
    ListAdaptersArgs, ListClientsArgs, ListRoomsArgs, NegotiateArgs, RegisterAdapterArgs, RegisterProtocolArgs,
    RevokeKeyArgs, RotateKeyArgs, SendAndWaitArgs, SendMessage, SendRoomMessageArgs, SendSignalArgs, ToolArgs,
    ToolName,
};

/// Appended to a signed tool's description: a model sees the tool but
/// cannot sign, so it is told where the signing happens.
const SIGNED: &str = "Signed: key_id, ts, nonce and sig are made with the caller's private key, which a model \
    does not hold; the `mcpmsg bridge` offers the same actions as plain tools and signs on the user's machine.";

/// The MCP description of the tool `A` is the arguments of.
fn describe<A: ToolArgs>() -> Tool {
    let h = A::HINTS;
    let description = if h.signed {
        format!("{} {SIGNED}", A::DESCRIPTION)
    } else {
        A::DESCRIPTION.to_owned()
    };
    let input = schema_for_input::<A>().expect("tool arguments are JSON objects");
    let hints = ToolAnnotations::with_title(h.title)
        .read_only(h.read_only)
        .destructive(h.destructive)
        .idempotent(h.idempotent)
        .open_world(false);
    Tool::new(A::TOOL.as_str(), description, input)
        .with_title(h.title)
        .with_raw_output_schema(schema_for_output::<A::Output>())
        .with_annotations(hints)
}

/// One tool's MCP description.
pub fn definition(tool: ToolName) -> Tool {
    match tool {
        ToolName::CheckinClient => describe::<CheckinClientArgs>(),
        ToolName::SendMessage => describe::<SendMessage>(),
        ToolName::SendMessageAndWait => describe::<SendAndWaitArgs>(),
        ToolName::GetMessages => describe::<GetMessagesArgs>(),
        ToolName::AckMessages => describe::<AckMessagesArgs>(),
        ToolName::RotateKey => describe::<RotateKeyArgs>(),
        ToolName::RevokeKey => describe::<RevokeKeyArgs>(),
        ToolName::GetClientKeys => describe::<GetClientKeysArgs>(),
        ToolName::ListClients => describe::<ListClientsArgs>(),
        ToolName::GetMyIdentity => describe::<GetMyIdentityArgs>(),
        ToolName::Heartbeat => describe::<HeartbeatArgs>(),
        ToolName::GetServerKey => describe::<GetServerKeyArgs>(),
        ToolName::GetInboxUri => describe::<GetInboxUriArgs>(),
        ToolName::ChangeRoom => describe::<ChangeRoomArgs>(),
        ToolName::GetRoomLog => describe::<GetRoomLogArgs>(),
        ToolName::ListRooms => describe::<ListRoomsArgs>(),
        ToolName::SendRoomMessage => describe::<SendRoomMessageArgs>(),
        ToolName::EnterQueue => describe::<EnterQueueArgs>(),
        ToolName::LeaveQueue => describe::<LeaveQueueArgs>(),
        ToolName::BlockClient => describe::<BlockClientArgs>(),
        ToolName::SendSignal => describe::<SendSignalArgs>(),
        ToolName::RegisterProtocol => describe::<RegisterProtocolArgs>(),
        ToolName::GetProtocol => describe::<GetProtocolArgs>(),
        ToolName::DiscoverProtocols => describe::<DiscoverProtocolsArgs>(),
        ToolName::DeclareCapabilities => describe::<DeclareArgs>(),
        ToolName::Negotiate => describe::<NegotiateArgs>(),
        ToolName::CompatibilityMatrix => describe::<CompatibilityMatrixArgs>(),
        ToolName::Broadcast => describe::<BroadcastArgs>(),
        ToolName::RegisterAdapter => describe::<RegisterAdapterArgs>(),
        ToolName::ListAdapters => describe::<ListAdaptersArgs>(),
    }
}

/// Every tool, in the order PROTOCOL §5 lists them.
pub fn all() -> Vec<Tool> {
    ToolName::ALL.into_iter().map(definition).collect()
}

/// Tools anyone may call: unsigned reads, which count against the caller's
/// address. (A key event is not anonymous: it carries its own signature.)
pub fn is_anonymous(tool: ToolName) -> bool {
    let h = tool.hints();
    h.read_only && !h.signed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_tool_has_a_title_annotations_and_closed_input() {
        for t in all() {
            assert!(t.title.is_some(), "{}", t.name);
            assert!(t.output_schema.is_some(), "{}", t.name);
            let tool = ToolName::parse(&t.name).expect("a known name");
            let hints = t.annotations.as_ref().expect("annotations");
            // Anonymous tools only read; a signed one says how it is signed.
            if is_anonymous(tool) {
                assert_eq!(hints.read_only_hint, Some(true), "{}", t.name);
            }
            let signed = tool.hints().signed;
            assert_eq!(
                t.description.as_deref().unwrap_or_default().contains("mcpmsg bridge"),
                signed,
                "{}",
                t.name
            );
            assert_eq!(
                t.input_schema.get("additionalProperties"),
                Some(&json!(false)),
                "{}",
                t.name
            );
            let text = t.description.as_deref().unwrap_or_default();
            assert!(
                !text.contains('§'),
                "{}: a model cannot act on a section number",
                t.name
            );
        }
        let revoke = definition(ToolName::RevokeKey);
        assert_eq!(revoke.annotations.unwrap().destructive_hint, Some(true));
        let anonymous: Vec<_> = ToolName::ALL.into_iter().filter(|t| is_anonymous(*t)).collect();
        assert_eq!(
            anonymous,
            [
                ToolName::GetClientKeys,
                ToolName::ListClients,
                ToolName::GetMyIdentity,
                ToolName::GetServerKey,
                ToolName::GetProtocol,
                ToolName::DiscoverProtocols,
                ToolName::Negotiate,
                ToolName::CompatibilityMatrix,
                ToolName::ListAdapters
            ]
        );
    }

    #[test]
    fn field_descriptions_come_from_the_types() {
        let send = definition(ToolName::SendMessage);
        let props = &send.input_schema["properties"];
        assert_eq!(
            props["sender_id"]["pattern"],
            json!("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
        );
        assert!(props["recipient_id"]["description"]
            .as_str()
            .unwrap()
            .contains("list_clients"));
        assert!(send.description.unwrap().contains("mcpmsg bridge"));
    }
}
