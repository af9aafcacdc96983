//! The plugins announced in each room and the relay of their messages.
//!
//! A member's announcement lives in its room and goes when the member
//! leaves. A PLUGIN_MESSAGE reaches only the present members that announced
//! its plugin (never its sender); every other member gets at most one
//! ROOM_PLUGIN_IN_USE for its whole stay in the room.

use gamestore_protocol::{ErrorCode, Event, PluginMessage, RoomPluginInUse, WireError};
use gamestore_storage::AccountId;

use super::{Rooms, err};

impl Rooms {
    /// Replaces the plugins `account` runs in its room.
    pub fn announce_plugins(
        &self,
        account: AccountId,
        plugins: Vec<String>,
    ) -> Result<(), WireError> {
        let mut inner = self.inner();
        let id = *inner
            .member_of
            .get(&account)
            .ok_or_else(|| err(ErrorCode::NotInRoom, "you are not in a room"))?;
        let room = inner.rooms.get_mut(&id).expect("member_of points at a room");
        room.plugins.insert(account, plugins);
        Ok(())
    }

    /// Relays `message` from `account` to its room's members that run the
    /// plugin; the sender must have announced it.
    pub fn plugin_message(
        &self,
        account: AccountId,
        message: PluginMessage,
    ) -> Result<(), WireError> {
        let mut inner = self.inner();
        let id = *inner
            .member_of
            .get(&account)
            .ok_or_else(|| err(ErrorCode::NotInRoom, "you are not in a room"))?;
        let room = inner.rooms.get_mut(&id).expect("member_of points at a room");
        let runs =
            |who: &AccountId| room.plugins.get(who).is_some_and(|p| p.contains(&message.plugin));
        if !runs(&account) {
            return Err(err(
                ErrorCode::PluginNotAnnounced,
                format!("announce {} with ROOM_PLUGINS before sending for it", message.plugin),
            ));
        }
        let present = room.members.iter().filter(|m| !room.away.contains_key(&m.account));
        let (with, without): (Vec<_>, Vec<_>) =
            present.filter(|m| m.account != account).partition(|m| runs(&m.account));
        crate::hub::push_to_all(
            with.iter().map(|m| &m.outbox),
            &Event::PluginMessage(message.clone()),
        );
        let unhinted: Vec<_> =
            without.into_iter().filter(|m| !room.hinted.contains(&m.account)).collect();
        let hint = Event::RoomPluginInUse(RoomPluginInUse { plugin: message.plugin.clone() });
        crate::hub::push_to_all(unhinted.iter().map(|m| &m.outbox), &hint);
        let newly: Vec<AccountId> = unhinted.iter().map(|m| m.account).collect();
        room.hinted.extend(newly);
        Ok(())
    }
}
