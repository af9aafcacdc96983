//! Payloads of the chunked distribution messages: developer keys, signed
//! publishes chunk by chunk, and manifests and chunks for installs.
//!
//! Bytes that follow a request or a reply (manifest, chunks) travel as
//! binary frames carrying the request's id, like GAME_UPLOAD's zip.

use serde::{Deserialize, Serialize};

pub use gamestore_package::chunked::ChunkHash;

use crate::types::PublishReply;

/// Most chunks one CHUNK_GET may name.
pub const CHUNK_GET_MAX_CHUNKS: usize = 64;
/// Most bytes (uncompressed sizes added up) one CHUNK_GET may ask for.
pub const CHUNK_GET_MAX_BYTES: u64 = 8 << 20;

/// DEV_KEY_REGISTER: the developer's Ed25519 public key, 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevKeyRegister {
    pub key: String,
}

/// The developer's key is registered (or rotated) : its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReply {
    /// `SHA256:<hex>` of the key.
    pub fingerprint: String,
}

/// DEV_KEY_ROTATE: replace the current key by the statement's `new_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevKeyRotate {
    /// The statement's JSON bytes, as signed.
    pub statement: String,
    /// Hex of the current (old) key's signature over the statement.
    pub signature: String,
}

/// PUBLISH_BEGIN: announces a signed manifest of `size` bytes, which
/// follow at once as binary frames with this request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishBegin {
    pub id: String,
    pub version: String,
    pub size: u64,
    /// Hex of the Ed25519 signature over the manifest bytes.
    pub signature: String,
}

/// What the lobby needs to complete a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishPlan {
    /// Token for CHUNK_PUT and PUBLISH_DONE on this connection.
    pub publish: u64,
    /// Distinct chunks in the manifest, in order of first appearance.
    pub chunks: u64,
    /// `[start, count]` ranges of indices into that list the lobby lacks.
    pub missing: Vec<[u64; 2]>,
    /// Largest payload per binary frame.
    pub max_chunk: u32,
}

/// CHUNK_PUT: chunk `index` of the publish's distinct list; `size` stored
/// bytes (zstd frame if `compressed`) follow as binary frames with this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPut {
    pub publish: u64,
    pub index: u64,
    #[serde(default)]
    pub compressed: bool,
    pub size: u32,
}

/// PUBLISH_DONE: every chunk is sent; make the version visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishDone {
    pub publish: u64,
}

/// The version is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishDoneReply {
    #[serde(flatten)]
    pub published: PublishReply,
    /// Chunk bytes as sent by this connection for this publish.
    pub uploaded_bytes: u64,
}

/// MANIFEST_GET: a version's manifest and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestGet {
    pub id: String,
    pub version: String,
}

/// A key rotation statement and the old key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The statement's JSON bytes.
    pub statement: String,
    /// Hex of the signature.
    pub signature: String,
}

/// The manifest follows: `size` bytes in binary frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestReady {
    pub size: u64,
    /// Hex; empty when the version is unsigned.
    pub signature: String,
    /// Hex of the signing key; empty when unsigned.
    pub key: String,
    /// The chain from the developer's first key to `key`, oldest first.
    #[serde(default)]
    pub rotations: Vec<Rotation>,
    /// `SHA256:<hex>` of `key`; `null` when unsigned.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// CHUNK_GET: chunks of one version's manifest, each named once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkGet {
    pub id: String,
    pub version: String,
    pub chunks: Vec<ChunkHash>,
    /// Send each chunk's raw bytes even where a zstd frame of it is stored:
    /// what a launcher on the lobby's own machine asks for, since moving
    /// bytes there costs less than inflating them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

/// The chunks follow back to back, in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunksReady {
    pub chunks: Vec<ChunkSent>,
}

/// One chunk as it is sent: its stored bytes, raw or a zstd frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSent {
    pub hash: ChunkHash,
    /// Uncompressed size.
    pub size: u32,
    pub compressed: bool,
    /// Bytes on the wire for this chunk.
    pub stored_size: u32,
}
