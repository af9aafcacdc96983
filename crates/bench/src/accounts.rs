//! Accounts the bench makes: unique names per run, so that a run against a
//! long-lived lobby (`--server`) never collides with an earlier one.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use gamestore_client::LobbyClient;
use gamestore_protocol::{DevLogin, DevRegister, Login, Register};

/// Every bench account's password.
pub const PASSWORD: &str = "bench-password";
/// How the bench introduces itself in HELLO.
pub const CLIENT_NAME: &str = concat!("gamestore-bench/", env!("CARGO_PKG_VERSION"));

/// A short lowercase tag unique to this run: account names and game ids
/// start with it.
pub fn run_tag() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut n = (now as u64) ^ ((std::process::id() as u64) << 40);
    let mut tag = String::from("b");
    for _ in 0..7 {
        let digit = (n % 36) as u32;
        tag.push(char::from_digit(digit, 36).expect("base-36 digit"));
        n /= 36;
    }
    tag
}

/// Connects and says HELLO.
pub async fn connect(addr: &str) -> anyhow::Result<LobbyClient> {
    LobbyClient::connect(addr, CLIENT_NAME).await.with_context(|| format!("connect to {addr}"))
}

/// A new player account, logged in on a new connection.
pub async fn new_player(addr: &str, name: &str) -> anyhow::Result<LobbyClient> {
    let client = connect(addr).await?;
    client.call(Register::new(name, PASSWORD)).await.with_context(|| format!("register {name}"))?;
    client.call(Login::new(name, PASSWORD)).await.with_context(|| format!("log in {name}"))?;
    Ok(client)
}

/// A new developer account, logged in on a new connection.
pub async fn new_developer(addr: &str, name: &str) -> anyhow::Result<LobbyClient> {
    let client = connect(addr).await?;
    client
        .call(DevRegister::new(name, PASSWORD))
        .await
        .with_context(|| format!("register developer {name}"))?;
    client
        .call(DevLogin::new(name, PASSWORD))
        .await
        .with_context(|| format!("log in developer {name}"))?;
    Ok(client)
}

/// Logs in `count` new players named `<prefix><i>`, `parallel` at a time.
pub async fn new_players(
    addr: &str,
    prefix: &str,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Vec<LobbyClient>> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (addr, name, gate) = (addr.to_owned(), format!("{prefix}{i}"), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (i, new_player(&addr, &name).await)
        });
    }
    let mut clients: Vec<Option<LobbyClient>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, client) = joined?;
        clients[i] = Some(client?);
    }
    Ok(clients.into_iter().map(|c| c.expect("every task reported")).collect())
}
