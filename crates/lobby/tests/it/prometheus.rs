//! A real Prometheus scrapes the lobby's `/metrics`: the target is up, and
//! a request counter moves after a client runs a command.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gamestore_testkit::{ChildGuard, Cli, TestLobby, http_get};

/// A free loopback port for Prometheus's own listener.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The value of an instant query, `None` while it has no result.
fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", gamestore_testkit::form_encode(promql));
    let reply = http_get(prometheus, &path, None);
    if reply.status != 200 {
        return None;
    }
    let value = reply.json();
    let sample = value["data"]["result"].get(0)?["value"][1].as_str()?.to_owned();
    sample.parse().ok()
}

/// Polls `promql` until `accept` holds for its value, with a deadline.
fn wait_for(prometheus: SocketAddr, promql: &str, accept: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = query(prometheus, promql).filter(|v| accept(*v)) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {promql}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_scrapes_the_lobby_and_sees_requests() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: gamestore\n    static_configs:\n      - targets: ['{}']\n",
            lobby.http_addr()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tmp.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus (Debian package `prometheus`)");
    let _prometheus = ChildGuard::new(child, "prometheus");
    let prometheus: SocketAddr = ([127, 0, 0, 1], port).into();
    gamestore_testkit::wait_until("Prometheus to listen", || {
        std::net::TcpStream::connect(prometheus).is_ok()
    });

    assert_eq!(wait_for(prometheus, "up{job=\"gamestore\"}", |v| v == 1.0), 1.0);
    let counter = "sum(gamestore_requests_total{type=\"REGISTER\",code=\"OK\"}) or vector(0)";
    let before = wait_for(prometheus, counter, |_| true);
    Cli::player(&lobby, &tmp.path().join("ann")).sign_up("ann", "correct horse");
    let after = wait_for(prometheus, counter, |v| v > before);
    assert_eq!(after, before + 1.0);
}
