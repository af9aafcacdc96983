//! Payloads of the launcher plugin messages: PLUGIN_LIST, ROOM_PLUGINS,
//! PLUGIN_SEND and the PLUGIN_MESSAGE and ROOM_PLUGIN_IN_USE events.
//!
//! The lobby relays plugin data without reading it: `data` is any JSON
//! value of at most [`MAX_PLUGIN_DATA_BYTES`] once serialized.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest `data` of a PLUGIN_SEND, serialized as compact JSON.
pub const MAX_PLUGIN_DATA_BYTES: usize = 4096;

/// Most plugins one member may announce for a room.
pub const MAX_ROOM_PLUGINS: usize = 16;

/// PLUGIN_LIST: a page of the listed plugins, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginList {
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 50, at most 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A plugin as the lobby lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSummary {
    pub id: String,
    pub name: String,
    /// The developer's account name.
    pub author: String,
    /// The latest version.
    pub version: String,
    pub description: String,
    /// Every published version, oldest first.
    pub versions: Vec<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginListReply {
    pub plugins: Vec<PluginSummary>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// ROOM_PLUGINS: the plugin ids this member runs, for the room it is in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPlugins {
    pub plugins: Vec<String>,
}

/// PLUGIN_SEND: data for the room's members that run `plugin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginSend {
    pub plugin: String,
    pub data: Value,
}

/// PLUGIN_MESSAGE: `from`'s copy of `plugin` sent `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginMessage {
    pub plugin: String,
    pub from: String,
    pub data: Value,
}

/// ROOM_PLUGIN_IN_USE: members of your room use a plugin you do not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPluginInUse {
    pub plugin: String,
}
