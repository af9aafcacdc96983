//! Frames: the unit of transmission on a lobby connection.
//!
//! Every frame is a 4-byte big-endian length `N` followed by `N` bytes of
//! body. The first body byte is the frame kind:
//!
//! | kind | body after the kind byte |
//! |------|--------------------------|
//! | `1` (message) | one UTF-8 JSON object (see [`crate::message`]) |
//! | `2` (binary)  | a 4-byte big-endian request id, then raw bytes |
//!
//! Binary frames carry file contents (uploads and downloads) without any
//! text encoding; the request id ties them to the request that started the
//! transfer, so server events may interleave with a download.
//!
//! Decoding never trusts the length: a length beyond [`MAX_FRAME_LEN`] is an
//! error before any body byte is buffered. Encoding never exceeds it either:
//! a frame that would be larger is [`FrameError::TooLarge`], not a panic, so a
//! reply that cannot fit becomes an error reply (see
//! [`crate::ServerMessage::reply_frame`]) instead of taking its connection down.

use std::fmt;

/// Largest frame body (kind byte included) either side may send.
pub const MAX_FRAME_LEN: usize = 1024 * 1024 + 64;

/// Largest payload of one binary frame. Senders split files into chunks of
/// at most this size.
pub const MAX_CHUNK_LEN: usize = 256 * 1024;

const KIND_MESSAGE: u8 = 1;
pub(crate) const KIND_BINARY: u8 = 2;

/// One decoded frame.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON message (request, reply or event), still as bytes.
    Message(Vec<u8>),
    /// A chunk of a file transfer belonging to request `id`.
    Binary { id: u32, data: Vec<u8> },
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Message(json) => write!(f, "Message({})", String::from_utf8_lossy(json)),
            Frame::Binary { id, data } => write!(f, "Binary {{ id: {id}, len: {} }}", data.len()),
        }
    }
}

/// Why a byte stream is not a valid sequence of frames.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends inside a frame: read more bytes and try again.
    /// This is not a failure of the peer.
    #[error("incomplete frame")]
    Incomplete,
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    /// Longer than a limit the reader set below [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes at this point")]
    OverLimit { len: usize, max: usize },
    #[error("empty frame")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("binary frame shorter than its request id")]
    ShortBinary,
}

impl Frame {
    /// Decodes one frame from the start of `buf`.
    ///
    /// Returns the frame and how many bytes it used, or
    /// [`FrameError::Incomplete`] when `buf` does not hold a whole frame yet.
    pub fn decode(buf: &[u8]) -> Result<(Frame, usize), FrameError> {
        Frame::decode_limited(buf, MAX_FRAME_LEN)
    }

    /// [`Frame::decode`] with a smaller limit than [`MAX_FRAME_LEN`] (the
    /// lobby's limit before HELLO): a longer frame is
    /// [`FrameError::TooLarge`] as soon as its length is known.
    pub fn decode_limited(buf: &[u8], max_len: usize) -> Result<(Frame, usize), FrameError> {
        if buf.len() < 4 {
            return Err(FrameError::Incomplete);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if len > max_len {
            return Err(FrameError::OverLimit { len, max: max_len });
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if buf.len() < 4 + len {
            return Err(FrameError::Incomplete);
        }
        let body = &buf[4..4 + len];
        let frame = match body[0] {
            KIND_MESSAGE => Frame::Message(body[1..].to_vec()),
            KIND_BINARY => {
                if body.len() < 5 {
                    return Err(FrameError::ShortBinary);
                }
                let id = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
                Frame::Binary { id, data: body[5..].to_vec() }
            }
            other => return Err(FrameError::UnknownKind(other)),
        };
        Ok((frame, 4 + len))
    }

    /// Appends the encoded frame to `out`.
    ///
    /// [`FrameError::TooLarge`] (and `out` unchanged) when the frame would be
    /// larger than [`MAX_FRAME_LEN`]: senders page their lists and chunk
    /// their data so that this does not happen.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        match self {
            Frame::Message(json) => encode_message(json, out),
            Frame::Binary { id, data } => encode_binary(*id, data, out),
        }
    }

    /// The encoded frame as a new buffer; [`FrameError::TooLarge`] as for
    /// [`Frame::encode`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// Appends a message frame holding `json` to `out`; [`FrameError::TooLarge`]
/// (and `out` unchanged) when it would exceed [`MAX_FRAME_LEN`].
pub fn encode_message(json: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = json.len() + 1;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(KIND_MESSAGE);
    out.extend_from_slice(json);
    Ok(())
}

/// Appends a binary frame for request `id` holding `data` to `out`;
/// [`FrameError::TooLarge`] (and `out` unchanged) when it would exceed
/// [`MAX_FRAME_LEN`].
pub fn encode_binary(id: u32, data: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = data.len() + 5;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(KIND_BINARY);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The first bytes of a binary frame for request `id` whose payload of
/// `len` bytes is sent separately (straight from a file);
/// [`FrameError::TooLarge`] when the frame would exceed [`MAX_FRAME_LEN`].
pub fn binary_frame_header(id: u32, len: usize) -> Result<[u8; 9], FrameError> {
    let body = len + 5;
    if body > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(body));
    }
    let mut header = [0u8; 9];
    header[..4].copy_from_slice(&(body as u32).to_be_bytes());
    header[4] = KIND_BINARY;
    header[5..].copy_from_slice(&id.to_be_bytes());
    Ok(header)
}

