//! `sotto users ...` and `sotto keys ...`: account administration from the shell. They open
//! the same database as `serve` (SQLite in WAL mode), so they work while the server runs.
//! `sotto models ...` manages the models directory (`crate::pull`).

use std::io::{BufRead, IsTerminal};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::accounts::{Accounts, SessionPolicy};
use crate::config::{ConfigFile, DataArgs, KeysAction, UsersAction};
use crate::storage::Database;

fn open(data: &DataArgs) -> anyhow::Result<Accounts> {
    let database = Database::open(&data.data_dir()?)?;
    // Session lengths do not matter to these commands.
    let policy = SessionPolicy {
        idle: Duration::ZERO,
        absolute: Duration::ZERO,
    };
    Ok(Accounts::new(
        database,
        policy,
        crate::clock::Clock::default(),
    ))
}

pub async fn users(data: &DataArgs, action: UsersAction) -> anyhow::Result<()> {
    let accounts = open(data)?;
    match action {
        UsersAction::Add { email } => {
            let password = read_password()?;
            let user = accounts.create_user(&email, password).await?;
            println!("created user {} ({})", user.email, user.id);
        }
        UsersAction::List => {
            for user in accounts.users().await? {
                println!("{}\t{}\t{}", user.id, user.email, user.created_at);
            }
        }
        UsersAction::Delete { email } => {
            let user = accounts.user_by_email(&email).await?;
            accounts.delete_user(user.id).await?;
            println!("deleted user {} with their sessions and keys", user.email);
        }
        UsersAction::Passwd { email, revoke_keys } => {
            let user = accounts.user_by_email(&email).await?;
            let password = read_password()?;
            accounts.set_password(user.id, password).await?;
            println!(
                "password changed for {}; their sessions have ended",
                user.email
            );
            if revoke_keys {
                let keys = accounts.keys(user.id).await?;
                for key in &keys {
                    accounts.revoke_key(key.id, Some(user.id)).await?;
                }
                println!("revoked their {} API key(s)", keys.len());
            }
        }
    }
    Ok(())
}

pub async fn keys(data: &DataArgs, action: KeysAction) -> anyhow::Result<()> {
    let accounts = open(data)?;
    match action {
        KeysAction::Create { email, name } => {
            let user = accounts.user_by_email(&email).await?;
            let (info, key) = accounts.create_key(user.id, &name).await?;
            eprintln!(
                "key {} created for {}; it is shown only this once:",
                info.id, user.email
            );
            println!("{key}");
        }
        KeysAction::List { email } => {
            let user = accounts.user_by_email(&email).await?;
            for key in accounts.keys(user.id).await? {
                println!(
                    "{}\t{}\t{}…\t{}",
                    key.id, key.name, key.prefix, key.created_at
                );
            }
        }
        KeysAction::Revoke { id } => {
            accounts
                .revoke_key(id, None)
                .await
                .with_context(|| format!("revoking key {id}"))?;
            println!("revoked key {id}");
        }
    }
    Ok(())
}

/// `sotto models pull|list|rm`, in `serve`'s models directory unless told otherwise.
pub async fn models(config: &ConfigFile, action: crate::pull::ModelsAction) -> anyhow::Result<()> {
    let serve = config.load()?;
    let defaults = crate::pull::Defaults {
        models_dir: serve.models_dir,
        port: serve.port,
    };
    crate::pull::run(action, defaults).await
}

/// Where `sotto healthcheck` finds the server: `serve`'s port (unless `port` says), on the
/// address it listens on, or on loopback when it listens on every address.
pub fn health_address(config: &ConfigFile, port: Option<u16>) -> anyhow::Result<SocketAddr> {
    let serve = config.load()?;
    let host = match serve.host {
        IpAddr::V4(any) if any.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(any) if any.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        host => host,
    };
    Ok(SocketAddr::new(host, port.unwrap_or(serve.port)))
}

/// From the terminal (asked twice), or the first line of stdin when it is not a terminal.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Again: ")? != password {
            bail!("the passwords differ");
        }
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on stdin");
    }
    Ok(password)
}
