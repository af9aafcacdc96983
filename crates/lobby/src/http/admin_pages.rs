//! The admin pages under `/admin`: sign in, accounts (search, ban, unban),
//! games (delist or relist any, every version), matches (running and recent,
//! with the server log, stop), the sandbox and limits in force with the
//! recent warnings, and the audit log.
//!
//! The session cookie is HttpOnly, SameSite=Strict, limited to `/admin`, and
//! Secure over HTTPS. Every form carries the session's anti-forgery token
//! (the sign-in form a per-visit one in its own cookie); a post without the
//! right token is refused with 403 and changes nothing. Signed-out visitors
//! are sent to the sign-in page; posts without a session get 403.

use crate::WireResult;
use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gamestore_storage::AdminSession;

use super::AppState;
use super::html::{Section, date_time, e, page, size, url};
use crate::catalog::Listing;

const SESSION_COOKIE: &str = "gs_admin";
const LOGIN_COOKIE: &str = "gs_admin_login";
/// Rows on one admin list page.
const ROWS: u32 = 50;
/// Bytes of a game server's log shown per match.
const LOG_TAIL_BYTES: usize = 4096;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{id}/ban", post(ban))
        .route("/admin/accounts/{id}/unban", post(unban))
        .route("/admin/games", get(games))
        .route("/admin/games/{id}/delist", post(delist))
        .route("/admin/games/{id}/relist", post(relist))
        .route("/admin/matches", get(matches))
        .route("/admin/matches/{id}/stop", post(stop_match))
        .route("/admin/system", get(system))
        .route("/admin/audit", get(audit))
}

type Fields = Form<HashMap<String, String>>;
type Params = Query<HashMap<String, String>>;

/// A signed-in admin and the cookie that proves it.
struct Admin {
    session: AdminSession,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    })
}

