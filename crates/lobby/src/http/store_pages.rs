//! The public store website and its JSON API: the catalog (search, sort,
//! pages), a page per game, and the lobby now. Read-only; delisted games
//! are not shown here.

use crate::WireResult;
use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use gamestore_protocol::Activity;
use gamestore_storage::{CatalogQuery, CatalogSort, GameRecord, ReviewRecord, VersionRecord};
use serde_json::json;

use super::AppState;
use super::html::{Section, date, date_time, e, page, rating, size, url};

/// Games on one catalog page.
pub(super) const PAGE_SIZE: u32 = 24;
/// Longest search text looked at.
const MAX_SEARCH_CHARS: usize = 100;
/// Reviews shown on a game's page.
const REVIEWS_SHOWN: u32 = 20;

type Params = Query<HashMap<String, String>>;

/// The catalog request, read tolerantly from the query string.
struct CatalogRequest {
    search: String,
    sort: CatalogSort,
    page: u32,
}

impl CatalogRequest {
    fn from(params: &HashMap<String, String>) -> CatalogRequest {
        let search: String = params
            .get("q")
            .map(|q| q.chars().filter(|c| !c.is_control()).take(MAX_SEARCH_CHARS).collect())
            .unwrap_or_default();
        let sort = match params.get("sort").map(String::as_str) {
            Some("rating") => CatalogSort::Rating,
            Some("newest") => CatalogSort::Newest,
            _ => CatalogSort::Name,
        };
        let page = params.get("page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(1);
        CatalogRequest { search, sort, page: page.clamp(1, 100_000) }
    }

    fn query(&self) -> CatalogQuery {
        CatalogQuery {
            search: self.search.clone(),
            sort: self.sort,
            offset: (self.page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        }
    }

    fn sort_name(&self) -> &'static str {
        match self.sort {
            CatalogSort::Name => "name",
            CatalogSort::Rating => "rating",
            CatalogSort::Newest => "newest",
        }
    }

    fn link(&self, page: u32) -> String {
        format!("/?q={}&amp;sort={}&amp;page={page}", url(&self.search), self.sort_name())
    }
}

/// An HTML error page with `status`.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"muted\">{}</p><p><a href=\"/\">Back to the store</a></p>",
        e(title),
        e(message)
    );
    (status, Html(page(title, Section::Store, &body))).into_response()
}

fn internal(message: &str) -> Response {
    error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", message)
}

pub(super) async fn catalog(State(web): State<AppState>, Query(params): Params) -> Response {
    let request = CatalogRequest::from(&params);
    let query = request.query();
    let (games, total) = match web.lobby.db.catalog_page(&query).await.wire() {
        Ok(found) => found,
        Err(err) => return internal(&err.message),
    };
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let mut body = String::with_capacity(16 * 1024);
    body.push_str("<h1>Store</h1>");
    let selected = |s: &str| if request.sort_name() == s { " selected" } else { "" };
    let _ = write!(
        body,
        "<form class=\"search\" method=\"get\" action=\"/\">\
         <input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"Search games\" aria-label=\"Search games\">\
         <select name=\"sort\" aria-label=\"Sort by\">\
         <option value=\"name\"{n}>Name</option><option value=\"rating\"{r}>Rating</option>\
         <option value=\"newest\"{w}>Newest</option></select><button type=\"submit\">Search</button></form>",
        q = e(&request.search),
        n = selected("name"),
        r = selected("rating"),
        w = selected("newest"),
    );
    if games.is_empty() {
        if request.search.is_empty() && request.page == 1 {
            body.push_str(
                "<p class=\"muted\">The store is empty: no game has been published yet.</p>",
            );
        } else if request.search.is_empty() {
            body.push_str("<p class=\"muted\">There are no games on this page.</p>");
        } else {
            let _ =
                write!(body, "<p class=\"muted\">No game matches “{}”.</p>", e(&request.search));
        }
    } else {
        let _ = write!(
            body,
            "<p class=\"muted\">{total} game{} · page {} of {pages}</p><div class=\"grid\">",
            if total == 1 { "" } else { "s" },
            request.page
        );
        for game in &games {
            let _ = write!(
                body,
                "<div class=\"card\"><h3><a href=\"/games/{id_url}\">{name}</a></h3>\
                 <div class=\"muted\">by {author}</div><div>{rating}</div>\
                 <div class=\"tags\"><span class=\"tag\">{kind}</span><span class=\"tag\">{players}</span>\
                 <span class=\"tag\">v{version}</span></div><p>{description}</p></div>",
                id_url = url(&game.id),
                name = e(&game.name),
                author = e(&game.owner),
                rating = rating(game.rating, game.reviews),
                kind = e(&game.kind),
                players = players(game),
                version = e(&game.latest_version),
                description = e(&game.description),
            );
        }
        body.push_str("</div>");
        body.push_str("<nav class=\"pager\">");
        if request.page > 1 {
            let _ = write!(
                body,
                "<a href=\"{}\" rel=\"prev\">← Previous</a>",
                request.link(request.page - 1)
            );
        }
        let _ = write!(body, "<span class=\"muted\">Page {} of {pages}</span>", request.page);
        if request.page < pages {
            let _ = write!(
                body,
                "<a href=\"{}\" rel=\"next\">Next →</a>",
                request.link(request.page + 1)
            );
        }
        body.push_str("</nav>");
    }
    Html(page("Store", Section::Store, &body)).into_response()
}

