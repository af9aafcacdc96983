//! `rooms` and `online`: who is around and where.

use std::process::ExitCode;

use gamestore_client::cli::{Context, print_json, print_table};
use gamestore_client::outln;
use gamestore_protocol::{Activity, OnlineList, RoomList, RoomState};

/// `rooms [--json]`
pub async fn rooms(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    let reply = client.call(RoomList {}).await?;
    if json {
        print_json(&reply.rooms)?;
    } else if reply.rooms.is_empty() {
        outln!("No open rooms. Start one with `gamestore-player play GAME`.");
    } else {
        let rows: Vec<Vec<String>> = reply
            .rooms
            .iter()
            .map(|r| {
                let state = match r.state {
                    RoomState::Waiting => "waiting",
                    RoomState::Starting => "starting",
                    RoomState::Playing => "playing",
                };
                vec![
                    r.id.to_string(),
                    format!("{} {}", r.game, r.version),
                    r.host.clone(),
                    format!("{}/{}", r.members.len(), r.capacity),
                    state.to_owned(),
                    r.members.join(", "),
                ]
            })
            .collect();
        print_table(&["ROOM", "GAME", "HOST", "PLAYERS", "STATE", "MEMBERS"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `online [--json]`
pub async fn online(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    let reply = client.call(OnlineList {}).await?;
    if json {
        print_json(&reply.players)?;
    } else {
        let rows: Vec<Vec<String>> = reply
            .players
            .iter()
            .map(|p| {
                let doing = match &p.activity {
                    Activity::Idle => "idle".to_owned(),
                    Activity::InRoom { room, game } => format!("in room {room} ({game})"),
                    Activity::InMatch { room, game, match_id } => format!("playing {game}: match {match_id} in room {room}"),
                };
                vec![p.name.clone(), doing]
            })
            .collect();
        print_table(&["PLAYER", "DOING"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
