//! PLUGIN_LIST, ROOM_PLUGINS and PLUGIN_SEND: launcher plugins.
//!
//! Plugins are published like games (GAME_UPLOAD, kind `plugin`) and
//! downloaded like games (GAME_INFO, GAME_FILES, GAME_DOWNLOAD), but listed
//! here rather than in the store. In a room, members announce the plugins
//! they run and the lobby relays each plugin's messages, which it never
//! reads, to the members that run it.

use gamestore_package::is_valid_game_id;
use gamestore_protocol::{
    Empty, ErrorCode, MAX_PLUGIN_DATA_BYTES, MAX_ROOM_PLUGINS, PluginList, PluginListReply,
    PluginMessage, PluginSend, PluginSummary, RoomPlugins, WireError,
};
use gamestore_storage::Role;

use crate::WireResult;
use crate::connection::Conn;
use crate::limits::{CHAT_WINDOW, PLUGIN_BURST};
use crate::paging::{cursor_key, page_limit, take_page};

/// A page of the listed plugins, by id.
pub async fn list(conn: &Conn, request: PluginList) -> Result<PluginListReply, WireError> {
    conn.account()?;
    let after: Option<String> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, 50, 200);
    let mut plugins: Vec<PluginSummary> = conn
        .lobby
        .db
        .listed_games()
        .await
        .wire()?
        .into_iter()
        .filter(crate::catalog::is_plugin)
        .filter(|g| after.as_ref().is_none_or(|a| &g.id > a))
        .map(|g| PluginSummary {
            id: g.id,
            name: g.name,
            author: g.owner,
            version: g.latest_version,
            description: g.description,
            versions: g.versions,
            updated_at: g.updated_at,
        })
        .collect();
    plugins.sort_by(|a, b| a.id.cmp(&b.id));
    let (plugins, next_cursor) = take_page(plugins, limit, |p| p.id.clone());
    Ok(PluginListReply { plugins, next_cursor })
}

/// Records the plugins this member runs, for the room it is in.
pub async fn announce(conn: &Conn, request: RoomPlugins) -> Result<Empty, WireError> {
    let account = conn.require(Role::Player)?.id;
    if request.plugins.len() > MAX_ROOM_PLUGINS {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            format!("at most {MAX_ROOM_PLUGINS} plugins per member"),
        ));
    }
    if let Some(bad) = request.plugins.iter().find(|id| !is_valid_game_id(id)) {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            format!("{:?} is not a plugin id", bad.chars().take(40).collect::<String>()),
        ));
    }
    let mut plugins = request.plugins;
    plugins.sort();
    plugins.dedup();
    let op = crate::remote_rooms::RoomOp::Plugins { plugins: plugins.clone() };
    match conn.lobby.xrooms.forward(&conn.lobby, conn.id, account, op).await {
        Some(result) => {
            result?;
        }
        None => conn.lobby.rooms.announce_plugins(account, plugins)?,
    }
    Ok(Empty {})
}

/// Relays a plugin message to the room's members that run the plugin.
pub async fn send(conn: &Conn, request: PluginSend) -> Result<Empty, WireError> {
    let account = conn.require(Role::Player)?.clone();
    let size = serde_json::to_vec(&request.data).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_PLUGIN_DATA_BYTES {
        return Err(WireError::new(
            ErrorCode::InvalidMessage,
            format!("plugin data is at most {MAX_PLUGIN_DATA_BYTES} bytes of JSON, found {size}"),
        ));
    }
    let _counted = conn.lobby.limits.plugin.hit(&account.id).map_err(|wait| {
        crate::limits::rate_limited(
            &format!(
                "at most {PLUGIN_BURST} plugin messages per {} seconds",
                CHAT_WINDOW.as_secs()
            ),
            wait,
        )
    })?;
    let message = PluginMessage { plugin: request.plugin, from: account.name, data: request.data };
    let op = crate::remote_rooms::RoomOp::PluginSend { message: message.clone() };
    match conn.lobby.xrooms.forward(&conn.lobby, conn.id, account.id, op).await {
        Some(result) => {
            result?;
        }
        None => conn.lobby.rooms.plugin_message(account.id, message)?,
    }
    Ok(Empty {})
}
