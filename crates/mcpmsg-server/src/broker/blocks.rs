//! Block lists (PROTOCOL §17): a client refuses 1:1 messages and pairing
//! from those it blocks. The list lives in the store beside the client's
//! queue, so a send is checked against it in the step that queues it.

use mcpmsg_core::protocol::tools::BlockClientArgs;
use mcpmsg_core::protocol::{check_client_id, now_ms, ErrorCode};

use super::auth::Against;
use super::{Broker, Refusal};

impl Broker {
    /// `block_client`: blocks or unblocks; the caller's list after.
    pub async fn block_client(&self, args: BlockClientArgs) -> Result<Vec<String>, Refusal> {
        check_client_id("client_id", &args.client_id)?;
        check_client_id("blocked_id", &args.blocked_id)?;
        let block = match args.action.as_str() {
            "block" => true,
            "unblock" => false,
            _ => return Err(Refusal::invalid("action: \"block\" or \"unblock\"")),
        };
        if args.blocked_id == args.client_id {
            return Err(Refusal::invalid("blocked_id: another client than yourself"));
        }
        self.accept_request(&args, Against::Stored, now_ms()).await?;
        let max = self.config.max_blocks;
        self.store
            .set_block(&args.client_id, &args.blocked_id, block, max)
            .await?
            .ok_or_else(|| {
                Refusal::new(
                    ErrorCode::TooLarge,
                    format!(
                        "the block list of {} holds its most, {max} (--max-blocks); unblock someone first",
                        args.client_id
                    ),
                )
            })
    }
}

/// A send refused because its recipient blocks its sender.
pub(super) fn blocked(sender: &str, recipient: &str) -> Refusal {
    Refusal::new(
        ErrorCode::Blocked,
        format!("{recipient} blocks messages from {sender}; nothing was queued"),
    )
}
