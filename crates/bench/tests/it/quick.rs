//! `--quick`: every scenario at small size, once.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use gamestore_testkit::{ChildGuard, Output, bin, game_package};
use serde_json::Value;

/// Runs the bench with `args` and returns its output.
fn bench(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_gamestore-bench"))
        .args(args)
        .arg("--lobby")
        .arg(bin("gamestore-lobby"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gamestore-bench");
    let mut guard = ChildGuard::new(child, "gamestore-bench");
    let stdout = drain(guard.child_mut().stdout.take().unwrap());
    let stderr = drain(guard.child_mut().stderr.take().unwrap());
    // The quick run takes seconds; the bound only stops a hung run.
    let status = guard.wait_timeout(Duration::from_secs(300));
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn positive(value: &Value, what: &str) -> f64 {
    let x = value.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(x.is_finite() && x > 0.0, "{what} should be positive, is {x}");
    x
}

/// p50 ≤ p99 ≤ max, all positive, over `count` samples.
fn ordered(summary: &Value, count: u64, what: &str) {
    assert_eq!(summary["count"], count, "{what}: {summary}");
    let p50 = positive(&summary["p50"], what);
    let p99 = positive(&summary["p99"], what);
    let max = positive(&summary["max"], what);
    assert!(p50 <= p99 && p99 <= max, "{what}: {summary}");
}

#[test]
fn quick_run_measures_every_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let json_path = tmp.path().join("results.json");
    let test_game = game_package("test");
    let out = bench(&[
        "--quick",
        "--json",
        json_path.to_str().unwrap(),
        "--test-game",
        test_game.to_str().unwrap(),
    ]);
    out.ok();
    for scenario in ["transfer", "delta", "clients", "fanout", "match", "flood", "web", "store"] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(scenario)),
            "no {scenario} row in the table: {out}"
        );
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
    let s = &report["scenarios"];

    let t = &s["transfer"];
    let package = positive(&t["data_bytes"], "package size");
    for speed in ["raw_mb_s", "durable_write_mb_s", "publish_mb_s", "download_mb_s", "install_mb_s"]
    {
        positive(&t[speed], speed);
    }
    // Downloads and loopback copies alternate; the best of each counts.
    for (best, median) in
        [("raw_mb_s", "raw_median_mb_s"), ("download_mb_s", "download_median_mb_s")]
    {
        assert!(t[best].as_f64() >= t[median].as_f64(), "{best}: {t}");
    }
    assert_eq!(t["files"], 40);
    // 8,000,000 bytes of data files and the package's config.json.
    let data = t["data_bytes"].as_u64().unwrap();
    assert!((8_000_000..8_010_000).contains(&data), "{t}");

    // The update moved the changed file's chunks (and the new config.json), not the package.
    let d = &s["delta"];
    assert_eq!(d["method"], "chunked", "{d}");
    let moved = positive(&d["bytes_transferred"], "delta bytes");
    assert!(moved >= 1024.0 * 1024.0 && moved < package / 2.0, "{d}");
    let sent = positive(&d["publish_sent_bytes"], "delta publish bytes");
    assert!(sent >= 1024.0 * 1024.0 && sent < package / 2.0, "{d}");

    let c = &s["clients"];
    assert_eq!((c["clients"].as_u64(), c["logged_in"].as_u64()), (Some(300), Some(300)), "{c}");
    assert_eq!(c["workers"], 3, "300 clients at 100 per worker");
    assert_eq!(c["load_errors"], 0, "{c}");
    positive(&c["rss_idle_mib"], "lobby memory");
    let requests = c["requests_ms"]["count"].as_u64().unwrap();
    assert!(requests >= 300, "200 requests/s for 2 s: {c}");
    ordered(&c["requests_ms"], requests, "request latency");
    ordered(&c["sequential_ms"], 300, "one request at a time");
    for kind in ["STORE_LIST", "ROOM_LIST", "GAME_INFO"] {
        assert!(c["requests_by_type_ms"][kind]["count"].as_u64().unwrap() > 0, "{kind}: {c}");
    }

    let f = &s["fanout"];
    assert_eq!(f["members"], 50);
    ordered(&f["last_member_ms"], 10, "fan-out");

    let m = &s["match"];
    assert_eq!((m["players"].as_u64(), m["repeats"].as_u64()), (Some(2), Some(3)), "{m}");
    ordered(&m["game_start_all_ms"], 3, "GAME_START");
    ordered(&m["connected_all_ms"], 3, "clients connected");
    // Every client connects after its GAME_START.
    assert!(m["connected_all_ms"]["p50"].as_f64() >= m["game_start_all_ms"]["p50"].as_f64());
    positive(&m["server_startup_ms"]["p50"], "game server start-up");

    // The flood: the account's budget was checked, the rest refused, the
    // lobby's memory measured and a bystander served.
    let flood = &s["flood"];
    let checked = flood["checked"].as_u64().unwrap();
    assert!((1..=10).contains(&checked), "{flood}");
    positive(&flood["refused"], "refused guesses");
    positive(&flood["rss_peak_mib"], "lobby memory under the flood");
    let logins = flood["bystander_login_ms"]["count"].as_u64().unwrap();
    ordered(&flood["bystander_login_ms"], logins, "the bystander's logins");
    let w = &s["web"];
    assert_eq!((w["clients"].as_u64(), w["catalog_games"].as_u64()), (Some(10), Some(300)), "{w}");
    for summary in ["plain_ms", "tls_ms", "metrics_ms"] {
        let count = w[summary]["count"].as_u64().unwrap();
        assert!(count > 0, "{summary}: {w}");
        ordered(&w[summary], count, summary);
    }
    for page in [
        "catalog_first_page_ms",
        "catalog_last_page_ms",
        "catalog_search_by_rating_ms",
        "game_page_ms",
        "api_newest_ms",
    ] {
        ordered(&w[page], 20, page);
    }
    positive(&w["tls_per_sec"], "TLS requests per second");
    // The store list at three catalog sizes, one full first page each.
    let sizes = s["store"]["sizes"].as_array().unwrap();
    let games: Vec<u64> = sizes.iter().map(|z| z["games"].as_u64().unwrap()).collect();
    assert_eq!(games, [10, 1_000, 10_000]);
    for size in sizes {
        assert_eq!(size["page_games"].as_u64(), Some(size["games"].as_u64().unwrap().min(50)));
        ordered(&size["request_ms"], 300, "store list");
        ordered(&size["ten_ms"], 300, "store list, 10 per page");
        positive(&size["first_ms"], "first store list");
    }

    // The headline rows carry their references and targets.
    let rows = report["rows"].as_array().unwrap();
    let download = rows
        .iter()
        .find(|r| r["metric"].as_str().unwrap().starts_with("download"))
        .expect("a download row");
    positive(&download["ratio"], "download ratio");
    assert!(download["met"].is_boolean(), "{download}");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let out = bench(&["--scenarios", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "{out}");
}
