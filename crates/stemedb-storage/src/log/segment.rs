//! Segment file format: a 16-byte header, then frames.
//!
//! Header: `"STEMELOG"` ‖ format version u32 LE ‖ segment number u32 LE.
//! Frame: payload length u32 LE ‖ CRC32C(length bytes ‖ payload) u32 LE ‖ payload.
//! The payload is a stored record (`flags ‖ [signature] ‖ canonical bytes`).

/// File magic.
pub const MAGIC: [u8; 8] = *b"STEMELOG";
/// Segment format version.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first frame.
pub const HEADER_LEN: u64 = 16;
/// Bytes of a frame before its payload.
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest payload a frame may carry; anything larger is corruption.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// First payload byte of a commit-time marker frame. Record payloads start
/// with their flags byte, which only ever uses bit 0, so the two never collide.
pub const COMMIT_MARKER_FLAG: u8 = 0x80;
/// Payload length of a commit-time marker: flag ‖ commit time (i64 LE, ms).
pub const COMMIT_MARKER_LEN: usize = 9;
/// Bytes a commit-time marker frame takes in a segment.
pub const COMMIT_MARKER_FRAME_LEN: usize = FRAME_HEADER_LEN + COMMIT_MARKER_LEN;

/// Appends a commit-time marker frame: every record frame after it (up to the
/// next marker) was committed at `commit_ms`.
pub fn write_commit_marker(out: &mut Vec<u8>, commit_ms: i64) {
    write_frame(out, COMMIT_MARKER_LEN, |o| {
        o.push(COMMIT_MARKER_FLAG);
        o.extend_from_slice(&commit_ms.to_le_bytes());
    });
}

/// The commit time carried by a marker payload; `None` for a record payload.
pub fn commit_marker(payload: &[u8]) -> Option<i64> {
    match payload {
        [COMMIT_MARKER_FLAG, rest @ ..] if rest.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(rest);
            Some(i64::from_le_bytes(b))
        }
        _ => None,
    }
}

/// The header of segment `number`.
pub fn header(number: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&number.to_le_bytes());
    h
}

/// Checks a header; returns why it is wrong.
pub fn check_header(bytes: &[u8], number: u32) -> Result<(), String> {
    if bytes.len() < HEADER_LEN as usize {
        return Err(format!("header truncated ({} bytes)", bytes.len()));
    }
    if bytes[..8] != MAGIC {
        return Err("bad magic: not a StemeDB log segment".into());
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    let n = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if n != number {
        return Err(format!("header says segment {n}, file name says {number}"));
    }
    Ok(())
}

fn crc(len: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len), payload)
}

/// Appends one frame around `payload` (written by `fill`, `len` bytes long).
pub fn write_frame(out: &mut Vec<u8>, len: usize, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    fill(out);
    debug_assert_eq!(out.len() - start - FRAME_HEADER_LEN, len);
    let len_bytes = (len as u32).to_le_bytes();
    let c = crc(len_bytes, &out[start + FRAME_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&c.to_le_bytes());
}

/// Outcome of decoding the frame at the start of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, verified frame; `total` bytes long including its header.
    Ok {
        /// The payload.
        payload: &'a [u8],
        /// Frame length including header.
        total: usize,
    },
    /// The buffer ends inside the frame.
    Truncated,
    /// The frame is damaged.
    Bad(String),
}

/// Decodes and verifies the frame at the start of `buf`.
pub fn read_frame(buf: &[u8]) -> Frame<'_> {
    if buf.len() < FRAME_HEADER_LEN {
        return Frame::Truncated;
    }
    let len_bytes = [buf[0], buf[1], buf[2], buf[3]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    let stored_crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Bad(format!("implausible frame length {len}"));
    }
    let Some(payload) = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Frame::Truncated;
    };
    if crc(len_bytes, payload) != stored_crc {
        return Frame::Bad("CRC32C mismatch".into());
    }
    Frame::Ok {
        payload,
        total: FRAME_HEADER_LEN + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_damage() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 5, |o| o.extend_from_slice(b"hello"));
        assert_eq!(
            read_frame(&buf),
            Frame::Ok {
                payload: b"hello",
                total: 13
            }
        );
        assert_eq!(read_frame(&buf[..10]), Frame::Truncated);
        let mut bad = buf.clone();
        bad[9] ^= 1;
        assert!(matches!(read_frame(&bad), Frame::Bad(_)));
        assert!(check_header(&header(7), 7).is_ok());
        assert!(check_header(&header(7), 8).is_err());
        assert!(check_header(b"STEMELOG", 1).is_err());
        let mut m = Vec::new();
        write_commit_marker(&mut m, 1_700_000_000_123);
        assert_eq!(m.len(), COMMIT_MARKER_FRAME_LEN);
        match read_frame(&m) {
            Frame::Ok { payload, .. } => {
                assert_eq!(commit_marker(payload), Some(1_700_000_000_123));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(commit_marker(b"\x00abcdefgh"), None);
    }
}
