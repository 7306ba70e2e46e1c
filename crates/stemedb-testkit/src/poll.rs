//! Waiting for a condition with a deadline.

use std::thread;
use std::time::{Duration, Instant};

/// Polls `f` every 200 ms until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(200));
    }
}
