//! Times as people read them: "just now", "2 minutes ago", "in 5 minutes".
//! Times in JSON stay Unix milliseconds as strings.

/// "just now", "5 seconds ago", "in 2 minutes", ...
pub fn relative(now: u64, t: u64) -> String {
    let (d, future) = if t > now { (t - now, true) } else { (now - t, false) };
    let secs = d / 1000;
    if secs == 0 {
        return "just now".into();
    }
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative(10_000, 10_000), "just now");
        assert_eq!(relative(10_000, 9_000), "1 second ago");
        assert_eq!(relative(200_000, 80_000), "2 minutes ago");
        assert_eq!(relative(0, 300_000), "in 5 minutes");
        assert_eq!(relative(3 * 86_400_000, 0), "3 days ago");
    }
}
