//! REGISTER, LOGIN, DEV_REGISTER, DEV_LOGIN, RESUME, LOGOUT and WHOAMI.
//!
//! One live session per account: LOGIN replaces the account's session and
//! closes every connection still using the old one (SESSION_REVOKED). Several
//! connections may share one session through RESUME (a launcher and the
//! one-shot commands of the same player).
//!
//! Every credential path is throttled (see [`crate::limits`]): failed
//! logins per account name and per source address, failed resumes per
//! source address, registrations per source address. A login that fails
//! answers `LOGIN_FAILED` whether the name exists or not, after checking a
//! password hash either way, so neither the code nor the time tells which.

use crate::WireResult;
use gamestore_protocol::{
    AccountReply, Credentials, Empty, ErrorCode, Resume, Role, SessionReply, SessionRevoked,
    WhoamiReply, WireError,
};
use gamestore_storage::{self as storage, StorageError};

use crate::connection::{Conn, SessionState};
use crate::limits::{self, rate_limited};
use crate::{auth, now};

/// Why a connection is closed when its account logs in again (on any node).
const LOGGED_IN_ELSEWHERE: &str = "logged in elsewhere";

pub(super) fn wire_role(role: storage::Role) -> Role {
    match role {
        storage::Role::Player => Role::Player,
        storage::Role::Developer => Role::Developer,
    }
}

pub(super) async fn register(
    conn: &mut Conn,
    role: storage::Role,
    credentials: Credentials,
) -> Result<AccountReply, WireError> {
    let Credentials { user, password } = credentials;
    auth::check_name(&user)?;
    auth::check_password(&password)?;
    let address = limits::address_key(conn.peer);
    let counted = match conn.lobby.limits.registrations.hit(&address) {
        Ok(hit) => hit,
        Err(wait) => {
            let refusal = rate_limited("too many accounts were registered from your address", wait);
            return Err(slowly(refusal).await);
        }
    };
    let hash = match conn.lobby.passwords.hash(password).await {
        Ok(hash) => hash,
        Err(e) => {
            conn.lobby.limits.registrations.forgive(counted);
            return Err(e);
        }
    };
    let name = user.clone();
    let created = match conn.lobby.db.create_account(role, &name, &hash, now()).await {
        Err(StorageError::Conflict(_)) => None,
        other => Some(other.wire()?),
    };
    let Some(account) = created else {
        return Err(WireError::new(
            ErrorCode::NameTaken,
            format!("the {} name {user:?} is already taken", wire_role(role)),
        ));
    };
    tracing::info!(user = %account.name, role = %wire_role(role), "account created");
    Ok(AccountReply { user: account.name, role: wire_role(role) })
}

pub(super) async fn login(
    conn: &mut Conn,
    role: storage::Role,
    credentials: Credentials,
) -> Result<SessionReply, WireError> {
    let Credentials { user, password } = credentials;
    let limiters = &conn.lobby.limits;
    let address = limits::address_key(conn.peer);
    // The address counts failures only (many people may share it); the
    // account name counts every attempt from its start, so that however
    // many arrive at once, at most its budget is checked.
    if let Err(wait) = limiters.login_by_address.check(&address) {
        return Err(slowly(rate_limited("too many failed logins from your address", wait)).await);
    }
    let by_account = match limiters.login_by_account.attempt(&limits::account_key(role, &user)) {
        Ok(hit) => hit,
        Err(wait) => {
            return Err(slowly(rate_limited("too many failed logins for this account", wait)).await);
        }
    };
    let name = user.clone();
    let checked = async {
        let account = conn.lobby.db.find_account(role, &name).await.wire()?;
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let matches = conn.lobby.passwords.verify(password, stored).await?;
        Ok::<_, WireError>((account, matches))
    };
    let (account, matches) = match checked.await {
        Ok(checked) => checked,
        Err(e) => {
            // Nothing was checked (busy, or a failure inside): no guess used.
            limiters.login_by_account.forgive(by_account);
            return Err(e);
        }
    };
    let (Some(account), true) = (account, matches) else {
        tracing::debug!(conn = conn.id, peer = %conn.peer, "login failed");
        limiters.login_by_address.fail(&address);
        return Err(login_failed(role));
    };
    limiters.login_by_account.forgive(by_account);
    crate::admin::refuse_if_banned(&conn.lobby, account.id).await?;

    let token = auth::new_token()?;
    let token_hash = auth::token_hash(&token);
    let now = now();
    let expires_at = now + conn.lobby.config.timeouts.session_ttl.as_secs() as i64;
    let (account_id, hash) = (account.id, token_hash.clone());
    conn.lobby.db.replace_session(account_id, &hash, now, expires_at).await.wire()?;

    leave_session(conn);
    let revoked = conn.lobby.hub.revoke(
        account.id,
        None,
        SessionRevoked { reason: LOGGED_IN_ELSEWHERE.into() }.into(),
    );
    conn.lobby.bus.session_changed(account.id, LOGGED_IN_ELSEWHERE);
    tracing::info!(user = %account.name, role = %wire_role(role), revoked, "logged in");
    let reply =
        SessionReply { user: account.name.clone(), role: wire_role(role), token, expires_at };
    join_session(conn, SessionState { account, token_hash });
    Ok(reply)
}