fn players(game: &GameRecord) -> String {
    if game.min_players == game.max_players {
        format!("{} players", game.min_players)
    } else {
        format!("{}–{} players", game.min_players, game.max_players)
    }
}

/// A listed game with its versions and latest reviews.
struct GameDetails {
    game: GameRecord,
    versions: Vec<VersionRecord>,
    reviews: Vec<ReviewRecord>,
    total_reviews: u32,
}

async fn load_game(web: &AppState, id: String) -> Result<Option<GameDetails>, Response> {
    let db = &web.lobby.db;
    let found = async {
        let Some(game) = db.game(&id).await? else { return Ok(None) };
        if !game.listed {
            return Ok(None);
        }
        let versions = db.version_records(&id).await?;
        let (reviews, total_reviews) = db.reviews_of(&id, 0, REVIEWS_SHOWN).await?;
        Ok(Some(GameDetails { game, versions, reviews, total_reviews }))
    };
    found.await.wire().map_err(|err| internal(&err.message))
}

pub(super) async fn game_page(State(web): State<AppState>, Path(id): Path<String>) -> Response {
    let details = match load_game(&web, id).await {
        Ok(Some(details)) => details,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Game not found",
                "No game in the store has this id.",
            );
        }
        Err(response) => return response,
    };
    let GameDetails { game, versions, reviews, total_reviews } = details;
    let mut body = String::with_capacity(8 * 1024);
    let _ = write!(
        body,
        "<p><a href=\"/\">← Store</a></p><h1>{name}</h1><div class=\"hero\"><div style=\"flex:1;min-width:300px\">\
         <p>{description}</p><h2>Install</h2><pre class=\"cmd\"><code>gamestore-player install {id}</code></pre>\
         <p class=\"muted\">Or play right away: <code>gamestore-player play {id}</code></p></div>\
         <dl class=\"facts\"><dt>Author</dt><dd>{author}</dd><dt>Kind</dt><dd>{kind}</dd>\
         <dt>Players</dt><dd>{players}</dd><dt>Latest version</dt><dd>{version}</dd>\
         <dt>Rating</dt><dd>{rating}</dd><dt>First published</dt><dd>{created}</dd>\
         <dt>Updated</dt><dd>{updated}</dd></dl></div>",
        name = e(&game.name),
        description = e(&game.description),
        id = e(&game.id),
        author = e(&game.owner),
        kind = e(&game.kind),
        players = players(&game),
        version = e(&game.latest_version),
        rating = rating(game.rating, game.reviews),
        created = date(game.created_at),
        updated = date(game.updated_at),
    );
    body.push_str("<h2>Versions</h2><table><thead><tr><th>Version</th><th>Published</th><th>Download</th><th>Installed size</th></tr></thead><tbody>");
    for v in versions.iter().rev() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&v.version),
            date_time(v.published_at),
            size(v.download_bytes()),
            size(v.unpacked_bytes)
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(body, "<h2>Reviews</h2>");
    if reviews.is_empty() {
        body.push_str("<p class=\"muted\">No reviews yet. Players who have played the game can review it with <code>gamestore-player review</code>.</p>");
    } else {
        if total_reviews > reviews.len() as u32 {
            let _ = write!(
                body,
                "<p class=\"muted\">The latest {} of {total_reviews} reviews.</p>",
                reviews.len()
            );
        }
        for r in &reviews {
            let _ = write!(
                body,
                "<div class=\"review\"><span class=\"rating\">{}</span> <strong>{}</strong> \
                 <span class=\"muted\">{}</span><div>{}</div></div>",
                "★".repeat(r.rating.clamp(1, 5) as usize),
                e(&r.player),
                date(r.updated_at),
                e(&r.text)
            );
        }
    }
    Html(page(&game.name, Section::Store, &body)).into_response()
}

/// Who is online and doing what, open rooms, running matches.
struct LobbyNow {
    players: Vec<(String, Activity)>,
    rooms: Vec<gamestore_protocol::RoomInfo>,
    matches: Vec<crate::running::RunningMatch>,
}

fn lobby_now(web: &AppState) -> LobbyNow {
    let lobby = &web.lobby;
    let mut players: Vec<(String, Activity)> = lobby
        .online_players()
        .into_iter()
        .map(|(id, name)| (name, lobby.rooms.activity(id)))
        .collect();
    players.sort_by_cached_key(|p| p.0.to_lowercase());
    LobbyNow { players, rooms: lobby.rooms.list(), matches: lobby.running.list() }
}