fn session_cookie(web: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if web.https { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Tokens are 64 hex digits; anything else is not looked up.
fn plausible_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn signed_in(web: &AppState, headers: &HeaderMap) -> Option<Admin> {
    let token = cookie(headers, SESSION_COOKIE).filter(|t| plausible_token(t))?;
    crate::admin::session(&web.lobby, &token).await.map(|session| Admin { session })
}

/// For pages: the admin, or a redirect to the sign-in page.
// axum's `Response` is the error here: these feed straight into handlers.
#[allow(clippy::result_large_err)]
async fn page_admin(web: &AppState, headers: &HeaderMap) -> Result<Admin, Response> {
    signed_in(web, headers).await.ok_or_else(|| Redirect::to("/admin/login").into_response())
}

/// For forms: the admin whose form carries their anti-forgery token, or 403.
#[allow(clippy::result_large_err)]
async fn form_admin(
    web: &AppState,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<Admin, Response> {
    let Some(admin) = signed_in(web, headers).await else {
        return Err(forbidden("Sign in as an admin first."));
    };
    let sent = fields.get("csrf").map(String::as_str).unwrap_or("");
    if !same(sent.as_bytes(), admin.session.csrf.as_bytes()) {
        return Err(forbidden(
            "The form's anti-forgery token is missing or wrong; nothing was changed.",
        ));
    }
    Ok(admin)
}

/// Constant-time equality for tokens.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(message: &str) -> Response {
    let body = format!(
        "<h1>Forbidden</h1><p class=\"error\">{}</p><p><a href=\"/admin/login\">Sign in</a></p>",
        e(message)
    );
    (StatusCode::FORBIDDEN, Html(page("Forbidden", Section::Admin, &body))).into_response()
}

fn bad_request(message: &str, back: &str) -> Response {
    let body = format!(
        "<h1>Not done</h1><p class=\"error\">{}</p><p><a href=\"{}\">Back</a></p>",
        e(message),
        e(back)
    );
    (StatusCode::BAD_REQUEST, Html(page("Not done", Section::Admin, &body))).into_response()
}

fn internal(message: &str) -> Response {
    let body = format!("<h1>Something went wrong</h1><p class=\"error\">{}</p>", e(message));
    (StatusCode::INTERNAL_SERVER_ERROR, Html(page("Error", Section::Admin, &body))).into_response()
}

/// The admin page frame: sub-navigation, who is signed in, sign out.
fn admin_page(admin: &Admin, title: &str, flash: Option<&str>, content: &str) -> Response {
    let mut body = String::with_capacity(content.len() + 1024);
    let _ = write!(
        body,
        "<div class=\"tags\" style=\"margin-bottom:14px\"><a class=\"tag\" href=\"/admin\">Overview</a>\
         <a class=\"tag\" href=\"/admin/accounts\">Accounts</a><a class=\"tag\" href=\"/admin/games\">Games</a>\
         <a class=\"tag\" href=\"/admin/matches\">Matches</a><a class=\"tag\" href=\"/admin/system\">Sandbox &amp; limits</a>\
         <a class=\"tag\" href=\"/admin/audit\">Audit log</a><span class=\"muted\" style=\"margin-left:auto\">Signed in as {name}</span>\
         <form class=\"inline\" method=\"post\" action=\"/admin/logout\">{csrf}<button type=\"submit\">Sign out</button></form></div>",
        name = e(&admin.session.admin.name),
        csrf = csrf_field(admin),
    );
    if let Some(flash) = flash {
        let _ = write!(body, "<p class=\"flash\">{}</p>", e(flash));
    }
    let _ = write!(body, "<h1>{}</h1>{content}", e(title));
    let mut response = Html(page(title, Section::Admin, &body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn csrf_field(admin: &Admin) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", e(&admin.session.csrf))
}

/// The message a finished action left in the query string.
fn flash(params: &HashMap<String, String>) -> Option<&'static str> {
    Some(match params.get("done")?.as_str() {
        "banned" => "The account is banned and its sessions are closed.",
        "unbanned" => "The ban is lifted.",
        "delisted" => "The game is delisted.",
        "relisted" => "The game is listed again.",
        "stopped" => "The match is being stopped.",
        "not_running" => "That match is no longer running.",
        _ => return None,
    })
}

async fn login_form(State(web): State<AppState>, headers: HeaderMap) -> Response {
    if signed_in(&web, &headers).await.is_some() {
        return Redirect::to("/admin").into_response();
    }
    login_page(&web, None, StatusCode::OK)
}

fn login_page(web: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let Ok(token) = crate::auth::new_token() else { return internal("no randomness") };
    let mut body = String::from("<h1>Admin sign in</h1>");
    if let Some(error) = error {
        let _ = write!(body, "<p class=\"error\">{}</p>", e(error));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/admin/login\" style=\"display:grid;gap:10px;max-width:340px\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <label>Admin name<br><input type=\"text\" name=\"user\" autocomplete=\"username\" required></label>\
         <label>Password<br><input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">Admin accounts are created on the lobby's machine with \
         <code>gamestore-lobby admin add --user NAME</code>.</p>"
    );
    let mut response = (status, Html(page("Admin sign in", Section::Admin, &body))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, session_cookie(web, LOGIN_COOKIE, &token, 1800));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn login(State(web): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let sent = fields.get("csrf").cloned().unwrap_or_default();
    if expected.is_empty() || !same(sent.as_bytes(), expected.as_bytes()) {
        return forbidden(
            "The sign-in form's anti-forgery token is missing or wrong; reload the page and try again.",
        );
    }
    let user = fields.get("user").map(|u| u.trim()).unwrap_or("");
    let password = fields.get("password").map(String::as_str).unwrap_or("");
    if user.is_empty() || password.is_empty() || user.len() > 64 || password.len() > 1024 {
        return login_page(&web, Some("Give an admin name and a password."), StatusCode::FORBIDDEN);
    }
    match crate::admin::sign_in(&web.lobby, user, password).await {
        Some(token) => {
            let mut response = Redirect::to("/admin").into_response();
            let cookies = response.headers_mut();
            cookies.append(
                header::SET_COOKIE,
                session_cookie(&web, SESSION_COOKIE, &token, crate::admin::ADMIN_SESSION_SECS),
            );
            cookies.append(header::SET_COOKIE, session_cookie(&web, LOGIN_COOKIE, "", 0));
            response
        }
        None => {
            tracing::warn!(user = ?user, "admin sign-in refused");
            metrics::counter!("gamestore_login_failures_total").increment(1);
            login_page(&web, Some("Wrong admin name or password."), StatusCode::FORBIDDEN)
        }
    }
}

async fn logout(State(web): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Response {
    if form_admin(&web, &headers, &fields).await.is_ok()
        && let Some(token) = cookie(&headers, SESSION_COOKIE)
    {
        crate::admin::sign_out(&web.lobby, &token).await;
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&web, SESSION_COOKIE, "", 0));
    response
}

async fn overview(State(web): State<AppState>, headers: HeaderMap) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let lobby = &web.lobby;
    let warnings = crate::warnings::recent();
    let content = format!(
        "<div class=\"grid\">\
         <div class=\"card\"><h3>{online}</h3><p>players and developers online</p></div>\
         <div class=\"card\"><h3>{rooms}</h3><p>open rooms</p></div>\
         <div class=\"card\"><h3>{running}</h3><p>matches running</p></div>\
         <div class=\"card\"><h3>{warnings}</h3><p>recent warnings</p></div></div>\
         <p class=\"muted\">TLS certificate {fingerprint}{self_signed}</p>",
        online = lobby.hub.online_accounts(),
        rooms = lobby.rooms.list().len(),
        running = lobby.running.count(),
        warnings = warnings.len(),
        fingerprint = e(&lobby.tls.fingerprint),
        self_signed =
            if lobby.tls.self_signed { " (self-signed, generated by the lobby)" } else { "" },
    );
    admin_page(&admin, "Overview", None, &content)
}

async fn accounts(
    State(web): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let search = search_text(&params);
    let page_no = page_number(&params);
    let query = search.clone();
    let found = web.lobby.db.accounts_page(&query, (page_no - 1) * ROWS, ROWS).await.wire();
    let (rows, total) = match found {
        Ok(found) => found,
        Err(err) => return internal(&err.message),
    };
    let online: std::collections::HashSet<i64> =
        web.lobby.online_players().into_iter().map(|(id, _)| id).collect();
    let mut content = format!(
        "<form class=\"search\" method=\"get\" action=\"/admin/accounts\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Account name\">\
         <button type=\"submit\">Search</button></form><p class=\"muted\">{total} account{}</p>",
        e(&search),
        if total == 1 { "" } else { "s" }
    );
    content.push_str("<table><thead><tr><th>Name</th><th>Kind</th><th>Created</th><th>Status</th><th>Action</th></tr></thead><tbody>");
    for row in &rows {
        let a = &row.account;
        let role = match a.role {
            gamestore_storage::Role::Player => "player",
            gamestore_storage::Role::Developer => "developer",
        };
        let status = match &row.ban {
            Some(ban) => format!(
                "<span class=\"banned\">banned</span> by {} {}: {}",
                e(&ban.by),
                date_time(ban.at),
                e(&ban.reason)
            ),
            None if online.contains(&a.id) => "online".into(),
            None => "<span class=\"muted\">offline</span>".into(),
        };
        let action = if row.ban.is_some() {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/admin/accounts/{}/unban\">{}\
                 <input type=\"text\" name=\"reason\" placeholder=\"Note (optional)\"><button type=\"submit\">Unban</button></form>",
                a.id,
                csrf_field(&admin)
            )
        } else {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/admin/accounts/{}/ban\">{}\
                 <input type=\"text\" name=\"reason\" placeholder=\"Reason\" required maxlength=\"500\">\
                 <button class=\"danger\" type=\"submit\">Ban</button></form>",
                a.id,
                csrf_field(&admin)
            )
        };
        let _ = write!(
            content,
            "<tr><td>{}</td><td>{role}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>",
            e(&a.name),
            date_time(a.created_at)
        );
    }
    content.push_str("</tbody></table>");
    pager(&mut content, "/admin/accounts", &search, page_no, total);
    admin_page(&admin, "Accounts", flash(&params), &content)
}

/// A list page's search text (`q`), cut to 64 characters.
fn search_text(params: &HashMap<String, String>) -> String {
    params.get("q").map(|q| q.chars().take(64).collect()).unwrap_or_default()
}

/// A list page's page number (`page`), from 1.
fn page_number(params: &HashMap<String, String>) -> u32 {
    params.get("page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(1).clamp(1, 100_000)
}

fn pager(content: &mut String, path: &str, search: &str, page_no: u32, total: u32) {
    let pages = total.div_ceil(ROWS).max(1);
    content.push_str("<nav class=\"pager\">");
    if page_no > 1 {
        let _ = write!(
            content,
            "<a href=\"{path}?q={}&amp;page={}\">← Previous</a>",
            url(search),
            page_no - 1
        );
    }
    let _ = write!(content, "<span class=\"muted\">Page {page_no} of {pages}</span>");
    if page_no < pages {
        let _ = write!(
            content,
            "<a href=\"{path}?q={}&amp;page={}\">Next →</a>",
            url(search),
            page_no + 1
        );
    }
    content.push_str("</nav>");
}

fn account_id(id: &str) -> Option<i64> {
    id.parse().ok().filter(|id| *id > 0)
}

/// What the accounts page's buttons do.
#[derive(Clone, Copy)]
enum BanAction {
    Ban,
    Unban,
}

async fn ban(
    State(web): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    set_banned(web, headers, id, fields, BanAction::Ban).await
}

async fn unban(
    State(web): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    set_banned(web, headers, id, fields, BanAction::Unban).await
}

async fn set_banned(
    web: AppState,
    headers: HeaderMap,
    id: String,
    fields: HashMap<String, String>,
    action: BanAction,
) -> Response {
    let admin = match form_admin(&web, &headers, &fields).await {
        Ok(admin) => admin,
        Err(refused) => return refused,
    };
    let Some(id) = account_id(&id) else {
        return bad_request("No such account.", "/admin/accounts");
    };
    // A ban's reason, or an unban's note.
    let reason = fields.get("reason").map(String::as_str).unwrap_or("");
    let by = &admin.session.admin.name;
    let (done, result) = match action {
        BanAction::Ban => ("banned", crate::admin::ban(&web.lobby, by, id, reason).await.map(drop)),
        BanAction::Unban => {
            ("unbanned", crate::admin::unban(&web.lobby, by, id, reason).await.map(drop))
        }
    };
    match result {
        Ok(()) => Redirect::to(&format!("/admin/accounts?done={done}")).into_response(),
        Err(err) => bad_request(&err.message, "/admin/accounts"),
    }
}

async fn games(State(web): State<AppState>, headers: HeaderMap, Query(params): Params) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let search = search_text(&params);
    let page_no = page_number(&params);
    let query = search.clone();
    let db = &web.lobby.db;
    let found = async {
        let (games, total) = db.all_games_page(&query, (page_no - 1) * ROWS, ROWS).await?;
        let mut with_versions = Vec::with_capacity(games.len());
        for game in games {
            let versions = db.version_records(&game.id).await?;
            with_versions.push((game, versions));
        }
        Ok((with_versions, total))
    };
    let found = found.await.wire();
    let (games, total) = match found {
        Ok(found) => found,
        Err(err) => return internal(&err.message),
    };
    let mut content = format!(
        "<form class=\"search\" method=\"get\" action=\"/admin/games\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Game id or name\">\
         <button type=\"submit\">Search</button></form><p class=\"muted\">{total} game{}, listed or not</p>",
        e(&search),
        if total == 1 { "" } else { "s" }
    );
    content.push_str("<table><thead><tr><th>Game</th><th>Author</th><th>Status</th><th>Versions</th><th>Action</th></tr></thead><tbody>");
    for (game, versions) in &games {
        let versions: Vec<String> = versions
            .iter()
            .rev()
            .map(|v| {
                format!(
                    "{} <span class=\"muted\">{} · {}</span>",
                    e(&v.version),
                    date_time(v.published_at),
                    size(v.download_bytes())
                )
            })
            .collect();
        let (status, action, verb) = if game.listed {
            ("listed", "delist", "Delist")
        } else {
            ("<span class=\"banned\">delisted</span>", "relist", "Relist")
        };
        let _ = write!(
            content,
            "<tr><td><strong>{name}</strong><br><span class=\"muted\">{id}</span></td><td>{owner}</td><td>{status}</td>\
             <td>{versions}</td><td><form class=\"inline\" method=\"post\" action=\"/admin/games/{id_url}/{action}\">{csrf}\
             <button type=\"submit\"{danger}>{verb}</button></form></td></tr>",
            name = e(&game.name),
            id = e(&game.id),
            id_url = url(&game.id),
            owner = e(&game.owner),
            versions = versions.join("<br>"),
            csrf = csrf_field(&admin),
            danger = if game.listed { " class=\"danger\"" } else { "" },
        );
    }
    content.push_str("</tbody></table>");
    pager(&mut content, "/admin/games", &search, page_no, total);
    admin_page(&admin, "Games", flash(&params), &content)
}

async fn set_listed(
    web: AppState,
    headers: HeaderMap,
    id: String,
    fields: HashMap<String, String>,
    listing: Listing,
) -> Response {
    let admin = match form_admin(&web, &headers, &fields).await {
        Ok(admin) => admin,
        Err(refused) => return refused,
    };
    match crate::admin::set_listed(&web.lobby, &admin.session.admin.name, &id, listing).await {
        Ok(()) => {
            let done = match listing {
                Listing::Listed => "relisted",
                Listing::Delisted => "delisted",
            };
            Redirect::to(&format!("/admin/games?done={done}")).into_response()
        }
        Err(err) => bad_request(&err.message, "/admin/games"),
    }
}

async fn delist(
    State(web): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    set_listed(web, headers, id, fields, Listing::Delisted).await
}

async fn relist(
    State(web): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    set_listed(web, headers, id, fields, Listing::Listed).await
}

async fn matches(
    State(web): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let running = web.lobby.running.list();
    let recent = match web.lobby.db.recent_matches(ROWS).await.wire() {
        Ok(recent) => recent,
        Err(err) => return internal(&err.message),
    };
    let config = &web.lobby.config;
    let mut content = format!("<h2>Running ({})</h2>", running.len());
    if running.is_empty() {
        content.push_str("<p class=\"muted\">No match is running.</p>");
    }
    for m in &running {
        let log = crate::admin::server_log_tail(config, m.match_id, LOG_TAIL_BYTES);
        let _ = write!(
            content,
            "<div class=\"card\" style=\"margin-bottom:12px\"><h3>Match {id}: {game} {version}</h3>\
             <div class=\"muted\">room {room} · port {port} · started {started} · players {players}</div>\
             <form class=\"inline\" method=\"post\" action=\"/admin/matches/{id}/stop\" style=\"margin:8px 0\">{csrf}\
             <input type=\"text\" name=\"reason\" placeholder=\"Reason\" required maxlength=\"500\">\
             <button class=\"danger\" type=\"submit\">Stop match</button></form>\
             <div class=\"muted\">Game server log (last {LOG_TAIL_BYTES} bytes)</div><pre class=\"log\">{log}</pre></div>",
            id = m.match_id,
            game = e(&m.game),
            version = e(&m.version),
            room = m.room,
            port = m.port.map(|p| p.to_string()).unwrap_or_else(|| "starting".into()),
            started = date_time(m.started_at),
            players = e(&m.players.join(", ")),
            csrf = csrf_field(&admin),
            log = e(&log),
        );
    }
    content.push_str("<h2>Recent</h2><table><thead><tr><th>Match</th><th>Game</th><th>Players</th><th>Started</th><th>Outcome</th><th>Server log</th></tr></thead><tbody>");
    for m in &recent {
        let outcome = match &m.end {
            Some(end) => format!(
                "{}{}",
                e(&end.outcome),
                end.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default()
            ),
            None => "running".into(),
        };
        let log = crate::admin::server_log_tail(config, m.id, 600);
        let _ = write!(
            content,
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{outcome}</td><td><pre class=\"log\">{}</pre></td></tr>",
            m.id,
            e(&m.game_name),
            e(&m.version),
            e(&m.players.join(", ")),
            date_time(m.started_at),
            e(&log),
        );
    }
    content.push_str("</tbody></table>");
    admin_page(&admin, "Matches", flash(&params), &content)
}

async fn stop_match(
    State(web): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    let admin = match form_admin(&web, &headers, &fields).await {
        Ok(admin) => admin,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<i64>() else { return bad_request("No such match.", "/admin/matches") };
    let reason = fields.get("reason").map(String::as_str).unwrap_or("");
    match crate::admin::stop_match(&web.lobby, &admin.session.admin.name, id, reason).await {
        Ok(true) => Redirect::to("/admin/matches?done=stopped").into_response(),
        Ok(false) => Redirect::to("/admin/matches?done=not_running").into_response(),
        Err(err) => bad_request(&err.message, "/admin/matches"),
    }
}

async fn system(State(web): State<AppState>, headers: HeaderMap) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let lobby = &web.lobby;
    let c = &lobby.config;
    let sandbox = if lobby.game_manager.sandboxed() {
        "game servers run in a bubblewrap sandbox"
    } else {
        "game servers run WITHOUT a sandbox (resource limits only)"
    };
    let rate = if c.limits.download_bytes_per_sec == 0 {
        "no cap".to_owned()
    } else {
        format!("{}/s per connection", size(c.limits.download_bytes_per_sec))
    };
    let rows: Vec<(&str, String)> = vec![
        ("Sandbox", format!("{sandbox} (setting: {:?})", c.matches.sandbox)),
        ("Game server ports", format!("{}–{}", c.game_ports.start(), c.game_ports.end())),
        ("Game servers bind", c.matches.bind_host.clone()),
        ("Game server start timeout", format!("{} s", c.matches.start_timeout.as_secs())),
        ("Longest match", format!("{} s", c.matches.max_match_time.as_secs())),
        ("Connections at once", c.limits.max_connections.to_string()),
        ("Password hashes at once", c.limits.concurrent_password_hashes.to_string()),
        ("Largest upload", size(c.limits.max_upload_bytes)),
        ("Package entries", c.limits.package.max_entries.to_string()),
        ("Package unpacked size", size(c.limits.package.max_total_bytes)),
        ("Largest file in a package", size(c.limits.package.max_file_bytes)),
        ("Download speed cap", rate),
        ("Handshake timeout", format!("{} s", c.timeouts.handshake.as_secs())),
        ("Idle timeout", format!("{} s", c.timeouts.idle.as_secs())),
        ("Session lifetime", format!("{} days", c.timeouts.session_ttl.as_secs() / 86_400)),
        (
            "Password hashing",
            format!(
                "Argon2id, {} KiB, {} passes",
                c.password_hashing.memory_kib, c.password_hashing.iterations
            ),
        ),
        (
            "TLS",
            format!(
                "{}; certificate {}{}",
                if c.tls.require {
                    "required on the lobby connection"
                } else {
                    "offered beside plain TCP"
                },
                lobby.tls.fingerprint,
                if lobby.tls.self_signed { " (self-signed)" } else { "" }
            ),
        ),
    ];
    let mut content = String::from("<table><tbody>");
    for (name, value) in rows {
        let _ = write!(content, "<tr><th>{}</th><td>{}</td></tr>", e(name), e(&value));
    }
    content.push_str("</tbody></table>");
    let warnings = crate::warnings::recent();
    let _ = write!(content, "<h2>Recent warnings ({})</h2>", warnings.len());
    if warnings.is_empty() {
        content.push_str("<p class=\"muted\">No warnings since the lobby started.</p>");
    } else {
        content.push_str("<table><thead><tr><th>When</th><th>Level</th><th>Where</th><th>What</th></tr></thead><tbody>");
        for w in &warnings {
            let _ = write!(
                content,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                date_time(w.at),
                w.level,
                e(&w.target),
                e(&w.text)
            );
        }
        content.push_str("</tbody></table>");
    }
    admin_page(&admin, "Sandbox & limits", None, &content)
}

async fn audit(State(web): State<AppState>, headers: HeaderMap, Query(params): Params) -> Response {
    let admin = match page_admin(&web, &headers).await {
        Ok(admin) => admin,
        Err(redirect) => return redirect,
    };
    let page_no = page_number(&params);
    let (rows, total) = match web.lobby.db.audit_log((page_no - 1) * ROWS, ROWS).await.wire() {
        Ok(found) => found,
        Err(err) => return internal(&err.message),
    };
    let mut content = String::from(
        "<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Target</th><th>Detail</th></tr></thead><tbody>",
    );
    for r in &rows {
        let _ = write!(
            content,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            date_time(r.at),
            e(&r.admin),
            e(&r.action),
            e(&r.target),
            e(&r.detail)
        );
    }
    content.push_str("</tbody></table>");
    pager(&mut content, "/admin/audit", "", page_no, total);
    admin_page(&admin, "Audit log", None, &content)
}