/// Reads the next `len` bytes of `reader` straight into a new binary frame
/// for request `id` (no copy through another buffer); `UnexpectedEof` when
/// the reader ends first, `InvalidInput` when the frame would exceed
/// [`MAX_FRAME_LEN`].
pub fn read_binary_frame(
    reader: &mut impl std::io::Read,
    id: u32,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if len + 5 > MAX_FRAME_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            FrameError::TooLarge(len + 5),
        ));
    }
    let mut frame = Vec::with_capacity(9 + len);
    frame.extend_from_slice(&((len + 5) as u32).to_be_bytes());
    frame.push(KIND_BINARY);
    frame.extend_from_slice(&id.to_be_bytes());
    reader.take(len as u64).read_to_end(&mut frame)?;
    if frame.len() != 9 + len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_followed_by_its_payload_is_a_binary_frame() {
        let data = vec![7u8; 300];
        let mut bytes = binary_frame_header(42, data.len()).unwrap().to_vec();
        bytes.extend_from_slice(&data);
        let mut encoded = Vec::new();
        encode_binary(42, &data, &mut encoded).unwrap();
        assert_eq!(bytes, encoded);
        assert!(matches!(binary_frame_header(1, MAX_FRAME_LEN), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn a_binary_frame_read_from_a_reader_decodes_to_its_bytes() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut reader = &data[..];
        let frame = read_binary_frame(&mut reader, 7, 600).unwrap();
        assert_eq!(
            Frame::decode(&frame),
            Ok((Frame::Binary { id: 7, data: data[..600].to_vec() }, frame.len()))
        );
        let short = read_binary_frame(&mut reader, 7, 401).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
        let over = read_binary_frame(&mut &data[..], 7, MAX_FRAME_LEN).unwrap_err();
        assert_eq!(over.kind(), std::io::ErrorKind::InvalidInput);
    }

    fn check_round_trip(frame: Frame) {
        let bytes = frame.to_bytes().unwrap();
        assert_eq!(Frame::decode(&bytes), Ok((frame.clone(), bytes.len())));
        // Every strict prefix is incomplete, never an error or a frame.
        for cut in 0..bytes.len() {
            assert_eq!(Frame::decode(&bytes[..cut]), Err(FrameError::Incomplete), "cut at {cut}");
        }
    }

    #[test]
    fn round_trips() {
        check_round_trip(Frame::Message(br#"{"type":"HELLO"}"#.to_vec()));
        check_round_trip(Frame::Message(Vec::new()));
        check_round_trip(Frame::Binary { id: 7, data: vec![0, 1, 2, 255] });
        check_round_trip(Frame::Binary { id: u32::MAX, data: Vec::new() });
        check_round_trip(Frame::Binary { id: 1, data: vec![9; MAX_CHUNK_LEN] });
    }

    #[test]
    fn two_frames_back_to_back() {
        let mut bytes = Frame::Message(b"{}".to_vec()).to_bytes().unwrap();
        Frame::Binary { id: 3, data: b"abc".to_vec() }.encode(&mut bytes).unwrap();
        let (first, used) = Frame::decode(&bytes).unwrap();
        assert_eq!(first, Frame::Message(b"{}".to_vec()));
        let (second, used2) = Frame::decode(&bytes[used..]).unwrap();
        assert_eq!(second, Frame::Binary { id: 3, data: b"abc".to_vec() });
        assert_eq!(used + used2, bytes.len());
    }

    #[test]
    fn bad_frames() {
        let check = |bytes: &[u8], expect: FrameError| {
            assert_eq!(Frame::decode(bytes), Err(expect), "{bytes:?}");
        };
        check(&[0, 0, 0, 0], FrameError::Empty);
        check(&[0xff, 0xff, 0xff, 0xff], FrameError::TooLarge(u32::MAX as usize));
        let over = (MAX_FRAME_LEN + 1) as u32;
        check(&over.to_be_bytes(), FrameError::TooLarge(MAX_FRAME_LEN + 1));
        check(&[0, 0, 0, 1, 9], FrameError::UnknownKind(9));
        check(&[0, 0, 0, 3, 2, 0, 0], FrameError::ShortBinary);
    }

    #[test]
    fn a_smaller_limit_refuses_longer_frames_from_their_header() {
        let frame = Frame::Message(vec![b' '; 100]).to_bytes().unwrap();
        assert!(Frame::decode_limited(&frame, 101).is_ok());
        assert_eq!(
            Frame::decode_limited(&frame[..4], 100),
            Err(FrameError::OverLimit { len: 101, max: 100 })
        );
        // A limit above the protocol's is the protocol's.
        let over = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        assert_eq!(
            Frame::decode_limited(&over, usize::MAX),
            Err(FrameError::TooLarge(MAX_FRAME_LEN + 1))
        );
    }

    /// Limits are errors, not asserts: the largest frame encodes, one byte
    /// more is refused and leaves the output untouched.
    #[test]
    fn oversized_frames_are_refused_not_panics() {
        let fits = Frame::Message(vec![b' '; MAX_FRAME_LEN - 1]);
        assert_eq!(fits.to_bytes().unwrap().len(), 4 + MAX_FRAME_LEN);
        let mut out = b"kept".to_vec();
        let over = Frame::Message(vec![b' '; MAX_FRAME_LEN]);
        assert_eq!(over.encode(&mut out), Err(FrameError::TooLarge(MAX_FRAME_LEN + 1)));
        let over = Frame::Binary { id: 1, data: vec![0; MAX_FRAME_LEN - 4] };
        assert_eq!(over.encode(&mut out), Err(FrameError::TooLarge(MAX_FRAME_LEN + 1)));
        assert_eq!(out, b"kept");
    }
}
