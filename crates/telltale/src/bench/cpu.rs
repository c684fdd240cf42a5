//! CPU time read from `/proc`, so the bench can report telltale's own cost per item without
//! `unsafe` (`getrusage` would need libc).
//!
//! The generator thread's time comes from `/proc/thread-self/schedstat` (nanoseconds on the CPU,
//! kept by the scheduler), falling back to `/proc/thread-self/stat` ticks. The whole process's
//! comes from `/proc/self/stat`, which also counts threads that have exited.

use std::time::Duration;

/// Linux reports `utime`/`stime` in `USER_HZ` ticks, 100 per second on every architecture Linux
/// exposes to user space (the kernel scales its internal HZ to it).
const USER_HZ: u64 = 100;

/// CPU time the calling thread has used, or `None` off Linux.
pub fn thread_cpu() -> Option<Duration> {
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            return Some(Duration::from_nanos(ns));
        }
    }
    ticks_of(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// CPU time (user plus system) of this whole process, or `None` off Linux.
pub fn process_cpu() -> Option<Duration> {
    ticks_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// CPU time (user plus system) of process `pid`, from `/proc/<pid>/stat`.
pub fn pid_cpu(pid: u32) -> Option<Duration> {
    ticks_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` of a `stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn ticks_of(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "42 (a b) c)) R 1 1 1 0 -1 4194304 99 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(ticks_of(line), Some(Duration::from_millis(3000)));
        assert_eq!(ticks_of("garbage"), None);
    }

    #[test]
    fn this_process_and_thread_have_used_some_cpu() {
        // Burn a little so even tick resolution moves.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu().is_some_and(|d| d > Duration::ZERO));
        assert!(process_cpu().is_some());
        assert!(pid_cpu(std::process::id()).is_some());
    }
}
