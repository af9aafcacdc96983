//! Content-addressed, signed versions: the format shared by `publish`, the
//! lobby's chunk store and the launcher's install.
//!
//! A version is a [`VersionManifest`]: its files, each a list of
//! content-defined chunks ([`chunk_file`], FastCDC) named by their BLAKE3
//! hash ([`ChunkHash`]). Identical chunks across versions and games are the
//! same bytes, so each is stored and sent once. A developer signs the exact
//! bytes of the serialized manifest ([`sign_manifest`]); the launcher checks
//! them ([`verify_manifest`]) before it reads anything else from them. A key
//! changes only through a [`RotationStatement`] signed by the old key.
//!
//! Chunks travel and rest either raw or as one zstd frame ([`compress_chunk`],
//! [`inflate_chunk`]); inflating is bounded by the size the manifest names.

mod chunker;
mod codec;
mod manifest;
mod signing;

pub use chunker::{
    AVG_CHUNK, ChunkHash, ChunkRef, MAX_CHUNK, MIN_CHUNK, chunk_bytes, chunk_file, chunk_folder,
    chunk_reader, hash_chunk, hash_chunk_parts, is_zero_chunk, zeros_hash,
};
pub use codec::{ChunkCodecError, compress_chunk, inflate_chunk};
pub use manifest::{
    FORMAT, MAX_FILE_BYTES, MAX_FILES, MAX_VERSION_MANIFEST_BYTES, ManifestFile, VersionManifest,
};
pub use signing::{
    KeyError, MANIFEST_DOMAIN, ROTATION_DOMAIN, RotationStatement, Signature, SigningKey,
    VerifyingKey, key_fingerprint, key_hex, parse_key_hex, parse_signature_hex, sign_manifest,
    sign_rotation, signature_hex, verify_manifest, verify_rotation,
};

#[cfg(test)]
mod tests;
