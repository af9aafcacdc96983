//! The address players are told, on hosts with several interfaces: built
//! from network namespaces and veth pairs each test creates (as root) and
//! removes when it ends, even on failure. Nothing here touches the host's
//! own network.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use gamestore_testkit::{Cli, LobbyOptions, Output, TestLobby, game_package};
use serde_json::Value;

const PASSWORD: &str = "correct horse";

/// Network namespaces (with the veth pairs inside them) owned by one test;
/// deleted on drop.
struct Namespaces {
    prefix: String,
    names: Vec<String>,
}

impl Namespaces {
    /// Fails with a clear message when `ip netns` cannot be used here.
    fn new() -> Namespaces {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let probe = Command::new("ip").args(["netns", "list"]).output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "these tests need `ip netns` as root (network namespaces); `ip netns list` \
                 failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!(
                "these tests need the `ip` program (iproute2, installed by scripts/test) to \
                 build network namespaces: {e}"
            ),
        }
        let prefix = format!("gs{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Namespaces { prefix, names: Vec::new() }
    }

    /// A new namespace with its loopback up; returns its name.
    fn add(&mut self, tag: &str) -> String {
        let name = format!("{}{tag}", self.prefix);
        ip(&["netns", "add", &name]);
        self.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// A veth pair between namespaces `a` and `b`, with `a_addr` and
    /// `b_addr` (CIDR) on its ends, both up. Interfaces are numbered in
    /// creation order, so the first link made is listed first.
    fn link(&self, tag: &str, a: &str, a_addr: &str, b: &str, b_addr: &str) {
        // Interface names are at most 15 bytes: short names, unique per namespace.
        let (end_a, end_b) = (format!("v{tag}0"), format!("v{tag}1"));
        ip(&["-n", a, "link", "add", &end_a, "type", "veth", "peer", "name", &end_b, "netns", b]);
        ip(&["-n", a, "addr", "add", a_addr, "dev", &end_a]);
        ip(&["-n", b, "addr", "add", b_addr, "dev", &end_b]);
        ip(&["-n", a, "link", "set", &end_a, "up"]);
        ip(&["-n", b, "link", "set", &end_b, "up"]);
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it.
        for name in self.names.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn exec_in(ns: &str) -> [&str; 4] {
    ["ip", "netns", "exec", ns]
}

/// A lobby inside namespace `ns` on all its addresses, with its own choice
/// of the address players are told and of the game servers' bind address.
fn lobby_in(ns: &str) -> TestLobby {
    TestLobby::start_with(LobbyOptions {
        wrapper: exec_in(ns).iter().map(|s| s.to_string()).collect(),
        listen: Some("0.0.0.0:0".into()),
        own_addresses: true,
        ..Default::default()
    })
}

/// `program` run inside `ns`, talking to the lobby at `server`.
fn user_in(ns: &str, program: &str, server: &str, home: &std::path::Path) -> Cli {
    Cli::new(program, server, home).wrapped(&exec_in(ns)).env("GAMESTORE_BOT", "1")
}

fn game_start_of(out: &Output) -> Value {
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "game_start")
        .map(|v| v["data"].clone())
        .unwrap_or_else(|| panic!("no game_start in:\n{out}"))
}

/// Publishes the `test` game as `dev`, then has `players` play one match
/// together; returns each player's output.
fn play_one_match(dev: &Cli, players: &[(&str, Cli)]) -> Vec<Output> {
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    for (name, cli) in players {
        cli.sign_up(name, PASSWORD);
    }
    let count = players.len().to_string();
    let handles: Vec<_> = players
        .iter()
        .map(|(_, cli)| {
            let (cli, count) = (cli.clone(), count.clone());
            thread::spawn(move || cli.run(&["play", "test", "--start-when", &count, "--json"]))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn port_of(lobby: &TestLobby) -> u16 {
    lobby.addr.port()
}

#[test]
fn players_on_two_subnets_are_each_told_an_address_they_can_reach() {
    let mut net = Namespaces::new();
    let (lobby_ns, dead, a, b) = (net.add("l"), net.add("d"), net.add("a"), net.add("b"));
    // A dead-end interface first: the lobby's "first LAN address" would be it.
    net.link("d", &lobby_ns, "10.201.9.1/24", &dead, "10.201.9.2/24");
    net.link("a", &lobby_ns, "10.201.1.1/24", &a, "10.201.1.2/24");
    net.link("b", &lobby_ns, "10.201.2.1/24", &b, "10.201.2.2/24");
    let lobby = lobby_in(&lobby_ns);
    let tmp = tempfile::tempdir().unwrap();
    let (via_a, via_b) =
        (format!("10.201.1.1:{}", port_of(&lobby)), format!("10.201.2.1:{}", port_of(&lobby)));

    let dev = user_in(&a, "gamestore-dev", &via_a, &tmp.path().join("dev"));
    let ann = user_in(&a, "gamestore-player", &via_a, &tmp.path().join("ann"));
    let bob = user_in(&b, "gamestore-player", &via_b, &tmp.path().join("bob"));
    let outs = play_one_match(&dev, &[("ann", ann), ("bob", bob)]);
    for out in &outs {
        out.ok();
    }
    // Each was told the lobby's address on their own subnet, and both
    // game clients reached the one game server through it.
    assert_eq!(game_start_of(&outs[0])["host"], "10.201.1.1", "{}", lobby.log());
    assert_eq!(game_start_of(&outs[1])["host"], "10.201.2.1");
    assert_eq!(game_start_of(&outs[0])["port"], game_start_of(&outs[1])["port"]);
    for out in &outs {
        assert!(out.stdout.contains("greeted"), "{out}");
        assert!(out.stdout.contains(r#""outcome":"completed""#), "{out}");
    }
}

#[test]
fn players_behind_a_single_interface_are_told_its_address() {
    let mut net = Namespaces::new();
    let (lobby_ns, players) = (net.add("l"), net.add("p"));
    net.link("p", &lobby_ns, "10.201.3.1/24", &players, "10.201.3.2/24");
    let lobby = lobby_in(&lobby_ns);
    let tmp = tempfile::tempdir().unwrap();
    let server = format!("10.201.3.1:{}", port_of(&lobby));

    let dev = user_in(&players, "gamestore-dev", &server, &tmp.path().join("dev"));
    let ann = user_in(&players, "gamestore-player", &server, &tmp.path().join("ann"));
    let bob = user_in(&players, "gamestore-player", &server, &tmp.path().join("bob"));
    let outs = play_one_match(&dev, &[("ann", ann), ("bob", bob)]);
    for out in &outs {
        out.ok();
        assert_eq!(game_start_of(out)["host"], "10.201.3.1");
        assert!(out.stdout.contains(r#""outcome":"completed""#), "{out}");
    }
}
