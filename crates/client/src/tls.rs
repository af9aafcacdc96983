//! TLS to the lobby (`--server tls://HOST:PORT`) and how the client decides
//! to trust the lobby's certificate.
//!
//! - With `--ca FILE`, the certificate must chain to a CA in that file (and
//!   name the host); nothing else is trusted.
//! - Otherwise a certificate that chains to the system's roots is trusted.
//! - Otherwise (a self-signed lobby) the client trusts on first use, like
//!   SSH: the first connection pins the certificate's SHA-256 fingerprint in
//!   the home's `known_lobbies` file and says so on stderr; later connections
//!   accept only that certificate. A changed certificate is refused with
//!   both fingerprints and the way to accept the new one deliberately
//!   (`--trust-fingerprint SHA256:...`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::connection::ClientError;

/// How a TLS connection decides whom to trust.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Trust only CAs from this PEM file (`--ca`).
    pub ca: Option<PathBuf>,
    /// Where pins of self-signed lobbies live (`<home>/known_lobbies`);
    /// `None` disables trust on first use.
    pub known_lobbies: Option<PathBuf>,
    /// Accept (and pin) a lobby whose certificate has this fingerprint,
    /// replacing an older pin (`--trust-fingerprint`).
    pub trust_fingerprint: Option<String>,
}

/// Where `--server` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Plain { addr: String },
    Tls { addr: String, host: String },
}

impl Target {
    /// `HOST:PORT` or `tls://HOST:PORT`.
    pub fn parse(server: &str) -> Target {
        match server.strip_prefix("tls://") {
            Some(addr) => {
                let addr = addr.trim_end_matches('/').to_owned();
                let host = match addr.rsplit_once(':') {
                    Some((host, _)) => {
                        host.trim_start_matches('[').trim_end_matches(']').to_owned()
                    }
                    None => addr.clone(),
                };
                Target::Tls { addr, host }
            }
            None => {
                Target::Plain { addr: server.strip_prefix("tcp://").unwrap_or(server).to_owned() }
            }
        }
    }

    pub fn addr(&self) -> &str {
        match self {
            Target::Plain { addr } | Target::Tls { addr, .. } => addr,
        }
    }
}

/// `SHA256:<hex>` of a DER certificate.
pub fn fingerprint(cert: &[u8]) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(cert)))
}

/// What the verifier saw, read after the handshake.
#[derive(Debug, Clone)]
enum Seen {
    /// Trusted through a CA (given or system).
    Chained,
    /// Matched the pin.
    Pinned,
    /// No pin yet: trusted on first use, to be saved.
    FirstUse(String),
    /// Accepted by `--trust-fingerprint`, to be saved.
    Accepted(String),
    /// Differs from the pin: refused.
    Changed { pinned: String, presented: String },
    /// No CA vouches for it and trust on first use is off.
    Untrusted { presented: String, reason: String },
}

struct LobbyVerifier {
    provider: Arc<CryptoProvider>,
    /// Verifies against `--ca` when given.
    ca: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<String>,
    tofu: bool,
    trust_fingerprint: Option<String>,
    seen: Mutex<Option<Seen>>,
}

impl fmt::Debug for LobbyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LobbyVerifier").field("pin", &self.pin).finish_non_exhaustive()
    }
}

fn ring() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// A verifier against the system's roots, loaded once per process (and only
/// when a certificate is not already pinned).
fn system_verifier() -> Option<Arc<WebPkiServerVerifier>> {
    static SYSTEM: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return None;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), ring()).build().ok()
        })
        .clone()
}

impl LobbyVerifier {
    fn note(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
    }
}

