//! `mcpmsg-server`: signed MCP messaging over Streamable HTTP.
//!
//! Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when serving
//! fails (the port is taken, for example), 2 for a bad flag or value.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use mcpmsg_server::config::ServerArgs;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let config = match ServerArgs::parse().validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcpmsg-server: error: {e}");
            return ExitCode::from(2);
        }
    };
    // rmcp logs every stateless request at info; keep it to warnings unless
    // the filter names rmcp itself.
    let directives = if config.log_level.contains("rmcp") {
        config.log_level.clone()
    } else {
        format!("{},rmcp=warn", config.log_level)
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&directives) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mcpmsg-server: error: --log-level: {e}");
            return ExitCode::from(2);
        }
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpmsg-server: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(config: mcpmsg_server::config::ServerConfig) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = %config.store, "mcpmsg-server listening on http://{addr}/mcp");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down: finishing calls in flight");
            shutdown.cancel();
        }
    });
    mcpmsg_server::server::run(listener, config, shutdown).await
}
