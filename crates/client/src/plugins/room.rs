//! The player's plugins in one room, for every front end that shows a room
//! (the menu's room screen and the `play`/`join` subcommands).
//!
//! [`RoomPlugins`] starts the installed plugins when the player is in a
//! room, tells the lobby which ones run (ROOM_PLUGINS), feeds them the
//! room's events and the relayed plugin messages, relays what they send,
//! and turns everything the player should see into [`PluginNote`]s; the
//! front end only prints them. A plugin that stops is announced gone at
//! once, so the room's other members stop sending to it.

use std::path::PathBuf;

use gamestore_package::PluginEvent;
use gamestore_protocol::{Event, PluginSend, RoomInfo, RoomPlugins as Announce};
use serde::Serialize;
use serde_json::json;

use super::host::{Output, PluginSet, Stop, by_prefix, stopped_line};
use crate::launcher::{LaunchOptions, SandboxMode, plugin_data_dir};
use crate::library::Library;
use crate::menu::{Link, one_line};

/// Something about the player's plugins to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PluginNote {
    /// A line for a plugin's panel.
    Line { plugin: String, prefix: String, text: String },
    /// A plugin was stopped, and why.
    Stopped { plugin: String, why: String },
    /// Others in the room use a plugin this player does not run.
    InUse { plugin: String },
    /// Anything else: how to use a panel, a plugin that could not start,
    /// a message that could not be sent.
    Note { text: String },
}

impl PluginNote {
    fn note(text: impl Into<String>) -> PluginNote {
        PluginNote::Note { text: text.into() }
    }

    /// The note as one line of text. `install_hint` says how this front
    /// end installs a plugin (for [`PluginNote::InUse`]).
    pub fn text(&self, install_hint: &str) -> String {
        match self {
            PluginNote::Line { prefix, text, .. } => format!("[{prefix}] {text}"),
            PluginNote::Stopped { plugin, why } => stopped_line(plugin, why),
            PluginNote::InUse { plugin } => {
                format!("others in this room use the plugin {plugin}; {install_hint}")
            }
            PluginNote::Note { text } => text.clone(),
        }
    }

    /// The event name of `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginNote::Line { .. } => "plugin_line",
            PluginNote::Stopped { .. } => "plugin_stopped",
            PluginNote::InUse { .. } => "plugin_in_use",
            PluginNote::Note { .. } => "plugin_note",
        }
    }
}

/// The player's running plugins while in one room.
#[derive(Debug)]
pub struct RoomPlugins {
    set: PluginSet,
    room: RoomInfo,
}

impl RoomPlugins {
    /// No plugins at all (`--no-plugins`).
    pub fn none(room: &RoomInfo) -> RoomPlugins {
        let launch = LaunchOptions { sandbox: SandboxMode::default(), data_dir: PathBuf::new() };
        let (set, _) = PluginSet::start(Vec::new(), "", &launch, |_| PathBuf::new());
        RoomPlugins { set, room: room.clone() }
    }

    /// Starts `me`'s installed plugins in `room`, announces them to the
    /// lobby and sends them `room_joined`.
    pub async fn start(
        link: &Link,
        me: &str,
        room: &RoomInfo,
        sandbox: SandboxMode,
    ) -> (RoomPlugins, Vec<PluginNote>) {
        let home = link.context().home.root().to_owned();
        let (installed, bad) = super::installed(&Library::plugins(&home, me));
        let mut notes: Vec<PluginNote> = bad.into_iter().map(PluginNote::note).collect();
        let launch = LaunchOptions { sandbox, data_dir: home.clone() };
        let (set, failed) =
            PluginSet::start(installed, me, &launch, |id| plugin_data_dir(&home, me, id));
        notes.extend(failed.into_iter().map(PluginNote::note));
        let mut plugins = RoomPlugins { set, room: room.clone() };
        if plugins.set.is_empty() {
            return (plugins, notes);
        }
        for (prefix, title) in plugins.set.panels() {
            notes.push(PluginNote::note(format!(
                "[{prefix}] {title}: type /p <text> to use it (/p {prefix} <text> when several run)"
            )));
        }
        notes.extend(plugins.announce(link).await);
        let joined = json!({"room": room.id, "game": room.game, "members": room.members});
        let stops = plugins.set.event(PluginEvent::RoomJoined, joined);
        notes.extend(plugins.stopped(link, stops).await);
        (plugins, notes)
    }

    /// Whether no plugin runs (any more).
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next thing a running plugin asked for; never ready when none runs.
    pub async fn next(&mut self) -> (String, Output) {
        if self.set.is_empty() {
            return std::future::pending().await;
        }
        self.set.next().await
    }

