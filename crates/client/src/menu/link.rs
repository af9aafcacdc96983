//! The menu's lobby connection: one connection for the whole menu session,
//! logged in or not, re-established with the saved session's token when it
//! drops (a network cut, a lobby restart).
//!
//! The menu sees one stream of [`Notice`]s whatever connection is current:
//! the lobby's events, and the link's own news (lost, reconnected, gave up).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use gamestore_protocol::{
    AccountReply, DevLogin, DevRegister, ErrorCode, Event, Login, Logout, Register, Role, RoomInfo,
    RoomList,
};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::cli::{Context, is_code};
use crate::{LobbyClient, SavedSession};

/// How long the link tries to reconnect before it gives up.
pub const RECONNECT_FOR: Duration = Duration::from_secs(30);
/// First pause between reconnection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// What the link tells the menu.
// An event is moved once per notice, a few per second at most: boxing it
// would buy nothing but an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Notice {
    /// An event pushed by the lobby.
    Event(Event),
    /// The connection dropped; the link is reconnecting.
    Lost { reason: String },
    /// A new connection is up (and resumed the session, when `user` is set).
    Reconnected { user: Option<String> },
    /// The saved session is no longer valid: logged out.
    SessionEnded,
    /// Reconnecting failed for [`RECONNECT_FOR`]; the next action tries again.
    Offline { reason: String },
}

/// The menu's connection; cheap to clone.
#[derive(Clone)]
pub struct Link {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Context,
    state: Mutex<State>,
    notices: mpsc::UnboundedSender<Notice>,
    /// Wakes actions waiting for a reconnection to finish.
    settled: Notify,
}

#[derive(Default)]
struct State {
    client: Option<Arc<LobbyClient>>,
    session: Option<SavedSession>,
    /// Bumped for every connection, so that the loss of a replaced
    /// connection is not taken for the loss of the current one.
    generation: u64,
    reconnecting: bool,
    /// Why the menu dropped the current connection itself, if it did.
    dropped: Option<String>,
}

impl Link {
    /// Connects (resuming the saved session if there is one). A lobby that
    /// cannot be reached is not an error here: the first action retries.
    pub async fn open(ctx: Context) -> (Link, mpsc::UnboundedReceiver<Notice>, Option<String>) {
        let (notices, receiver) = mpsc::unbounded_channel();
        // Logged in as far as the menu is concerned, even if the lobby
        // cannot be reached yet: actions resume the session once it can.
        let saved = ctx.home.load_session(ctx.role).ok().flatten();
        let session = saved.filter(|s| s.server == ctx.global.server);
        let link = Link {
            inner: Arc::new(Inner {
                ctx,
                state: Mutex::new(State { session, ..State::default() }),
                notices,
                settled: Notify::new(),
            }),
        };
        let problem = link.connect_once().await.err().map(|e| super::one_line(&e));
        (link, receiver, problem)
    }

    pub fn context(&self) -> &Context {
        &self.inner.ctx
    }

    /// The session this connection is logged in with.
    pub fn session(&self) -> Option<SavedSession> {
        self.inner.state.lock().unwrap().session.clone()
    }

    /// The current connection; connects first when there is none.
    pub async fn client(&self) -> anyhow::Result<Arc<LobbyClient>> {
        loop {
            let settled = self.inner.settled.notified();
            {
                let state = self.inner.state.lock().unwrap();
                if let Some(client) = &state.client {
                    return Ok(client.clone());
                }
                if !state.reconnecting {
                    break;
                }
            }
            // A reconnection is under way: wait for its outcome.
            if tokio::time::timeout(RECONNECT_FOR + Duration::from_secs(5), settled).await.is_err()
            {
                bail!("not connected to the lobby");
            }
        }
        self.connect_once().await?;
        let state = self.inner.state.lock().unwrap();
        state.client.clone().ok_or_else(|| anyhow::anyhow!("not connected to the lobby"))
    }

    /// The current connection when logged in; an error naming the way to log in otherwise.
    pub async fn session_client(&self) -> anyhow::Result<(Arc<LobbyClient>, SavedSession)> {
        let client = self.client().await?;
        match self.session() {
            Some(session) => Ok((client, session)),
            None => {
                bail!("not logged in: log in from the account menu ({})", ErrorCode::NotLoggedIn)
            }
        }
    }

    /// The room this player has a seat in, if any: after a reconnection,
    /// whether the lobby kept the seat (a RESUME within its grace period
    /// takes it back before the lobby answers).
    pub async fn my_room(&self) -> anyhow::Result<Option<RoomInfo>> {
        let (client, session) = self.session_client().await?;
        let rooms = client.call_all(RoomList::default()).await?.rooms;
        Ok(rooms.into_iter().find(|room| {
            room.members.contains(&session.user) && !room.reconnecting.contains(&session.user)
        }))
    }

    /// Registers an account of the program's role.
    pub async fn register(&self, user: &str, password: String) -> anyhow::Result<AccountReply> {
        let client = self.client().await?;
        Ok(match self.inner.ctx.role {
            Role::Player => client.call(Register::new(user, password)).await?,
            Role::Developer => client.call(DevRegister::new(user, password)).await?,
        })
    }