pub(super) async fn resume(conn: &mut Conn, request: Resume) -> Result<SessionReply, WireError> {
    let throttle = &conn.lobby.limits.login_by_address;
    let address = limits::address_key(conn.peer);
    if let Err(wait) = throttle.check(&address) {
        return Err(slowly(rate_limited("too many failed logins from your address", wait)).await);
    }
    let token_hash = auth::token_hash(&request.token);
    let now = now();
    let expires_at = now + conn.lobby.config.timeouts.session_ttl.as_secs() as i64;
    let hash = token_hash.clone();
    let record = conn.lobby.db.touch_session(&hash, now, expires_at).await.wire()?;
    let Some(record) = record else {
        throttle.fail(&address);
        return Err(WireError::new(
            ErrorCode::InvalidSession,
            "the session has ended (expired, logged out, or logged in elsewhere); log in again",
        ));
    };
    leave_session(conn);
    let reply = SessionReply {
        user: record.account.name.clone(),
        role: wire_role(record.account.role),
        token: request.token,
        expires_at: record.expires_at,
    };
    join_session(conn, SessionState { account: record.account, token_hash });
    // Back within the grace period: the kept room seat moves to this
    // connection (its events are queued before this reply).
    if let Ok(member) = super::rooms::member(conn)
        && conn.lobby.rooms.resume(member.clone()).is_none()
    {
        // A seat kept in another node's room moves here.
        super::rooms::resume_remote(conn, member).await;
    }
    Ok(reply)
}

pub(super) async fn logout(conn: &mut Conn) -> Result<Empty, WireError> {
    let session = conn.session.clone().ok_or_else(not_logged_in)?;
    let hash = session.token_hash.clone();
    conn.lobby.db.delete_session(&hash).await.wire()?;
    leave_session(conn);
    // Logging out gives up a seat kept for another (dropped) connection too.
    let _ = conn.lobby.rooms.leave(session.account.id);
    conn.lobby.xrooms.account_left(&conn.lobby, session.account.id);
    conn.lobby.hub.revoke(
        session.account.id,
        None,
        SessionRevoked { reason: "logged out".into() }.into(),
    );
    conn.lobby.bus.session_changed(session.account.id, "logged out");
    tracing::info!(user = %session.account.name, "logged out");
    Ok(Empty {})
}

pub(super) fn whoami(conn: &Conn) -> Result<WhoamiReply, WireError> {
    let account = conn.account()?;
    Ok(WhoamiReply {
        user: account.name.clone(),
        role: wire_role(account.role),
        created_at: account.created_at,
    })
}

/// How long a refused credential attempt waits for its answer. A client
/// gets one answer at a time per connection, so this slows a flood to a
/// trickle per connection instead of letting it spin the lobby's CPU on
/// refusals.
const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

async fn slowly(refusal: WireError) -> WireError {
    tokio::time::sleep(REFUSAL_DELAY).await;
    refusal
}

/// The one answer to a refused login, whatever was wrong.
fn login_failed(role: storage::Role) -> WireError {
    WireError::new(ErrorCode::LoginFailed, format!("wrong {} name or password", wire_role(role)))
}

fn not_logged_in() -> WireError {
    WireError::new(ErrorCode::NotLoggedIn, "log in first")
}

/// Detaches the connection from its current session, if any.
fn leave_session(conn: &mut Conn) {
    if let Some(old) = conn.session.take() {
        conn.lobby.hub.detach(old.account.id, conn.id);
        conn.lobby.rooms.disconnected(conn.id);
        conn.lobby.xrooms.conn_left(&conn.lobby, conn.id);
    }
}

fn join_session(conn: &mut Conn, session: SessionState) {
    conn.lobby.hub.attach(&session.account, conn.id, conn.outbox.clone(), &session.token_hash);
    conn.session = Some(session);
}
