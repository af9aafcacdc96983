//! Developer signatures: Ed25519 over the exact manifest bytes, key
//! rotation statements signed by the old key, and key fingerprints.

use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// Prefixed to the manifest bytes before signing, so a manifest signature
/// can never be taken for a signature of anything else.
pub const MANIFEST_DOMAIN: &[u8] = b"gamestore manifest v2\n";
/// Prefixed to a rotation statement's bytes before signing.
pub const ROTATION_DOMAIN: &[u8] = b"gamestore key rotation v1\n";

/// Why a key, a signature or a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not the hex of an Ed25519 public key")]
    BadKey,
    #[error("not the hex of an Ed25519 signature")]
    BadSignatureEncoding,
    #[error("the signature does not match")]
    BadSignature,
    #[error("not a key rotation statement: {0}")]
    BadStatement(String),
}

fn domain_message(domain: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + bytes.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(bytes);
    message
}

/// Signs the exact bytes of a serialized manifest.
pub fn sign_manifest(key: &SigningKey, manifest_bytes: &[u8]) -> Signature {
    key.sign(&domain_message(MANIFEST_DOMAIN, manifest_bytes))
}

/// Checks a manifest signature over the exact bytes received, before
/// anything is parsed from them.
pub fn verify_manifest(
    key: &VerifyingKey,
    manifest_bytes: &[u8],
    signature: &Signature,
) -> Result<(), KeyError> {
    key.verify_strict(&domain_message(MANIFEST_DOMAIN, manifest_bytes), signature)
        .map_err(|_| KeyError::BadSignature)
}

/// "The developer `developer` replaces `old_key` by `new_key`", signed by
/// the old key. Keys are hex, `at` unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationStatement {
    pub developer: String,
    pub old_key: String,
    pub new_key: String,
    pub at: u64,
}

impl RotationStatement {
    /// The bytes that are signed and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serializes")
    }

    /// Parses statement bytes (keys checked to be keys).
    pub fn parse(bytes: &[u8]) -> Result<RotationStatement, KeyError> {
        if bytes.len() > 4096 {
            return Err(KeyError::BadStatement("longer than 4096 bytes".into()));
        }
        let statement: RotationStatement =
            serde_json::from_slice(bytes).map_err(|e| KeyError::BadStatement(e.to_string()))?;
        parse_key_hex(&statement.old_key)?;
        parse_key_hex(&statement.new_key)?;
        Ok(statement)
    }
}

/// Signs a rotation statement's bytes with the old key.
pub fn sign_rotation(old_key: &SigningKey, statement_bytes: &[u8]) -> Signature {
    old_key.sign(&domain_message(ROTATION_DOMAIN, statement_bytes))
}

/// Parses a rotation statement and checks it is signed by the `old_key` it
/// names. The caller still checks that `old_key` is the key it trusted and
/// that `developer` is who it expects.
pub fn verify_rotation(
    statement_bytes: &[u8],
    signature: &Signature,
) -> Result<RotationStatement, KeyError> {
    let statement = RotationStatement::parse(statement_bytes)?;
    let old = parse_key_hex(&statement.old_key)?;
    old.verify_strict(&domain_message(ROTATION_DOMAIN, statement_bytes), signature)
        .map_err(|_| KeyError::BadSignature)?;
    Ok(statement)
}

/// `SHA256:<hex>` of the 32 public-key bytes: what people compare.
pub fn key_fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// 64 lowercase hex digits of a public key.
pub fn key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses a public key written as 64 hex digits.
pub fn parse_key_hex(text: &str) -> Result<VerifyingKey, KeyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::BadKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadKey)
}

/// 128 lowercase hex digits of a signature.
pub fn signature_hex(signature: &Signature) -> String {
    hex::encode(signature.to_bytes())
}

/// Parses a signature written as 128 hex digits.
pub fn parse_signature_hex(text: &str) -> Result<Signature, KeyError> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::BadSignatureEncoding)?;
    Ok(Signature::from_bytes(&bytes))
}
