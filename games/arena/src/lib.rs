//! Light-cycle arena for up to eight players in a window.
//!
//! Every player rides a cycle that leaves a wall behind it. Crash into a
//! wall, a trail or another cycle and you are out for the round; each crash
//! earns every player still riding a point, so outliving more opponents
//! scores more. After `--rounds` rounds the highest score wins.
//!
//! The server ([`server`]) owns the grid ([`sim`]) and moves every cycle one
//! cell per tick (15 per second by default); clients ([`client`]) send only
//! turns and rebuild the picture from the heads the server sends each tick.
//!
//! Protocol `arena/1`, one text line per message, after the common handshake
//! of `gamekit::handshake` (wire forms in [`protocol`]):
//!
//! ```text
//! server: PLAYER <index> <name>                   every player, then
//! server: START <your index> <rounds> <columns> <rows>
//! server: ROUND <n> <countdown ticks> <spawn>...  spawn: x,y,D per player, or - if absent
//! server: C <ticks>                               countdown or pause, every tick
//! server: T <tick> <head>...                      every tick in play; head: x,y or - when out
//! server: DEAD <index> <reason>                   a cycle crashed or its player left
//! server: SCORE <score>...                        after every crash
//! server: ROUNDEND <n> <winner index|->
//! server: OVER <winner index|-> <summary>         then the server closes
//! client: DIR <U|D|L|R>                           turn (queued; reversing is ignored)
//! client: QUIT                                    leave the match
//! client: PING                                    keep-alive when idle
//! ```
//!
//! Cells are counted from the top-left corner; D is the direction of travel.

pub mod bot;
pub mod client;
pub mod protocol;
pub mod server;
pub mod sim;

/// Game and protocol tag sent in `HELLO`.
pub const GAME: &str = "arena/1";