    /// Logs this connection in and saves the session in the home folder.
    pub async fn login(&self, user: &str, password: String) -> anyhow::Result<SavedSession> {
        let ctx = &self.inner.ctx;
        let client = self.client().await?;
        let reply = match ctx.role {
            Role::Player => client.call(Login::new(user, password)).await,
            Role::Developer => client.call(DevLogin::new(user, password)).await,
        }
        .map_err(crate::cli::login_refused)?;
        let session = SavedSession {
            server: ctx.global.server.clone(),
            user: reply.user,
            role: reply.role,
            token: reply.token,
            expires_at: reply.expires_at,
        };
        ctx.home.save_session(&session)?;
        self.inner.state.lock().unwrap().session = Some(session.clone());
        Ok(session)
    }

    /// Ends the session everywhere and forgets it; the connection stays open.
    pub async fn logout(&self) -> anyhow::Result<String> {
        let ctx = &self.inner.ctx;
        let (client, session) = self.session_client().await?;
        match client.call(Logout {}).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(ErrorCode::NotLoggedIn) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.home.clear_session(ctx.role)?;
        self.inner.state.lock().unwrap().session = None;
        Ok(session.user)
    }

    /// Drops the current connection and makes a new one, as after a
    /// network cut: used when an action was stopped halfway, which may have
    /// left a transfer half sent.
    pub fn renew(&self, why: &str) {
        let mut state = self.inner.state.lock().unwrap();
        if state.client.take().is_some() {
            state.dropped = Some(why.to_owned());
        }
    }

    /// Drops the connection (the lobby logs the connection out; the saved
    /// session stays for the next start).
    pub fn close(&self) {
        let mut state = self.inner.state.lock().unwrap();
        state.generation += 1;
        state.client = None;
    }

    /// One attempt: a new connection, resumed into the saved session if any.
    async fn connect_once(&self) -> anyhow::Result<()> {
        let ctx = &self.inner.ctx;
        let saved = ctx.home.load_session(ctx.role)?.filter(|s| s.server == ctx.global.server);
        let (client, session) = match saved {
            Some(_) => match ctx.connect_session().await {
                Ok((client, session)) => (client, Some(session)),
                Err(e) if is_code(&e, ErrorCode::InvalidSession) => {
                    // connect_session forgot the dead session; go on logged out.
                    if self.inner.state.lock().unwrap().session.take().is_some() {
                        let _ = self.inner.notices.send(Notice::SessionEnded);
                    }
                    (ctx.connect().await?, None)
                }
                Err(e) => return Err(e),
            },
            None => {
                if self.inner.state.lock().unwrap().session.take().is_some() {
                    let _ = self.inner.notices.send(Notice::SessionEnded);
                }
                (ctx.connect().await?, None)
            }
        };
        self.install(client, session);
        Ok(())
    }

    /// Makes `client` the current connection and watches it.
    fn install(&self, client: LobbyClient, session: Option<SavedSession>) {
        let client = Arc::new(client);
        let events = client.events();
        let generation = {
            let mut state = self.inner.state.lock().unwrap();
            state.generation += 1;
            state.client = Some(client.clone());
            state.session = session;
            state.dropped = None;
            state.generation
        };
        let _keepalive = client.keepalive();
        let link = self.clone();
        let Some(mut events) = events else { return };
        tokio::spawn(async move {
            let mut last = None;
            while let Some(event) = events.recv().await {
                last = Some(event.clone());
                let _ = link.inner.notices.send(Notice::Event(event));
            }
            let dropped = link.inner.state.lock().unwrap().dropped.take();
            let reason = match (dropped, last) {
                (Some(why), _) => why,
                (None, Some(Event::ServerShutdown(s))) => s.message,
                (None, Some(Event::SessionRevoked(r))) => format!("session ended: {}", r.reason),
                (None, _) => "the connection closed".to_owned(),
            };
            link.lost(generation, reason).await;
        });
    }

    /// The connection of `generation` ended: reconnect with backoff.
    async fn lost(&self, generation: u64, reason: String) {
        {
            let mut state = self.inner.state.lock().unwrap();
            if state.generation != generation {
                return; // replaced or closed on purpose
            }
            state.client = None;
            state.reconnecting = true;
        }
        let _ = self.inner.notices.send(Notice::Lost { reason });
        let deadline = Instant::now() + RECONNECT_FOR;
        let mut pause = FIRST_BACKOFF;
        let outcome = loop {
            match self.connect_once().await {
                Ok(()) => break Ok(()),
                Err(e) if Instant::now() + pause >= deadline => break Err(super::one_line(&e)),
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        };
        self.inner.state.lock().unwrap().reconnecting = false;
        let notice = match outcome {
            Ok(()) => Notice::Reconnected { user: self.session().map(|s| s.user) },
            Err(reason) => Notice::Offline { reason },
        };
        let _ = self.inner.notices.send(notice);
        self.inner.settled.notify_waiters();
    }
}