impl ServerCertVerifier for LobbyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        if let Some(ca) = &self.ca {
            return match ca.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(ok) => {
                    self.note(Seen::Chained);
                    Ok(ok)
                }
                Err(e) => {
                    self.note(Seen::Untrusted { presented, reason: e.to_string() });
                    Err(e)
                }
            };
        }
        if self.trust_fingerprint.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(&presented)) {
            self.note(Seen::Accepted(presented));
            return Ok(ServerCertVerified::assertion());
        }
        if self.pin.as_deref() == Some(presented.as_str()) {
            self.note(Seen::Pinned);
            return Ok(ServerCertVerified::assertion());
        }
        // A certificate a public CA vouches for needs no pin.
        let chained = system_verifier().map(|v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        });
        match (chained, &self.pin) {
            (Some(Ok(ok)), _) => {
                self.note(Seen::Chained);
                Ok(ok)
            }
            (_, Some(pinned)) => {
                self.note(Seen::Changed { pinned: pinned.clone(), presented });
                Err(rustls::Error::General("the lobby's certificate changed".into()))
            }
            (_, None) if self.tofu => {
                self.note(Seen::FirstUse(presented));
                Ok(ServerCertVerified::assertion())
            }
            (chained, None) => {
                let reason = match chained {
                    Some(Err(e)) => e.to_string(),
                    _ => "no system CA certificates found".into(),
                };
                self.note(Seen::Untrusted { presented, reason });
                Err(rustls::Error::General("untrusted certificate".into()))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS stream type to the lobby.
pub type LobbyTlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Runs the TLS handshake on `tcp` and applies the trust rules.
pub async fn handshake(
    tcp: tokio::net::TcpStream,
    addr: &str,
    host: &str,
    options: &TlsOptions,
) -> Result<LobbyTlsStream, ClientError> {
    let provider = ring();
    let ca = match &options.ca {
        Some(path) => Some(ca_verifier(path, provider.clone())?),
        None => None,
    };
    let pin = match &options.known_lobbies {
        Some(file) => KnownLobbies::read(file).get(addr).map(str::to_owned),
        None => None,
    };
    let verifier = Arc::new(LobbyVerifier {
        provider: provider.clone(),
        ca,
        pin,
        tofu: options.known_lobbies.is_some(),
        trust_fingerprint: options.trust_fingerprint.clone(),
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Protocol(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ClientError::Protocol(format!("{host:?} is not a valid TLS server name")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = connector.connect(name, tcp).await;
    let seen = verifier.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let stream = match result {
        Ok(stream) => stream,
        Err(e) => {
            return Err(match seen {
                Some(Seen::Changed { pinned, presented }) => ClientError::Certificate(format!(
                    "the lobby at {addr} presented a TLS certificate ({presented}) other than the \
                     one pinned on first use ({pinned}{file}); someone may be intercepting the \
                     connection. If the lobby's admin replaced the certificate, check the new \
                     fingerprint with them, then run again with --trust-fingerprint {presented}",
                    file = pin_file_note(options),
                )),
                Some(Seen::Untrusted { presented, reason }) => ClientError::Certificate(format!(
                    "the lobby at {addr} presented a TLS certificate ({presented}) that is not \
                     trusted: {reason}"
                )),
                _ => ClientError::Connect { addr: addr.to_owned(), cause: e },
            });
        }
    };
    let save = match seen {
        Some(Seen::FirstUse(fp)) => {
            eprintln!(
                "note: trusting the lobby at {addr} on first use; its TLS certificate is {fp} \
                 (pinned{})",
                pin_file_note(options)
            );
            Some(fp)
        }
        Some(Seen::Accepted(fp)) => {
            eprintln!("note: the lobby at {addr} is now pinned to the TLS certificate {fp}");
            Some(fp)
        }
        _ => None,
    };
    if let (Some(fp), Some(file)) = (save, &options.known_lobbies) {
        let mut known = KnownLobbies::read(file);
        known.set(addr, &fp);
        known.write(file).map_err(ClientError::Io)?;
    }
    Ok(stream)
}

fn pin_file_note(options: &TlsOptions) -> String {
    match &options.known_lobbies {
        Some(file) => format!(" in {}", file.display()),
        None => String::new(),
    }
}

fn ca_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ClientError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            ClientError::Certificate(format!("cannot read the CA file {}: {e}", path.display()))
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ClientError::Certificate(format!("bad PEM in the CA file {}: {e}", path.display()))
        })?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ClientError::Certificate(format!("no CA certificate in {}", path.display())));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| ClientError::Certificate(format!("the CA file {}: {e}", path.display())))
}

/// The `known_lobbies` file: one `HOST:PORT SHA256:<hex>` line per lobby.
#[derive(Debug, Default)]
struct KnownLobbies {
    lines: Vec<(String, String)>,
}

impl KnownLobbies {
    fn read(path: &Path) -> KnownLobbies {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines = text
            .lines()
            .filter_map(|line| {
                let (addr, fp) = line.trim().split_once(char::is_whitespace)?;
                Some((addr.to_owned(), fp.trim().to_owned()))
            })
            .collect();
        KnownLobbies { lines }
    }

    fn get(&self, addr: &str) -> Option<&str> {
        self.lines.iter().find(|(a, _)| a == addr).map(|(_, fp)| fp.as_str())
    }

    fn set(&mut self, addr: &str, fp: &str) {
        self.lines.retain(|(a, _)| a != addr);
        self.lines.push((addr.to_owned(), fp.to_owned()));
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        for (addr, fp) in &self.lines {
            writeln!(file, "{addr} {fp}")?;
        }
        file.sync_all()?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let cases = [
            ("127.0.0.1:8888", Target::Plain { addr: "127.0.0.1:8888".into() }),
            (
                "tls://example.org:8888",
                Target::Tls { addr: "example.org:8888".into(), host: "example.org".into() },
            ),
            ("tls://[::1]:8888", Target::Tls { addr: "[::1]:8888".into(), host: "::1".into() }),
        ];
        for (input, expect) in cases {
            assert_eq!(Target::parse(input), expect, "{input}");
        }
    }

    #[test]
    fn known_lobbies_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_lobbies");
        let mut known = KnownLobbies::read(&file);
        assert_eq!(known.get("a:1"), None);
        known.set("a:1", "SHA256:aa");
        known.set("b:2", "SHA256:bb");
        known.set("a:1", "SHA256:cc");
        known.write(&file).unwrap();
        let again = KnownLobbies::read(&file);
        assert_eq!(again.get("a:1"), Some("SHA256:cc"));
        assert_eq!(again.get("b:2"), Some("SHA256:bb"));
    }
}
