#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use sotto::config::Command;

fn main() -> ExitCode {
    let cli = sotto::config::parse();
    match cli.command {
        Command::Serve(args) => {
            sotto::telemetry::init();
            let served = args
                .load()
                .map_err(anyhow::Error::from)
                .and_then(|loaded| serve(loaded.config));
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(args) => match args.load() {
            Ok(loaded) => {
                print!("{}", loaded.render());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Users { data, action } => admin(sotto::cli::users(&data, action)),
        Command::Keys { data, action } => admin(sotto::cli::keys(&data, action)),
        Command::Models { config, action } => admin(sotto::cli::models(&config, action)),
        Command::Healthcheck { config, port } => match sotto::cli::health_address(&config, port) {
            Ok(address) => healthcheck(address),
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

#[tokio::main]
async fn serve(config: sotto::config::ServeConfig) -> anyhow::Result<()> {
    let address = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Docker, systemd and Kubernetes stop a process with SIGTERM; a terminal with Ctrl-C.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    };
    sotto::serve(config, listener, shutdown).await
}

/// Runs an administration command; errors go to stderr as one line.
fn admin(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A dependency-free probe for Docker's HEALTHCHECK.
fn healthcheck(address: SocketAddr) -> ExitCode {
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.ends_with(b"200"))
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
