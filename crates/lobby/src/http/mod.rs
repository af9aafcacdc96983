//! The lobby's web face on `--http-listen`: the store website (`/`,
//! `/games/{id}`, `/lobby`), its JSON API (`/api/...`), the admin pages
//! (`/admin/...`), `/metrics`, `/healthz` and `/readyz`.
//!
//! Served with hyper's HTTP/1 server under the same care as the lobby
//! protocol: a connection cap, a deadline for request headers and one for
//! each whole request, a small body limit (only admin forms have bodies),
//! security headers on every response, and a graceful stop with the lobby.
//! Pages are rendered on the server and work without JavaScript.

mod admin_pages;
pub mod html;
mod store_pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::Lobby;

/// HTTP connections served at once; more are closed at accept.
const MAX_HTTP_CONNECTIONS: usize = 1024;
/// Time for a client to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one whole request, body and handler included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest request body (admin forms are a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Time in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the web handlers share.
pub struct Web {
    pub lobby: Arc<Lobby>,
    /// True when this listener speaks HTTPS (cookies get `Secure`).
    pub https: bool,
}

type AppState = Arc<Web>;

/// The router: every path the listener serves.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(store_pages::catalog))
        .route("/games/{id}", get(store_pages::game_page))
        .route("/lobby", get(store_pages::lobby_page))
        .route("/api/games", get(store_pages::api_games))
        .route("/api/games/{id}", get(store_pages::api_game))
        .route("/api/lobby", get(store_pages::api_lobby))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(admin_pages::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(guard))
        .with_state(web)
}

/// Deadline and security headers around every request.
async fn guard(request: Request, next: Next) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the request took too long\n").into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn not_found() -> Response {
    store_pages::error_page(StatusCode::NOT_FOUND, "Not found", "There is no page here.")
}

async fn metrics(State(web): State<AppState>) -> Response {
    let text = crate::telemetry::render(web.lobby.clone()).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The process is alive and answering.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database takes a write and the lobby listener is up.
async fn readyz(State(web): State<AppState>) -> Response {
    if !web.lobby.listening.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: the lobby listener is not up\n")
            .into_response();
    }
    let check = tokio::time::timeout(Duration::from_secs(5), web.lobby.db.check_writable()).await;
    match check {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the database does not take writes: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: the database is not answering\n")
            .into_response(),
    }
}

/// Serves `listener` until `stop` turns true, then lets in-flight requests
/// finish (bounded) and returns. With `tls`, the listener speaks HTTPS.
pub async fn serve(
    lobby: Arc<Lobby>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let web = Arc::new(Web { lobby, https: tls.is_some() });
    let app = router(web);
    let permits = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut stop) => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // Over the cap: closing the socket is the answer.
        };
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _done = done;
            let _ = socket.set_nodelay(true);
            match tls {
                Some(tls) => match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(socket)).await {
                    Ok(Ok(stream)) => serve_connection(stream, app, stop, peer).await,
                    _ => tracing::debug!(%peer, "HTTPS handshake failed"),
                },
                None => serve_connection(socket, app, stop, peer).await,
            }
        });
    }
    drop(done_tx);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), done_rx.recv()).await;
}

async fn serve_connection<S>(
    stream: S,
    app: Router,
    mut stop: watch::Receiver<bool>,
    peer: SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        }
        _ = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await;
        }
    }
}

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Completes once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
