//! How a chunk is stored and sent: raw, or one zstd frame when that pays.

use std::io::Read;

/// Compresses `data` with zstd level 1 when that shrinks it by at least an
/// eighth; `None` means "send and store it raw".
pub fn compress_chunk(data: &[u8]) -> Option<Vec<u8>> {
    let packed = zstd::bulk::compress(data, 1).ok()?;
    (packed.len() <= data.len() - data.len() / 8 && !data.is_empty()).then_some(packed)
}

/// Why stored chunk bytes could not be turned back into the chunk.
#[derive(Debug, thiserror::Error)]
pub enum ChunkCodecError {
    #[error("the chunk inflates to more than the {0} bytes its manifest names")]
    TooLarge(u32),
    #[error("the chunk inflates to {got} bytes, not the {expected} its manifest names")]
    WrongSize { expected: u32, got: usize },
    #[error("the chunk is not a valid zstd frame: {0}")]
    Corrupt(String),
}

/// Inflates one zstd frame that must produce exactly `size` bytes. Never
/// produces more than `size` bytes (a bomb is cut at `size + 1`).
pub fn inflate_chunk(stored: &[u8], size: u32) -> Result<Vec<u8>, ChunkCodecError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(stored)
        .map_err(|e| ChunkCodecError::Corrupt(e.to_string()))?
        .single_frame();
    let mut out = Vec::with_capacity(size as usize);
    decoder
        .take(u64::from(size) + 1)
        .read_to_end(&mut out)
        .map_err(|e| ChunkCodecError::Corrupt(e.to_string()))?;
    if out.len() > size as usize {
        return Err(ChunkCodecError::TooLarge(size));
    }
    if out.len() != size as usize {
        return Err(ChunkCodecError::WrongSize { expected: size, got: out.len() });
    }
    Ok(out)
}
