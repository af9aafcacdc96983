//! How a chunk is stored and sent: raw, or one zstd frame when that pays.

use std::cell::RefCell;

use zstd::zstd_safe;

/// Bytes of each of the three samples [`compress_chunk`] tries first.
const SAMPLE: usize = 8 * 1024;
/// The zstd level chunks are compressed with.
const LEVEL: i32 = 1;

thread_local! {
    // One context per thread, reused: creating one costs more than
    // compressing a small chunk.
    static COMPRESSOR: RefCell<zstd_safe::CCtx<'static>> = RefCell::new(zstd_safe::CCtx::create());
    static DECOMPRESSOR: RefCell<zstd_safe::DCtx<'static>> = RefCell::new(zstd_safe::DCtx::create());
}

/// `data` compressed into at most `limit` bytes, or `None` when it does not
/// fit (zstd stops as soon as the output is full).
fn compress_within(data: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(limit);
    COMPRESSOR.with(|c| c.borrow_mut().compress(&mut out, data, LEVEL)).ok().map(|_| out)
}

/// Compresses `data` with zstd level 1 when that shrinks it by at least an
/// eighth; `None` means "send and store it raw".
///
/// A chunk of at least eight samples is first judged by three 8 KiB
/// samples (its start, middle and end) compressed together: when they do
/// not shrink by a sixteenth, the chunk is taken as incompressible without
/// compressing the whole of it (media, archives and encrypted data cost a
/// 24 KiB probe instead of a full pass). A chunk whose samples are noise but
/// whose other parts would compress is sent raw: it costs bandwidth, never
/// correctness.
pub fn compress_chunk(data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || looks_incompressible(data) {
        return None;
    }
    compress_within(data, data.len() - data.len() / 8)
}

fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() < 8 * SAMPLE {
        return false;
    }
    let middle = data.len() / 2 - SAMPLE / 2;
    let mut sample = Vec::with_capacity(3 * SAMPLE);
    for at in [0, middle, data.len() - SAMPLE] {
        sample.extend_from_slice(&data[at..at + SAMPLE]);
    }
    compress_within(&sample, sample.len() - sample.len() / 16).is_none()
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

/// Inflates zstd data that must produce exactly `size` bytes, in one pass
/// into a buffer of `size + 1` bytes: it never produces more (a bomb stops
/// when the buffer is full). A frame header that announces another size is
/// refused before anything is inflated.
pub fn inflate_chunk(stored: &[u8], size: u32) -> Result<Vec<u8>, ChunkCodecError> {
    match zstd_safe::get_frame_content_size(stored) {
        Ok(Some(n)) if n > u64::from(size) => return Err(ChunkCodecError::TooLarge(size)),
        Ok(Some(n)) if n < u64::from(size) => {
            return Err(ChunkCodecError::WrongSize { expected: size, got: n as usize });
        }
        Ok(_) => {}
        Err(_) => return Err(ChunkCodecError::Corrupt("no zstd frame header".into())),
    }
    let mut out: Vec<u8> = Vec::with_capacity(size as usize + 1);
    match DECOMPRESSOR.with(|d| d.borrow_mut().decompress(&mut out, stored)) {
        Ok(n) if n > size as usize => Err(ChunkCodecError::TooLarge(size)),
        Ok(n) if n < size as usize => Err(ChunkCodecError::WrongSize { expected: size, got: n }),
        Ok(_) => Ok(out),
        Err(code) if is_output_full(code) => Err(ChunkCodecError::TooLarge(size)),
        Err(code) => Err(ChunkCodecError::Corrupt(zstd_safe::get_error_name(code).to_owned())),
    }
}

fn is_output_full(code: zstd_safe::ErrorCode) -> bool {
    // SAFETY: ZSTD_getErrorCode only reads the number it is given.
    let kind = unsafe { zstd_safe::zstd_sys::ZSTD_getErrorCode(code) };
    kind == zstd_safe::zstd_sys::ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall
}