    /// Carries out what plugin `id` asked for.
    pub async fn output(&mut self, link: &Link, id: &str, output: Output) -> Vec<PluginNote> {
        let prefix = self.set.prefix(id).unwrap_or(id).to_owned();
        match output {
            Output::Show(text) => vec![PluginNote::Line { plugin: id.to_owned(), prefix, text }],
            Output::Send(data) => {
                let sent = async {
                    let client = link.client().await?;
                    client.call(PluginSend { plugin: id.to_owned(), data }).await?;
                    anyhow::Ok(())
                };
                match sent.await {
                    Ok(()) => Vec::new(),
                    Err(e) => {
                        vec![PluginNote::note(format!("[{prefix}] not sent: {}", one_line(&e)))]
                    }
                }
            }
            Output::Stopped(why) => {
                // Gone for the room before anyone hears it stopped.
                let mut notes = self.announce(link).await;
                notes.insert(0, PluginNote::Stopped { plugin: id.to_owned(), why });
                notes
            }
        }
    }

    /// Passes on what the room tells this player: relayed plugin messages,
    /// room events and member changes, the hint that others use a plugin.
    pub async fn event(&mut self, link: &Link, event: &Event) -> Vec<PluginNote> {
        let stops = match event {
            Event::PluginMessage(message) => {
                self.set.message(&message.plugin, &message.from, &message.data)
            }
            Event::RoomPluginInUse(hint) => {
                return vec![PluginNote::InUse { plugin: hint.plugin.clone() }];
            }
            Event::RoomUpdate(update) if update.room.id == self.room.id => {
                let members_changed = update.room.members != self.room.members;
                self.room = update.room.clone();
                let mut stops = self.set.event(
                    PluginEvent::RoomEvent,
                    json!({"event": update.event, "player": update.player}),
                );
                if members_changed {
                    stops.extend(self.members());
                }
                stops
            }
            _ => return Vec::new(),
        };
        self.stopped(link, stops).await
    }

    /// After a match: the room as it is now, and its members for the plugins.
    pub async fn back_in(&mut self, link: &Link, room: &RoomInfo) -> Vec<PluginNote> {
        self.room = room.clone();
        let stops = self.members();
        self.stopped(link, stops).await
    }

    fn members(&mut self) -> Vec<Stop> {
        self.set.event(PluginEvent::Members, json!({"members": self.room.members}))
    }

    /// Reports plugins stopped for not taking their input, and tells the
    /// room they are gone.
    async fn stopped(&self, link: &Link, stops: Vec<Stop>) -> Vec<PluginNote> {
        if stops.is_empty() {
            return Vec::new();
        }
        let mut notes: Vec<PluginNote> = stops
            .into_iter()
            .map(|Stop { plugin, why }| PluginNote::Stopped { plugin, why })
            .collect();
        notes.extend(self.announce(link).await);
        notes
    }

    /// What the player typed after `/p`: `text`, or `PREFIX text` for one
    /// of several plugins.
    pub async fn input(&mut self, link: &Link, text: &str) -> Vec<PluginNote> {
        let text = text.trim();
        let prefixes = by_prefix(&self.set);
        let (target, text) = match text.split_once(' ') {
            Some((first, rest)) if prefixes.contains_key(first) => {
                (prefixes.get(first).cloned(), rest.trim())
            }
            _ => (None, text),
        };
        if text.is_empty() {
            return vec![PluginNote::note("type /p <text> to send text to your plugin")];
        }
        match self.set.input(target.as_deref(), text) {
            Ok(stops) => self.stopped(link, stops).await,
            Err(message) => vec![PluginNote::note(message)],
        }
    }

    /// Tells the lobby again which plugins run (after a reconnection, or
    /// once one stopped).
    pub async fn announce(&self, link: &Link) -> Vec<PluginNote> {
        let announced = async {
            let client = link.client().await?;
            client.call(Announce { plugins: self.set.ids() }).await?;
            anyhow::Ok(())
        };
        match announced.await {
            Ok(()) => Vec::new(),
            Err(e) => {
                vec![PluginNote::note(format!("plugins cannot reach the room: {}", one_line(&e)))]
            }
        }
    }

    /// The player left the room: tells the plugins.
    pub fn left(&mut self) {
        self.set.event(PluginEvent::RoomLeft, json!({"room": self.room.id}));
    }
}

/// `/p text` and `/p` alone, as typed: the text after `/p`, or `None` for
/// a line that is not for the plugins.
pub fn plugin_input(line: &str) -> Option<&str> {
    let line = line.trim();
    if line == "/p" {
        return Some("");
    }
    line.strip_prefix("/p ")
}
