//! `mcpmsg`: generate, rotate and revoke an identity's keys, pin recipients,
//! and (later) message from the shell and run the signing bridge.
//!
//! Arguments are parsed once by clap into typed values that flow down to
//! each command. Errors print as `mcpmsg: error: ...` with a hint; exit
//! codes are 0 ok, 1 a verification failed, 2 usage or any other error. A
//! closed stdout (`mcpmsg kel | head`) is not an error.
#![forbid(unsafe_code)]

mod bridge;
mod broadcast_cmd;
mod connection;
mod error;
mod files;
mod identity;
mod keys;
mod protocol_cmd;
mod recipients;
mod room_cmd;
mod server_cmd;
mod session;
mod shell;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::identity::PassSource;

#[derive(Parser)]
#[command(name = "mcpmsg", version, about = "Keys and signed messaging for mcpmsg", long_about = None)]
struct Cli {
    /// The client configuration [default: $MCPMSG_CONFIG, else ./mcp_recipients.json]
    #[arg(
        long,
        global = true,
        env = "MCPMSG_CONFIG",
        default_value = "mcp_recipients.json",
        hide_default_value = true
    )]
    config: PathBuf,
    /// Read the key-file passphrase from the first line of FILE instead of prompting
    #[arg(long, global = true, env = "MCPMSG_PASSPHRASE_FILE", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an identity: keys, a committed next key, the inception event, and the config
    Init(keys::InitArgs),
    /// Show this identity: id, fingerprints, kids, log length and head
    Whoami {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print this identity's key event log as a JSON array
    Kel,
    /// Move to the committed next key; commit a new next key and a new sealing key
    Rotate(keys::RotateArgs),
    /// End this identity for good
    Revoke(keys::RevokeArgs),
    /// Print this identity's line for the server's enrollment (keys) file
    EnrollLine,
    /// Pin and list the recipients this client may message
    #[command(subcommand)]
    Recipients(recipients::RecipientsCommand),
    /// Check in with the server (registers this identity with its whole log, or pushes new events)
    Checkin(shell::CheckinArgs),
    /// Send a message, sealed to the recipient's key unless --no-seal
    Send(shell::SendArgs),
    /// Receive messages, each verified against its sender's pinned log
    Recv(shell::RecvArgs),
    /// Run the signing bridge: a stdio MCP server for an IDE, holding the keys
    Bridge(bridge::BridgeArgs),
    /// Rooms: create, invite, join, leave, remove, list, log, send, recv
    #[command(subcommand)]
    Room(room_cmd::RoomCommand),
    /// Find a pen pal: enter the pairing queue and wait for a partner
    Pair(room_cmd::PairArgs),
    /// Block a client (its 1:1 messages and pairing with it are refused), or --unblock it
    Block(room_cmd::BlockArgs),
    /// The protocol registry: register a version with its JSON Schema, list, show (verified)
    #[command(subcommand)]
    Protocol(protocol_cmd::ProtocolCommand),
    /// Declare your capability tags and the protocol versions you speak
    Declare(protocol_cmd::DeclareArgs),
    /// Broadcast to every client that declared a tag or protocol (optionally typed, or sealed to each)
    Broadcast(broadcast_cmd::BroadcastArgs),
    /// What you and PEER can use together: per protocol the version to use, and tags
    Negotiate {
        peer: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// The server key this client pinned: show it, or re-pin after the operator replaced it
    #[command(subcommand)]
    Server(server_cmd::ServerCommand),
    /// Verify a key event log file and print what it proves
    VerifyKel {
        /// A JSON array of events, as `mcpmsg kel` prints it
        file: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// Everything a command needs from the global flags.
pub struct Ctx {
    pub config: PathBuf,
    pub pass: PassSource,
}

/// Writes to stdout; a closed pipe surfaces as `BrokenPipe` and ends quietly.
pub fn out(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx {
        config: cli.config,
        pass: PassSource {
            file: cli.passphrase_file,
        },
    };
    match cli.command {
        Command::Init(a) => keys::init(&ctx, a),
        Command::Whoami { json } => keys::whoami(&ctx, json),
        Command::Kel => keys::print_kel(&ctx),
        Command::Rotate(a) => keys::rotate(&ctx, a),
        Command::Revoke(a) => keys::revoke(&ctx, a),
        Command::EnrollLine => keys::enroll_line(&ctx),
        Command::Recipients(c) => recipients::run(&ctx, c),
        Command::VerifyKel { file, json } => keys::verify_kel(&file, json),
        Command::Checkin(a) => shell::checkin(&ctx, a),
        Command::Send(a) => shell::send(&ctx, a),
        Command::Recv(a) => shell::recv(&ctx, a),
        Command::Bridge(a) => bridge::run(&ctx, a),
        Command::Server(c) => server_cmd::run(&ctx, c),
        Command::Room(c) => room_cmd::run(&ctx, c),
        Command::Pair(a) => room_cmd::pair(&ctx, a),
        Command::Block(a) => room_cmd::block(&ctx, a),
        Command::Protocol(c) => protocol_cmd::run(&ctx, c),
        Command::Declare(a) => protocol_cmd::declare(&ctx, a),
        Command::Negotiate { peer, json } => protocol_cmd::negotiate(&ctx, &peer, json),
        Command::Broadcast(a) => broadcast_cmd::run(&ctx, a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => ExitCode::from(error::report(&e)),
    }
}