fn activity_text(activity: &Activity) -> String {
    match activity {
        Activity::Idle => "in the lobby".into(),
        Activity::InRoom { room, game } => format!("in room {room} ({})", e(game)),
        Activity::InMatch { game, match_id, .. } => {
            format!("playing {} (match {match_id})", e(game))
        }
    }
}

pub(super) async fn lobby_page(State(web): State<AppState>) -> Response {
    let now = lobby_now(&web);
    let mut body = String::with_capacity(8 * 1024);
    body.push_str("<h1>Lobby now</h1>");
    let _ = write!(body, "<h2>Players online ({})</h2>", now.players.len());
    if now.players.is_empty() {
        body.push_str("<p class=\"muted\">Nobody is online.</p>");
    } else {
        body.push_str("<table><thead><tr><th>Player</th><th>Doing</th></tr></thead><tbody>");
        for (name, activity) in &now.players {
            let _ =
                write!(body, "<tr><td>{}</td><td>{}</td></tr>", e(name), activity_text(activity));
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(body, "<h2>Rooms ({})</h2>", now.rooms.len());
    if now.rooms.is_empty() {
        body.push_str("<p class=\"muted\">No open rooms. Start one with <code>gamestore-player play GAME</code>.</p>");
    } else {
        body.push_str("<table><thead><tr><th>Room</th><th>Game</th><th>Host</th><th>Members</th><th>State</th></tr></thead><tbody>");
        for room in &now.rooms {
            let members: Vec<String> = room.members.iter().map(|m| e(m).to_string()).collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"/games/{}\">{}</a> {}</td><td>{}</td><td>{} ({}/{})</td>\
                 <td class=\"state-{state}\">{state}</td></tr>",
                room.id,
                url(&room.game),
                e(&room.game_name),
                e(&room.version),
                e(&room.host),
                members.join(", "),
                room.members.len(),
                room.capacity,
                state = room.state.as_str(),
            );
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(body, "<h2>Matches running ({})</h2>", now.matches.len());
    if now.matches.is_empty() {
        body.push_str("<p class=\"muted\">No match is running.</p>");
    } else {
        body.push_str("<table><thead><tr><th>Match</th><th>Game</th><th>Players</th><th>Started</th></tr></thead><tbody>");
        for m in &now.matches {
            let players: Vec<String> = m.players.iter().map(|p| e(p).to_string()).collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                m.match_id,
                e(&m.game),
                e(&m.version),
                players.join(", "),
                date_time(m.started_at)
            );
        }
        body.push_str("</tbody></table>");
    }
    Html(page("Lobby", Section::Lobby, &body)).into_response()
}

fn game_json(game: &GameRecord) -> serde_json::Value {
    json!({
        "id": game.id,
        "name": game.name,
        "version": game.latest_version,
        "author": game.owner,
        "kind": game.kind,
        "min_players": game.min_players,
        "max_players": game.max_players,
        "rating": game.rating,
        "reviews": game.reviews,
        "description": game.description,
        "created_at": game.created_at,
        "updated_at": game.updated_at,
    })
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

pub(super) async fn api_games(State(web): State<AppState>, Query(params): Params) -> Response {
    let request = CatalogRequest::from(&params);
    let query = request.query();
    match web.lobby.db.catalog_page(&query).await.wire() {
        Ok((games, total)) => Json(json!({
            "total": total,
            "page": request.page,
            "per_page": PAGE_SIZE,
            "sort": request.sort_name(),
            "games": games.iter().map(game_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(err) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &err.message),
    }
}

pub(super) async fn api_game(State(web): State<AppState>, Path(id): Path<String>) -> Response {
    match load_game(&web, id).await {
        Ok(Some(GameDetails { game, versions, reviews, total_reviews })) => {
            let mut value = game_json(&game);
            value["versions"] = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version,
                        "published_at": v.published_at,
                        "package_size": v.package_size,
                        "unpacked_bytes": v.unpacked_bytes,
                        "sha256": v.package_sha256,
                    })
                })
                .collect();
            value["recent_reviews"] = reviews
                .iter()
                .map(|r| json!({ "player": r.player, "rating": r.rating, "text": r.text, "updated_at": r.updated_at }))
                .collect();
            value["install"] = json!(format!("gamestore-player install {}", game.id));
            value["reviews"] = json!(total_reviews);
            Json(value).into_response()
        }
        Ok(None) => {
            api_error(StatusCode::NOT_FOUND, "GAME_NOT_FOUND", "no game in the store has this id")
        }
        Err(_) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "storage error"),
    }
}

pub(super) async fn api_lobby(State(web): State<AppState>) -> Response {
    let now = lobby_now(&web);
    Json(json!({
        "players": now.players.iter().map(|(name, activity)| json!({ "name": name, "activity": activity })).collect::<Vec<_>>(),
        "rooms": now.rooms,
        "matches": now.matches.iter().map(|m| json!({
            "match_id": m.match_id, "room": m.room, "game": m.game, "version": m.version,
            "players": m.players, "started_at": m.started_at,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}
