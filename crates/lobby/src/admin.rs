//! What the lobby's admins may do, independent of the web pages that call
//! it: create admin accounts (from the command line), sign in, ban and unban
//! accounts (a ban ends the account's sessions at once), delist any game,
//! stop a running match. Every action writes an audit row.

use crate::WireResult;
use std::sync::Arc;

use gamestore_protocol::{ErrorCode, SessionRevoked, WireError};
use gamestore_storage::{AccountId, AdminSession, Storage, StorageError};

use crate::catalog::Listing;
use crate::{Lobby, LobbyConfig, auth, now};

/// How long an admin stays signed in without signing in again.
pub const ADMIN_SESSION_SECS: i64 = 12 * 3600;

/// Longest ban or stop reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// Creates an admin account in the data dir of `config` (the `admin add`
/// command). Runs without a lobby running.
pub async fn add_admin(config: &LobbyConfig, name: &str, password: &str) -> anyhow::Result<()> {
    auth::check_name(name).map_err(|e| anyhow::anyhow!(e.message))?;
    auth::check_password(password).map_err(|e| anyhow::anyhow!(e.message))?;
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Storage::open(&config.database_url()).await?;
    let hash =
        auth::hash_password(password, &config.password_hashing, &mut auth::HashMemory::default())
            .map_err(|e| anyhow::anyhow!(e.message))?;
    match db.create_admin(name, &hash, now()).await {
        Ok(_) => {}
        Err(StorageError::Conflict(_)) => anyhow::bail!("an admin named {name:?} already exists"),
        Err(e) => return Err(e.into()),
    }
    db.audit("(command line)", "admin_add", &format!("admin:{name}"), "", now()).await?;
    Ok(())
}

/// ACCOUNT_BANNED when the account is banned.
pub async fn refuse_if_banned(lobby: &Lobby, account: AccountId) -> Result<(), WireError> {
    match lobby.db.ban_of(account).await.wire()? {
        Some(ban) => Err(WireError::new(
            ErrorCode::AccountBanned,
            format!("this account is banned by the lobby's admin: {}", ban.reason),
        )),
        None => Ok(()),
    }
}

/// A new admin web session: its cookie token, for a correct name and password.
pub async fn sign_in(lobby: &Arc<Lobby>, name: &str, password: &str) -> Option<String> {
    let found = {
        let name = name.to_owned();
        lobby.db.find_admin(&name).await.wire().ok()?
    };
    let password = password.to_owned();
    // The pool checks an unknown name against a dummy hash of the same cost,
    // so timing does not tell which admin names exist.
    let admin_id = found.as_ref().map(|admin| admin.id);
    let stored = found.map(|admin| admin.password_hash);
    let ok = lobby.passwords.verify(password, stored).await.ok()?;
    let admin_id = admin_id.filter(|_| ok)?;
    let token = auth::new_token().ok()?;
    let csrf = auth::new_token().ok()?;
    let hash = auth::token_hash(&token);
    let now = now();
    let expires = now + ADMIN_SESSION_SECS;
    lobby.db.create_admin_session(&hash, admin_id, &csrf, now, expires).await.wire().ok()?;
    let admin = name.to_owned();
    let _ = lobby.db.audit(&admin, "sign_in", "admin pages", "", now).await.wire();
    Some(token)
}

/// The admin session for a cookie token, if live.
pub async fn session(lobby: &Lobby, token: &str) -> Option<AdminSession> {
    let hash = auth::token_hash(token);
    lobby.db.admin_session(&hash, now()).await.wire().ok().flatten()
}

pub async fn sign_out(lobby: &Lobby, token: &str) {
    let hash = auth::token_hash(token);
    let _ = lobby.db.delete_admin_session(&hash).await.wire();
}

/// Bans an account: recorded with the reason, its sessions deleted, and
/// every live connection of it closed with SESSION_REVOKED.
pub async fn ban(
    lobby: &Lobby,
    admin: &str,
    account: AccountId,
    reason: &str,
) -> Result<usize, WireError> {
    let reason = clean_reason(reason)?;
    let (by, why) = (admin.to_owned(), reason.clone());
    lobby.db.ban_account(account, &why, &by, now()).await.wire()?;
    let why = format!("banned by the lobby's admin: {reason}");
    let closed = lobby.hub.revoke(account, None, SessionRevoked { reason: why.clone() }.into());
    lobby.bus.session_changed(account, &why);
    tracing::warn!(admin, account, closed, %reason, "account banned");
    Ok(closed)
}

pub async fn unban(
    lobby: &Lobby,
    admin: &str,
    account: AccountId,
    reason: &str,
) -> Result<bool, WireError> {
    let reason = reason.trim().chars().take(MAX_REASON_CHARS).collect::<String>();
    let by = admin.to_owned();
    lobby.db.unban_account(account, &reason, &by, now()).await.wire()
}

/// Delists or relists any game.
pub async fn set_listed(
    lobby: &Lobby,
    admin: &str,
    game: &str,
    listing: Listing,
) -> Result<(), WireError> {
    let (game, by) = (game.to_owned(), admin.to_owned());
    lobby.db.set_listed(&game, listing.is_listed(), now()).await.wire()?;
    let action = match listing {
        Listing::Listed => "relist",
        Listing::Delisted => "delist",
    };
    lobby.db.audit(&by, action, &format!("game:{game}"), "", now()).await.wire()
}

/// Stops a running match; false when it is not running.
pub async fn stop_match(
    lobby: &Lobby,
    admin: &str,
    match_id: i64,
    reason: &str,
) -> Result<bool, WireError> {
    let reason = clean_reason(reason)?;
    if !lobby.running.stop(match_id, &reason) {
        return Ok(false);
    }
    let by = admin.to_owned();
    lobby.db.audit(&by, "stop_match", &format!("match:{match_id}"), &reason, now()).await.wire()?;
    Ok(true)
}

/// A reason must say something, on one line, within the bound.
fn clean_reason(reason: &str) -> Result<String, WireError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WireError::new(ErrorCode::BadRequest, "give a reason"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            format!("the reason is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
}

/// The last `max` bytes of a match's game server log, as text.
pub fn server_log_tail(config: &LobbyConfig, match_id: i64, max: usize) -> String {
    let path = config.data_dir.join("matches").join(match_id.to_string()).join("server.log");
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max as u64);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::with_capacity(max);
    let _ = file.take(max as u64).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
