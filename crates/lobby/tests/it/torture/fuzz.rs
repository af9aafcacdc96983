//! A structure-aware frame fuzzer: well-formed frames carrying every request
//! type with plausible, mutated and nonsense data, and broken frames of
//! every kind, from anonymous and logged-in connections, while a bystander
//! keeps being served.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gamestore_protocol::{Login, Ping, Register, Request, Whoami};
use gamestore_testkit::{LobbyOptions, RawConn, TestLobby};
use serde_json::{Value, json};

use super::{descendants, eventually, fast_lobby_args, scaled, seed, usage};

/// Request id of the PING that closes every batch.
const SYNC_ID: u32 = 0x7fff_fff0;

/// Frames sent in CI; `GAMESTORE_TORTURE_SCALE` multiplies it.
const FRAMES: usize = 100_000;

const FIELD_NAMES: &[&str] = &[
    "id",
    "version",
    "size",
    "sha256",
    "upload",
    "game",
    "room",
    "text",
    "rating",
    "scope",
    "files",
    "offset",
    "limit",
    "cursor",
    "user",
    "password",
    "token",
    "protocol",
    "client",
    "match_id",
    "code",
    "start_when",
    "page",
    "plugins",
    "kind",
];

struct Fuzzer {
    rng: fastrand::Rng,
    /// Request id of the last GAME_UPLOAD on this connection: binary frames
    /// carry it, as an upload's bytes would.
    upload_id: Option<u32>,
}

impl Fuzzer {
    fn string(&mut self) -> String {
        let len = match self.rng.u8(..40) {
            0..=3 => 0,
            4 => self.rng.usize(1000..20_000),
            _ => self.rng.usize(1..40),
        };
        let alphabets: [&[char]; 5] = [
            &['a', 'b', 'z', '0', '9', '-', '_', '.'],
            &['/', '.', '.', '\\', '\0', '~', '%', ':'],
            &['\u{202e}', '\u{200b}', '\u{feff}', '\u{7}', '\n', '\r', '\t', 'é'],
            &['😀', 'ß', '中', '\u{10ffff}', '\u{fffd}', ' ', '"', '\''],
            &['t', 'e', 's', 't', '1', '.', '0', '.'],
        ];
        let alphabet = alphabets[self.rng.usize(..alphabets.len())];
        (0..len).map(|_| alphabet[self.rng.usize(..alphabet.len())]).collect()
    }

    fn number(&mut self) -> Value {
        match self.rng.u8(..8) {
            0 => json!(-1),
            1 => json!(u64::MAX),
            2 => json!(i64::MIN),
            3 => json!(1.5e300),
            4 => json!(0),
            5 => json!(u32::MAX),
            _ => json!(self.rng.u32(..100)),
        }
    }

