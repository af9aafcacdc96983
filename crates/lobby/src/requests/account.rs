//! REGISTER, LOGIN, DEV_REGISTER, DEV_LOGIN, RESUME, LOGOUT and WHOAMI.
//!
//! One live session per account: LOGIN replaces the account's session and
//! closes every connection still using the old one (SESSION_REVOKED). Several
//! connections may share one session through RESUME (a launcher and the
//! one-shot commands of the same player).

use gamestore_protocol::{
    AccountReply, Credentials, Empty, ErrorCode, Resume, Role, SessionReply, SessionRevoked,
    WhoamiReply, WireError,
};
use gamestore_storage::{self as storage, StorageError};

use crate::connection::{Conn, SessionState};
use crate::{auth, now};

pub fn wire_role(role: storage::Role) -> Role {
    match role {
        storage::Role::Player => Role::Player,
        storage::Role::Developer => Role::Developer,
    }
}

pub async fn register(
    conn: &mut Conn,
    role: storage::Role,
    credentials: Credentials,
) -> Result<AccountReply, WireError> {
    let Credentials { user, password } = credentials;
    auth::check_name(&user)?;
    auth::check_password(&password)?;
    let cost = conn.lobby.config.password_hashing.clone();
    let hash = conn.lobby.password_work(move || auth::hash_password(&password, &cost)).await??;
    let name = user.clone();
    let created = conn
        .lobby
        .db(move |db| match db.create_account(role, &name, &hash, now()) {
            Err(StorageError::Conflict(_)) => Ok(None),
            other => other.map(Some),
        })
        .await?;
    let Some(account) = created else {
        return Err(WireError::new(
            ErrorCode::NameTaken,
            format!("the {} name {user:?} is already taken", wire_role(role)),
        ));
    };
    tracing::info!(user = %account.name, role = %wire_role(role), "account created");
    Ok(AccountReply { user: account.name, role: wire_role(role) })
}

pub async fn login(
    conn: &mut Conn,
    role: storage::Role,
    credentials: Credentials,
) -> Result<SessionReply, WireError> {
    let Credentials { user, password } = credentials;
    let name = user.clone();
    let account = conn.lobby.db(move |db| db.find_account(role, &name)).await?;
    let Some(account) = account else {
        return Err(WireError::new(
            ErrorCode::UnknownUser,
            format!("no {} account is named {user:?}", wire_role(role)),
        ));
    };
    let stored = account.password_hash.clone();
    let matches =
        conn.lobby.password_work(move || auth::verify_password(&password, &stored)).await?;
    if !matches {
        return Err(WireError::new(ErrorCode::WrongPassword, "wrong password"));
    }
    crate::admin::refuse_if_banned(&conn.lobby, account.id)?;

    let token = auth::new_token()?;
    let token_hash = auth::token_hash(&token);
    let now = now();
    let expires_at = now + conn.lobby.config.timeouts.session_ttl.as_secs() as i64;
    let (account_id, hash) = (account.id, token_hash.clone());
    conn.lobby.db(move |db| db.replace_session(account_id, &hash, now, expires_at)).await?;

    leave_session(conn);
    let revoked = conn.lobby.hub.revoke(
        account.id,
        None,
        SessionRevoked { reason: "logged in elsewhere".into() }.into(),
    );
    tracing::info!(user = %account.name, role = %wire_role(role), revoked, "logged in");
    let reply =
        SessionReply { user: account.name.clone(), role: wire_role(role), token, expires_at };
    join_session(conn, SessionState { account, token_hash });
    Ok(reply)
}

pub async fn resume(conn: &mut Conn, request: Resume) -> Result<SessionReply, WireError> {
    let token_hash = auth::token_hash(&request.token);
    let now = now();
    let expires_at = now + conn.lobby.config.timeouts.session_ttl.as_secs() as i64;
    let hash = token_hash.clone();
    let record = conn.lobby.db(move |db| db.touch_session(&hash, now, expires_at)).await?;
    let Some(record) = record else {
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
    Ok(reply)
}

pub async fn logout(conn: &mut Conn) -> Result<Empty, WireError> {
    let session = conn.session.clone().ok_or_else(not_logged_in)?;
    let hash = session.token_hash.clone();
    conn.lobby.db(move |db| db.delete_session(&hash)).await?;
    leave_session(conn);
    conn.lobby.hub.revoke(
        session.account.id,
        None,
        SessionRevoked { reason: "logged out".into() }.into(),
    );
    tracing::info!(user = %session.account.name, "logged out");
    Ok(Empty {})
}

pub fn whoami(conn: &Conn) -> Result<WhoamiReply, WireError> {
    let account = conn.account()?;
    Ok(WhoamiReply {
        user: account.name.clone(),
        role: wire_role(account.role),
        created_at: account.created_at,
    })
}

fn not_logged_in() -> WireError {
    WireError::new(ErrorCode::NotLoggedIn, "log in first")
}

/// Detaches the connection from its current session, if any.
fn leave_session(conn: &mut Conn) {
    if let Some(old) = conn.session.take() {
        conn.lobby.hub.detach(old.account.id, conn.id);
        conn.lobby.rooms.disconnected(conn.id);
    }
}

fn join_session(conn: &mut Conn, session: SessionState) {
    conn.lobby.hub.attach(&session.account, conn.id, conn.outbox.clone());
    conn.session = Some(session);
}
