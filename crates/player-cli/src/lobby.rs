//! `rooms` and `online`: who is around and where.

use std::process::ExitCode;

use gamestore_client::cli::{Context, Output, print_json, print_table};
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::{Activity, OnlineList, RoomList};

/// `rooms [--json]`
pub(crate) async fn rooms(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_rooms(&client, output).await
}

/// Prints the rooms as `rooms` does, on an open connection.
pub(crate) async fn show_rooms(client: &LobbyClient, output: Output) -> anyhow::Result<ExitCode> {
    let reply = client.call_all(RoomList::default()).await?;
    if output.is_json() {
        print_json(&reply.rooms)?;
    } else if reply.rooms.is_empty() {
        outln!("No open rooms. Start one with `gamestore-player play GAME`.");
    } else {
        let rows: Vec<Vec<String>> = reply
            .rooms
            .iter()
            .map(|r| {
                let state = r.state.as_str();
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
pub(crate) async fn online(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_online(&client, output).await
}

/// Prints who is online as `online` does, on an open connection.
pub(crate) async fn show_online(client: &LobbyClient, output: Output) -> anyhow::Result<ExitCode> {
    let reply = client.call_all(OnlineList::default()).await?;
    if output.is_json() {
        print_json(&reply.players)?;
    } else {
        let rows: Vec<Vec<String>> = reply
            .players
            .iter()
            .map(|p| {
                let doing = match &p.activity {
                    Activity::Idle => "idle".to_owned(),
                    Activity::InRoom { room, game } => format!("in room {room} ({game})"),
                    Activity::InMatch { room, game, match_id } => {
                        format!("playing {game}: match {match_id} in room {room}")
                    }
                };
                vec![p.name.clone(), doing]
            })
            .collect();
        print_table(&["PLAYER", "DOING"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `history [--json]`
pub(crate) async fn history(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_history(&client, output).await
}

/// Prints my matches as `history` does, on an open connection.
pub(crate) async fn show_history(client: &LobbyClient, output: Output) -> anyhow::Result<ExitCode> {
    let reply = client.call_all(gamestore_protocol::MatchHistory::default()).await?;
    if output.is_json() {
        print_json(&reply.matches)?;
    } else if reply.matches.is_empty() {
        outln!("No matches played yet.");
    } else {
        let rows: Vec<Vec<String>> = reply
            .matches
            .iter()
            .map(|m| {
                let winner =
                    m.result.as_ref().and_then(|r| r.get("winner")).and_then(|w| w.as_str());
                let outcome = match (m.outcome.as_deref(), winner) {
                    (None, _) => "running".to_owned(),
                    (Some("completed"), Some(w)) => format!("completed, {w} won"),
                    (Some("aborted"), _) => match &m.message {
                        Some(why) => format!("aborted: {why}"),
                        None => "aborted".to_owned(),
                    },
                    (Some(o), _) => o.replace('_', " "),
                };
                vec![
                    m.match_id.to_string(),
                    format!("{} {}", m.game, m.version),
                    m.players.join(", "),
                    format_time(m.started_at),
                    m.duration_secs.map(|d| format!("{d}s")).unwrap_or_else(|| "-".into()),
                    outcome,
                ]
            })
            .collect();
        print_table(&["MATCH", "GAME", "PLAYERS", "STARTED (UTC)", "DURATION", "OUTCOME"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM`.
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}