    /// Any JSON value, nested up to `depth`.
    fn value(&mut self, depth: u32) -> Value {
        match self.rng.u8(..if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.rng.bool()),
            2 => self.number(),
            3 | 4 => json!(self.string()),
            5 => {
                let n = self.rng.usize(..6);
                Value::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            _ => self.object(depth - 1),
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let mut map = serde_json::Map::new();
        for _ in 0..self.rng.usize(..6) {
            let key = if self.rng.u8(..4) == 0 {
                self.string()
            } else {
                FIELD_NAMES[self.rng.usize(..FIELD_NAMES.len())].to_owned()
            };
            map.insert(key, self.value(depth));
        }
        Value::Object(map)
    }

    /// Data close to what `kind` expects, with some fields mutated.
    fn plausible_data(&mut self, kind: &str) -> Value {
        let game = ["test", "fuzzgame", "", "../etc"][self.rng.usize(..4)];
        let mut data = match kind {
            "HELLO" => json!({"protocol": 1, "client": "fuzz"}),
            "REGISTER" | "DEV_REGISTER" | "LOGIN" | "DEV_LOGIN" => {
                json!({"user": format!("f{}", self.rng.u16(..)), "password": self.string()})
            }
            "RESUME" => json!({"token": self.string()}),
            "GAME_UPLOAD" => json!({"id": game, "version": "1.0.0", "size": self.number(),
                                    "sha256": "0".repeat(64)}),
            "GAME_UPLOAD_DONE" => json!({"upload": self.rng.u32(..64)}),
            "GAME_DELIST" | "GAME_RELIST" | "GAME_INFO" => json!({"id": game}),
            "GAME_FILES" => json!({"id": game, "version": "1.0.0"}),
            "GAME_DOWNLOAD" => {
                // One path named many times (the amplification attempt).
                let path: String = self.string().chars().take(64).collect();
                let files: Vec<Value> = (0..self.rng.usize(..2000)).map(|_| json!(path)).collect();
                json!({"id": game, "version": "1.0.0", "files": files, "offset": self.number()})
            }
            "ROOM_CREATE" | "QUICK_PLAY" => json!({"game": game}),
            "ROOM_JOIN" => json!({"room": self.number()}),
            "CHAT_SEND" => {
                let scope = ["lobby", "room", "x"][self.rng.usize(..3)];
                json!({"scope": scope, "text": self.string()})
            }
            "GAME_CLIENT_EXITED" => json!({"match_id": self.number(), "code": self.number()}),
            "MATCH_HISTORY" => json!({"limit": self.number()}),
            "REVIEW_SUBMIT" => {
                json!({"game": game, "rating": self.number(), "text": self.string()})
            }
            "REVIEW_LIST" => json!({"game": game, "offset": self.number(), "limit": self.number()}),
            _ => json!({}),
        };
        // Mutate: drop, retype or add a field.
        if let Value::Object(map) = &mut data {
            for _ in 0..self.rng.usize(..3) {
                match self.rng.u8(..3) {
                    0 if !map.is_empty() => {
                        let key = map.keys().nth(self.rng.usize(..map.len())).unwrap().clone();
                        map.remove(&key);
                    }
                    1 if !map.is_empty() => {
                        let key = map.keys().nth(self.rng.usize(..map.len())).unwrap().clone();
                        let v = self.value(2);
                        map.insert(key, v);
                    }
                    _ => {
                        let key = FIELD_NAMES[self.rng.usize(..FIELD_NAMES.len())].to_owned();
                        let v = self.value(2);
                        map.insert(key, v);
                    }
                }
            }
        }
        data
    }

    /// A request envelope (always well-formed: a numeric id and a type)
    /// carrying a known or unknown type and plausible or random data.
    fn request_json(&mut self) -> Vec<u8> {
        let kind: String = match self.rng.u8(..10) {
            0 => self.string(),
            // LOGOUT would end the shared fuzz sessions for every worker.
            _ => loop {
                let name = Request::NAMES[self.rng.usize(..Request::NAMES.len())];
                if name != "LOGOUT" {
                    break name.to_owned();
                }
            },
        };
        let data = match self.rng.u8(..5) {
            0 => self.value(3),
            _ => self.plausible_data(&kind),
        };
        let id = self.rng.u32(1..1000);
        // Now and then the upload's bytes follow (when the lobby refused
        // the upload, they end the connection: a stray binary frame).
        if kind == "GAME_UPLOAD" && self.rng.u8(..4) == 0 {
            self.upload_id = Some(id);
        }
        let mut envelope = json!({"id": id, "type": kind, "data": data});
        if self.rng.u8(..10) == 0 {
            envelope["extra"] = self.value(2);
        }
        serde_json::to_vec(&envelope).unwrap()
    }

    /// An envelope the lobby cannot trust (no usable id or type).
    fn broken_envelope(&mut self) -> Vec<u8> {
        let mut envelope: Value = serde_json::from_slice(&self.request_json()).unwrap();
        match self.rng.u8(..5) {
            0 => envelope["id"] = json!(self.string()),
            1 => envelope["id"] = json!(-5),
            2 => envelope["id"] = json!(u64::MAX),
            3 => {
                envelope.as_object_mut().unwrap().remove("id");
            }
            _ => envelope["type"] = self.value(1),
        }
        serde_json::to_vec(&envelope).unwrap()
    }

    /// One frame that keeps the connection usable: the lobby must answer
    /// it (or, for a stray binary frame, ignore it) and keep reading.
    fn framed(&mut self) -> Vec<u8> {
        match (self.rng.u8(..5), self.upload_id) {
            (0, Some(id)) => {
                // Upload bytes, true or not.
                let mut body = id.to_be_bytes().to_vec();
                body.extend(std::iter::repeat_n(7u8, self.rng.usize(..70_000)));
                frame(2, &body)
            }
            _ => frame(1, &self.request_json()),
        }
    }

    /// A frame after which the lobby may (or must) close the connection:
    /// malformed bodies, untrustworthy envelopes, broken framing.
    fn breaking(&mut self) -> Vec<u8> {
        match self.rng.u8(..12) {
            0 => {
                let depth = self.rng.usize(100..5000);
                let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
                frame(1, body.as_bytes())
            }
            1 => frame(1, &self.string().into_bytes()), // not JSON
            2 => {
                let mut body = br#"{"id":3,"type":"PING","data":{"x":""#.to_vec();
                body.extend_from_slice(&[0xff, 0xfe, 0xc0]);
                body.extend_from_slice(br#""}}"#);
                frame(1, &body) // invalid UTF-8
            }
            3 => {
                let mut json = self.request_json();
                json.truncate(self.rng.usize(..json.len().max(1)));
                frame(1, &json)
            }
            4 => frame(1, &self.broken_envelope()),
            5 => frame(2, &[1, 2]), // shorter than its id
            10 => frame(2, &self.rng.u32(..).to_be_bytes()), // no request of that id
            6 => frame(self.rng.u8(3..=255), b"{}"), // unknown kind
            7 => 0u32.to_be_bytes().to_vec(), // empty frame
            8 => u32::MAX.to_be_bytes().to_vec(), // over the cap
            9 => {
                // Declares more than it sends.
                let mut bytes = 5000u32.to_be_bytes().to_vec();
                bytes.push(1);
                bytes.extend_from_slice(br#"{"id":1,"#);
                bytes
            }
            _ => vec![0, 0], // cut inside the length
        }
    }
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn request_frame(id: u32, kind: &str, data: Value) -> Vec<u8> {
    frame(1, &serde_json::to_vec(&json!({"id": id, "type": kind, "data": data})).unwrap())
}

/// How a fuzzed connection ended.
enum Ending {
    /// The lobby answered the closing PING: it kept reading in step.
    Synced,
    /// The lobby closed the connection.
    Closed,
    /// Neither in time.
    Hung,
}

/// Reads from `stream` until the reply to [`SYNC_ID`] or the lobby closes
/// the connection.
fn drain_until_sync_or_close(stream: &mut TcpStream, limit: Duration) -> Ending {
    let deadline = Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let marker = format!("\"id\":{SYNC_ID}");
    loop {
        if Instant::now() > deadline {
            return Ending::Hung;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ending::Closed,
            Ok(n) => {
                // Only the new bytes (and the tail before them) can hold it.
                buf.extend_from_slice(&chunk[..n]);
                if memfind(&buf, marker.as_bytes()) {
                    return Ending::Synced;
                }
                let keep = marker.len();
                if buf.len() > keep {
                    buf.drain(..buf.len() - keep);
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Ending::Closed, // reset
        }
    }
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    let first = needle[0];
    haystack.iter().enumerate().any(|(i, &b)| b == first && haystack[i..].starts_with(needle))
}

#[derive(Default)]
struct Tally {
    frames: usize,
    connections: usize,
    synced: usize,
    /// Frames of batches the lobby answered to the end.
    answered_frames: usize,
    closed: usize,
    hangs: usize,
}

fn fuzz_worker(addr: SocketAddr, tokens: &[String], budget: usize, seed: u64) -> Tally {
    let mut f = Fuzzer { rng: fastrand::Rng::with_seed(seed), upload_id: None };
    let mut tally = Tally::default();
    while tally.frames < budget {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(10)) else {
            continue;
        };
        tally.connections += 1;
        f.upload_id = None;
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        // Replies are read while frames are written, as a real client does.
        let mut reader = stream.try_clone().unwrap();
        let drained = std::thread::spawn(move || {
            drain_until_sync_or_close(&mut reader, Duration::from_secs(30))
        });
        let mut out = Vec::new();
        if f.rng.u8(..10) != 0 {
            out.extend(request_frame(1, "HELLO", json!({"protocol": 1, "client": "fuzz"})));
            if f.rng.u8(..10) < 6 {
                let token = &tokens[f.rng.usize(..tokens.len())];
                out.extend(request_frame(2, "RESUME", json!({"token": token})));
            }
        }
        let batch = f.rng.usize(1..80);
        for _ in 0..batch {
            out.extend(f.framed());
        }
        tally.frames += batch;
        let breaks = f.rng.u8(..4) == 0;
        if breaks {
            out.extend(f.breaking());
            tally.frames += 1;
        } else {
            out.extend(request_frame(SYNC_ID, "PING", json!({})));
        }
        // The lobby may close mid-write (it refused an early frame): fine.
        let _ = stream.write_all(&out);
        if breaks {
            let _ = stream.shutdown(Shutdown::Write);
        }
        // The idle timeout is short in this lobby: anything waiting on more
        // input (an upload announced, a frame declared longer) is closed soon.
        match drained.join().unwrap() {
            Ending::Synced => {
                tally.synced += 1;
                tally.answered_frames += batch;
            }
            Ending::Closed => tally.closed += 1,
            Ending::Hung => tally.hangs += 1,
        }
    }
    tally
}

#[test]
fn frame_fuzzer_never_harms_the_lobby_or_a_bystander() {
    let total = scaled(FRAMES);
    let seed = seed();
    let mut args = fast_lobby_args();
    args.extend(super::no_fair_use_limits());
    args.extend(["--idle-timeout", "3", "--handshake-timeout", "3"].map(String::from));
    let lobby = TestLobby::start_with(LobbyOptions { args, ..Default::default() });
    let pid = lobby.pid();

    // Sessions for the fuzzer (a player and a developer) and a bystander.
    let mut tokens = Vec::new();
    for (name, dev) in [("fuzzplayer", false), ("fuzzdev", true)] {
        let mut conn = RawConn::hello(lobby.addr);
        let reply = if dev {
            conn.call(gamestore_protocol::DevRegister::new(name, "fuzz password")).unwrap();
            conn.call(gamestore_protocol::DevLogin::new(name, "fuzz password")).unwrap()
        } else {
            conn.call(Register::new(name, "fuzz password")).unwrap();
            conn.call(Login::new(name, "fuzz password")).unwrap()
        };
        tokens.push(reply["token"].as_str().unwrap().to_owned());
    }
    let mut bystander = RawConn::hello(lobby.addr);
    bystander.call(Register::new("bystander", "fuzz password")).unwrap();
    bystander.call(Login::new("bystander", "fuzz password")).unwrap();
    let baseline = usage(pid);

    let workers = 16;
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let tokens = tokens.clone();
            let addr = lobby.addr;
            std::thread::spawn(move || fuzz_worker(addr, &tokens, total / workers, seed + w as u64))
        })
        .collect();
    // The bystander is served while the fuzzer runs.
    let mut bystander_calls = 0;
    while !handles.iter().all(|h| h.is_finished()) {
        assert!(bystander.call(Ping {}).is_ok(), "bystander lost its connection (seed {seed})");
        bystander_calls += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let tallies: Vec<Tally> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let frames: usize = tallies.iter().map(|t| t.frames).sum();
    let connections: usize = tallies.iter().map(|t| t.connections).sum();
    let hangs: usize = tallies.iter().map(|t| t.hangs).sum();
    let synced: usize = tallies.iter().map(|t| t.synced).sum();
    let answered: usize = tallies.iter().map(|t| t.answered_frames).sum();
    let closed: usize = tallies.iter().map(|t| t.closed).sum();
    let elapsed = started.elapsed();

    assert_eq!(bystander.call(Whoami {}).unwrap()["user"], "bystander");
    assert_eq!(hangs, 0, "{hangs} connections got neither an answer nor a close (seed {seed})");
    let log = lobby.log();
    assert!(!log.contains("panicked"), "the lobby panicked (seed {seed}):\n{log}");
    // Connections are gone, game servers the fuzz started have ended.
    let settled = eventually(Duration::from_secs(30), || {
        usage(pid).fds <= baseline.fds + 4 && descendants(pid).is_empty()
    });
    let after = usage(pid);
    assert!(
        settled,
        "descriptors or children left behind: {baseline:?} -> {after:?}, children {:?}",
        descendants(pid)
    );
    let rss_growth_mib = after.rss_kib.saturating_sub(baseline.rss_kib) / 1024;
    assert!(rss_growth_mib < 64, "lobby RSS grew {rss_growth_mib} MiB: {baseline:?} -> {after:?}");
    eprintln!(
        "torture: fuzz frames={frames} answered_frames={answered} connections={connections} synced={synced} closed={closed} \
         hangs={hangs} \
         bystander_calls={bystander_calls} secs={:.1} rss_kib={}->{} fds={}->{} seed={seed}",
        elapsed.as_secs_f64(),
        baseline.rss_kib,
        after.rss_kib,
        baseline.fds,
        after.fds
    );
}
