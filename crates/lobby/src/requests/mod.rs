//! Request handlers, one module per concept, and the dispatch table.
//!
//! A handler takes the connection and its typed request and returns its
//! typed reply or a [`WireError`]; [`dispatch`] encodes the reply as the
//! `OK` data's JSON. A handler that streams its own reply (a download)
//! returns `Ok(None)`.

mod account;
mod chat;
pub mod distribution;
mod game_download;
mod game_start;
mod game_upload;
mod history;
mod my_games;
mod plugins;
mod reviews;
mod rooms;
mod store;

pub(crate) use game_start::start_for;

use gamestore_protocol::{ErrorCode, Request, WireError};
use serde::Serialize;

use crate::catalog::Listing;
use crate::connection::Conn;

/// Handles one request and returns the JSON of its `OK` data. `Ok(None)`
/// means the handler already replied.
pub(crate) async fn dispatch(
    conn: &mut Conn,
    id: u32,
    request: Request,
) -> Result<Option<Vec<u8>>, WireError> {
    match request {
        Request::Hello(_) => {
            Err(WireError::new(ErrorCode::BadRequest, "HELLO was already received"))
        }
        Request::Ping(_) => reply(gamestore_protocol::Empty {}),
        Request::Register(r) => {
            reply(account::register(conn, gamestore_storage::Role::Player, r.0).await?)
        }
        Request::DevRegister(r) => {
            reply(account::register(conn, gamestore_storage::Role::Developer, r.0).await?)
        }
        Request::Login(r) => {
            reply(account::login(conn, gamestore_storage::Role::Player, r.0).await?)
        }
        Request::DevLogin(r) => {
            reply(account::login(conn, gamestore_storage::Role::Developer, r.0).await?)
        }
        Request::Resume(r) => reply(account::resume(conn, r).await?),
        Request::Logout(_) => reply(account::logout(conn).await?),
        Request::Whoami(_) => reply(account::whoami(conn)?),
        Request::GameUpload(header) => {
            game_upload::game_upload(conn, id, header).await?;
            Ok(None)
        }
        Request::GameUploadDone(_) => {
            Err(WireError::new(ErrorCode::BadRequest, "no upload is in progress"))
        }
        Request::MyGames(r) => reply(my_games::my_games(conn, r).await?),
        Request::GameDelist(r) => reply(my_games::set_listed(conn, r.id, Listing::Delisted).await?),
        Request::GameRelist(r) => reply(my_games::set_listed(conn, r.id, Listing::Listed).await?),
        Request::StoreList(r) => store::store_list(conn, r).await.map(Some),
        Request::GameInfo(r) => reply(store::game_info(conn, r).await?),
        Request::GameFiles(r) => reply(game_download::game_files(conn, r).await?),
        Request::OnlineList(r) => reply(rooms::online(conn, r)?),
        Request::RoomList(r) => reply(rooms::list(conn, r)?),
        Request::RoomCreate(r) => reply(rooms::create(conn, &r.game).await?),
        Request::RoomJoin(r) => reply(rooms::join(conn, r.room).await?),
        Request::RoomLeave(_) => reply(rooms::leave(conn).await?),
        Request::QuickPlay(r) => reply(rooms::quick_play(conn, &r.game).await?),
        Request::ChatSend(r) => reply(chat::send(conn, r).await?),
        Request::GameStartNotify(_) => reply(game_start::start(conn).await?),
        Request::GameClientExited(r) => reply(game_start::client_exited(conn, r)?),
        Request::MatchHistory(r) => reply(history::history(conn, r).await?),
        Request::ReviewSubmit(r) => reply(reviews::submit(conn, r).await?),
        Request::ReviewList(r) => reply(reviews::list(conn, r).await?),
        Request::PluginList(r) => reply(plugins::list(conn, r).await?),
        Request::RoomPlugins(r) => reply(plugins::announce(conn, r).await?),
        Request::PluginSend(r) => reply(plugins::send(conn, r).await?),
        Request::DevKeyRegister(r) => reply(distribution::key_register(conn, r).await?),
        Request::DevKeyRotate(r) => reply(distribution::key_rotate(conn, r).await?),
        Request::PublishBegin(r) => distribution::publish_begin(conn, id, r).await,
        Request::ChunkPut(r) => distribution::chunk_put(conn, id, r).await,
        Request::PublishDone(r) => reply(distribution::publish_done(conn, r).await?),
        Request::ManifestGet(r) => {
            distribution::manifest_get(conn, id, r).await?;
            Ok(None)
        }
        Request::ChunkGet(r) => {
            distribution::chunk_get(conn, id, r).await?;
            Ok(None)
        }
        Request::GameDownload(r) => {
            game_download::game_download(conn, id, r).await?;
            Ok(None)
        }
    }
}

/// The reply's JSON, encoded straight from its type (no JSON tree between).
fn reply<T: Serialize>(body: T) -> Result<Option<Vec<u8>>, WireError> {
    serde_json::to_vec(&body)
        .map(Some)
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("reply did not serialize: {e}")))
}
