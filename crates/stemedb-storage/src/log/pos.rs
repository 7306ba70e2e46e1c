//! Positions in the log.

/// Where a frame starts: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPos {
    /// Segment number (file `NNNNNNNNNN.seg`).
    pub segment: u32,
    /// Byte offset of the frame header.
    pub offset: u32,
}

impl LogPos {
    /// The start of the log (replay from here covers every record).
    pub const START: LogPos = LogPos {
        segment: 0,
        offset: 0,
    };

    /// Log bytes from here to `end`, counting segments in between as full
    /// (`segment_size`): an estimate, exact within one segment.
    pub fn bytes_until(self, end: LogPos, segment_size: u64) -> u64 {
        if end.segment > self.segment {
            u64::from(end.segment - self.segment) * segment_size + u64::from(end.offset)
                - u64::from(self.offset).min(segment_size)
        } else if end.segment == self.segment {
            u64::from(end.offset.saturating_sub(self.offset))
        } else {
            0
        }
    }

    /// 8 bytes, big-endian so byte order is log order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    /// One word, `segment << 32 | offset`, so an atomic holds a position
    /// and one load reads both halves.
    pub fn packed(self) -> u64 {
        (u64::from(self.segment) << 32) | u64::from(self.offset)
    }

    /// Inverse of [`Self::packed`].
    pub fn from_packed(v: u64) -> Self {
        LogPos {
            segment: (v >> 32) as u32,
            offset: v as u32,
        }
    }

    /// Inverse of [`Self::to_bytes`]; `None` unless exactly 8 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: [u8; 8] = b.try_into().ok()?;
        Some(LogPos {
            segment: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            offset: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

impl std::fmt::Display for LogPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}
