//! TLS on the lobby connection: trust on first use of a self-signed lobby
//! and refusal of a changed certificate, a CA-signed certificate checked
//! with `--ca`, `--require-tls`, and no secret in clear on the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use gamestore_testkit::{Cli, LobbyOptions, TestLobby};

const PASSWORD: &str = "correct horse battery";

/// The fingerprint the lobby logged for its certificate.
fn logged_fingerprint(lobby: &TestLobby) -> String {
    let log = lobby.log();
    let at = log.rfind("fingerprint=SHA256:").expect("the lobby logs its fingerprint");
    log[at + "fingerprint=".len()..].split_whitespace().next().unwrap().to_owned()
}

fn tls_player(lobby: &TestLobby, home: &Path) -> Cli {
    Cli::new("gamestore-player", &lobby.tls_server(), home)
}

#[test]
fn a_self_signed_lobby_is_pinned_on_first_use_and_a_changed_certificate_refused() {
    let mut lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let ann = tls_player(&lobby, &tmp.path().join("ann"));
    let first = lobby_fingerprint_after_register(&lobby, &ann);

    // The pin is what the lobby presents, saved in the home.
    let pins = std::fs::read_to_string(ann.home().join("known_lobbies")).unwrap();
    assert!(pins.contains(&format!("{} {first}", lobby.addr)), "{pins}");
    // Later connections trust the pin silently.
    let again = ann
        .run_with_stdin(&["login", "--user", "ann", "--password-stdin"], &format!("{PASSWORD}\n"));
    again.ok();
    assert!(!again.stderr.contains("first use"), "{}", again.stderr);

    // The lobby's certificate changes (a new one generated at restart).
    lobby.terminate();
    std::fs::remove_dir_all(lobby.data_dir().join("tls")).unwrap();
    lobby.restart();
    let second = logged_fingerprint(&lobby);
    assert_ne!(first, second);
    let refused = ann.run(&["whoami"]);
    assert!(!refused.success());
    assert!(refused.stderr.contains("other than the one pinned"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&second) && refused.stderr.contains(&first),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!("--trust-fingerprint {second}")),
        "{}",
        refused.stderr
    );

    // Accepting the new fingerprint deliberately re-pins it.
    let accepted = ann.run(&["--trust-fingerprint", &second, "whoami"]);
    accepted.ok();
    assert!(accepted.stdout.contains("ann"), "{}", accepted.stdout);
    ann.run(&["whoami"]).ok();
    let pins = std::fs::read_to_string(ann.home().join("known_lobbies")).unwrap();
    assert!(pins.contains(&second) && !pins.contains(&first), "{pins}");
}

/// Registers over TLS and checks the first-use note names the lobby's
/// fingerprint; returns it.
fn lobby_fingerprint_after_register(lobby: &TestLobby, cli: &Cli) -> String {
    let fingerprint = logged_fingerprint(lobby);
    let out = cli.run_with_stdin(
        &["register", "--user", "ann", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    out.ok();
    assert!(out.stderr.contains("on first use"), "{}", out.stderr);
    assert!(out.stderr.contains(&fingerprint), "{}", out.stderr);
    fingerprint
}

/// A CA and a lobby certificate for 127.0.0.1 signed by it, as PEM files.
pub fn make_ca(
    dir: &Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let (ca_pem, cert, key) = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (ca_pem, cert, key)
}

#[test]
fn a_ca_signed_lobby_is_verified_against_the_given_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca(tmp.path(), "good");
    let (other_ca, _, _) = make_ca(tmp.path(), "other");
    let lobby = TestLobby::start_with(LobbyOptions {
        args: vec![
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ],
        ..Default::default()
    });
    assert!(lobby.log().contains("self_signed=false"), "{}", lobby.log());

    let ann = tls_player(&lobby, &tmp.path().join("ann"));
    let out = ann.run_with_stdin(
        &["--ca", ca.to_str().unwrap(), "register", "--user", "ann", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    out.ok();
    assert!(!out.stderr.contains("first use"), "a CA-verified lobby needs no pin: {}", out.stderr);
    assert!(!ann.home().join("known_lobbies").exists());

    // Another CA does not vouch for this lobby: refused, nothing pinned.
    let bob = tls_player(&lobby, &tmp.path().join("bob"));
    let refused = bob.run_with_stdin(
        &["--ca", other_ca.to_str().unwrap(), "register", "--user", "bob", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!refused.success());
    assert!(refused.stderr.contains("not trusted"), "{}", refused.stderr);
    assert!(!bob.home().join("known_lobbies").exists());
}

#[test]
fn plain_connections_are_refused_when_tls_is_required() {
    let lobby = TestLobby::start_with(LobbyOptions {
        args: vec!["--require-tls".into()],
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let plain = Cli::player(&lobby, &tmp.path().join("plain"));
    plain
        .run_with_stdin(
            &["register", "--user", "ann", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .fails_with("TLS_REQUIRED");
    let tls = tls_player(&lobby, &tmp.path().join("tls"));
    tls.sign_up("ann", PASSWORD);
    tls.run(&["whoami"]).ok();
}

/// Forwards one connection to `to`, recording what the client sent.
fn recording_proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let mut server = TcpStream::connect(to).unwrap();
            let (mut client_r, mut server_w) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let record = record.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = client_r.read(&mut buf) {
                    if n == 0 || server_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = server_w.shutdown(std::net::Shutdown::Write);
            });
            thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_password_or_token_crosses_the_wire_in_clear_under_tls() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let secret = "unmistakable-Secret-42";

    // Control: over plain TCP the recording does show the password.
    let (plain_addr, plain_seen) = recording_proxy(lobby.addr);
    let plain = Cli::new("gamestore-player", &plain_addr.to_string(), &tmp.path().join("plain"));
    plain
        .run_with_stdin(
            &["register", "--user", "plainann", "--password-stdin"],
            &format!("{secret}\n"),
        )
        .ok();
    assert!(contains(&plain_seen.lock().unwrap(), secret.as_bytes()));

    let (tls_addr, tls_seen) = recording_proxy(lobby.addr);
    let tls = Cli::new("gamestore-player", &format!("tls://{tls_addr}"), &tmp.path().join("tls"));
    tls.sign_up("tlsann", secret);
    tls.run(&["whoami"]).ok();
    let token = tls.saved_token();
    let seen = tls_seen.lock().unwrap();
    assert!(seen.len() > 200, "the recording saw the TLS traffic");
    assert_eq!(seen[0], 0x16, "the connection starts with a TLS handshake");
    assert!(!contains(&seen, secret.as_bytes()), "the password crossed in clear");
    assert!(!contains(&seen, token.as_bytes()), "the session token crossed in clear");
    assert!(!contains(&seen, b"LOGIN"), "request names crossed in clear");
}
