//! The generator's log lines: exactly `line_bytes` long, carrying the run id and a sequence
//! number up front so a read-back can account for each one, then log-like filler.
//!
//! Filler is drawn once from a word list with a xorshift generator and sliced per line, so a
//! line costs a copy, not a random draw per word, and it compresses like real logs rather than
//! like a repeated byte (which would flatter snappy and understate the wire size).

/// Bytes of the fixed header: run id (11), space, 12 sequence digits, space.
const SEQ_DIGITS: usize = 12;

const WORDS: &[&str] = &[
    "request",
    "served",
    "user",
    "session",
    "GET",
    "POST",
    "/api/v1/items",
    "200",
    "404",
    "took",
    "ms",
    "cache",
    "miss",
    "hit",
    "db",
    "query",
    "rows=12",
    "sync",
    "ok",
    "retry",
    "backoff",
    "latency_us=8731",
    "bytes=5120",
    "level=info",
    "level=warn",
];

/// Makes and reads back the lines of one run.
#[derive(Debug, Clone)]
pub struct LineMaker {
    prefix: String,
    line_bytes: usize,
    filler: String,
}

impl LineMaker {
    /// Lines of `line_bytes` bytes tagged with `run_id`; `None` when `line_bytes` cannot hold
    /// the tag (see [`LineMaker::min_bytes`]).
    pub fn new(run_id: &str, line_bytes: usize) -> Option<LineMaker> {
        if line_bytes < LineMaker::min_bytes(run_id) {
            return None;
        }
        let mut filler = String::with_capacity(64 * 1024 + line_bytes);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while filler.len() < 64 * 1024 + line_bytes {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            filler.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
            filler.push(' ');
        }
        Some(LineMaker {
            prefix: format!("{run_id} "),
            line_bytes,
            filler,
        })
    }

    /// The shortest line that carries `run_id` and a sequence number.
    pub fn min_bytes(run_id: &str) -> usize {
        run_id.len() + 1 + SEQ_DIGITS + 1
    }

    /// Bytes per line.
    pub fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// Line number `seq`: `<run> <seq, 12 digits> <filler>`, exactly `line_bytes` long.
    pub fn line(&self, seq: u64) -> String {
        let mut line = String::with_capacity(self.line_bytes);
        line.push_str(&self.prefix);
        let mut digits = [b'0'; SEQ_DIGITS];
        let mut n = seq;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // Twelve ASCII digits are valid UTF-8; the fallback is unreachable.
        line.push_str(std::str::from_utf8(&digits).unwrap_or("000000000000"));
        line.push(' ');
        let rest = self.line_bytes - line.len();
        // A different window per line (a prime stride over 64 KiB), all ASCII, so any cut is a
        // char boundary.
        let start = ((seq.wrapping_mul(7919)) % (64 * 1024)) as usize;
        line.push_str(&self.filler[start..start + rest]);
        line
    }

    /// The sequence number of a line of this run, or `None` for a line that is not one.
    pub fn seq_of(&self, line: &str) -> Option<u64> {
        let rest = line.strip_prefix(self.prefix.as_str())?;
        let digits = rest.get(..SEQ_DIGITS)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_length_asked_and_read_back() {
        let m = LineMaker::new("tt-0000abcd", 100).unwrap();
        for seq in [0, 1, 42, 999_999_999_999, 123_456] {
            let line = m.line(seq);
            assert_eq!(line.len(), 100);
            assert_eq!(m.seq_of(&line), Some(seq), "{line}");
        }
        assert_ne!(m.line(1)[25..], m.line(2)[25..], "filler varies per line");
        let other = LineMaker::new("tt-ffffffff", 100).unwrap();
        assert_eq!(
            other.seq_of(&m.line(7)),
            None,
            "another run's line is not ours"
        );
        assert_eq!(m.seq_of("tt-0000abcd 12x"), None);
    }

    #[test]
    fn too_short_lines_are_refused() {
        let min = LineMaker::min_bytes("tt-0000abcd");
        assert_eq!(min, 25);
        assert!(LineMaker::new("tt-0000abcd", min - 1).is_none());
        let m = LineMaker::new("tt-0000abcd", min).unwrap();
        assert_eq!(m.line(5), "tt-0000abcd 000000000005 ");
        assert!(LineMaker::new("tt-0000abcd", 256 * 1024).is_some());
    }
}
