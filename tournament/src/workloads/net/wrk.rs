//! `wrk` (the HTTP benchmarking tool, Debian package `wrk`): finding it, and parsing what it
//! prints with `--latency` into numbers.
//!
//! The parser reads the lines wrk 4 prints (`wrk.c`: `print_stats_latency`, the summary):
//!
//! ```text
//!   Latency Distribution
//!      50%  360.00us
//!      75%  410.00us
//!      90%  480.00us
//!      99%  720.00us
//!   846523 requests in 5.00s, 73.46MB read
//!   Socket errors: connect 0, read 0, write 0, timeout 0     (only when some are non-zero)
//!   Non-2xx or 3xx responses: 12                              (only when non-zero)
//! Requests/sec: 169304.60
//! ```
//!
//! Times carry wrk's units (`us`, `ms`, `s`, `m`, `h`), converted to ns.

use std::path::{Path, PathBuf};

/// What one wrk run reported.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkResult {
    /// Completed requests (`N requests in ...`).
    pub requests: u64,
    /// wrk's `Requests/sec`.
    pub requests_per_s: f64,
    /// Latency percentiles from `Latency Distribution`, ns: (percent, value) for 50/75/90/99.
    pub percentiles: Vec<(f64, u64)>,
    /// Socket errors: connect + read + write + timeout (0 when wrk printed no such line).
    pub socket_errors: u64,
    /// The socket-error line verbatim, when present.
    pub socket_errors_line: Option<String>,
    /// Responses with a status ≥ 400 (`Non-2xx or 3xx responses`), 0 when not printed.
    pub non_2xx: u64,
}

impl WrkResult {
    /// The latency at percentile `p` (e.g. 99.0), ns, if wrk printed it.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        self.percentiles.iter().find(|(q, _)| (q - p).abs() < 1e-9).map(|(_, v)| *v)
    }
}

/// The `wrk` executable on `PATH`, if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("wrk")).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why `wrk` cannot be used here (the reason of the declared gap), or `None` if it is installed.
pub fn missing_reason() -> Option<String> {
    find().is_none().then(|| {
        "unavailable: `wrk` is not installed (run `make deps`, or `apt-get install wrk`)".into()
    })
}

/// Parses a wrk time such as `360.00us`, `1.23ms`, `2.00s` into ns.
pub fn parse_time_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let x: f64 = num.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    Some((x * scale).round() as u64)
}

/// Parses wrk's `--latency` output.
///
/// # Errors
/// A required line (`Latency Distribution` with its four percentiles, `N requests in`,
/// `Requests/sec`) is missing or unreadable; the message quotes what was wrong.
pub fn parse(output: &str) -> Result<WrkResult, String> {
    let mut percentiles = Vec::new();
    let mut requests = None;
    let mut rps = None;
    let mut socket_errors = 0;
    let mut socket_errors_line = None;
    let mut non_2xx = 0;
    let mut in_dist = false;
    for line in output.lines() {
        let t = line.trim();
        if t == "Latency Distribution" {
            in_dist = true;
            continue;
        }
        if in_dist {
            if let Some((p, v)) = t.split_once('%') {
                if let Ok(p) = p.trim().parse::<f64>() {
                    let v = parse_time_ns(v)
                        .ok_or_else(|| format!("unreadable latency percentile line {t:?}"))?;
                    percentiles.push((p, v));
                    continue;
                }
            }
            in_dist = false;
        }
        if let Some((n, _)) = t.split_once(" requests in ") {
            requests = Some(n.trim().parse::<u64>().map_err(|e| format!("{t:?}: {e}"))?);
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = Some(v.trim().parse::<f64>().map_err(|e| format!("{t:?}: {e}"))?);
        } else if let Some(rest) = t.strip_prefix("Socket errors:") {
            for part in rest.split(',') {
                let n = part.split_whitespace().last().and_then(|n| n.parse::<u64>().ok());
                socket_errors += n.ok_or_else(|| format!("unreadable socket errors {t:?}"))?;
            }
            socket_errors_line = Some(t.to_string());
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse::<u64>().map_err(|e| format!("{t:?}: {e}"))?;
        }
    }
    let wanted = [50.0, 75.0, 90.0, 99.0];
    if percentiles.len() != wanted.len()
        || percentiles.iter().zip(wanted).any(|((p, _), w)| (p - w).abs() > 1e-9)
    {
        return Err(format!(
            "expected a `Latency Distribution` with 50/75/90/99% (was wrk run with --latency?), \
             found {percentiles:?}"
        ));
    }
    Ok(WrkResult {
        requests: requests.ok_or("no `N requests in` line")?,
        requests_per_s: rps.ok_or("no `Requests/sec:` line")?,
        percentiles,
        socket_errors,
        socket_errors_line,
        non_2xx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `wrk -t1 -c16 -d1s --latency` (wrk 4.1.0, Debian) against `LoopServer<MainLoop>`.
    const CAPTURED: &str = include_str!("testdata/wrk_latency.txt");

    /// The same run with socket errors and error statuses (lines wrk prints only then).
    const WITH_ERRORS: &str = "Running 1s test @ http://127.0.0.1:1/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms    2.00ms  30.10ms   90.00%
    Req/Sec     5.00k   100.00     5.10k    70.00%
  Latency Distribution
     50%  800.00us
     75%    1.20ms
     90%    2.50ms
     99%    1.05s
  4990 requests in 1.00s, 400.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   4990.12
Transfer/sec:    400.00KB
";

    #[test]
    fn parses_captured_wrk_output() {
        let r = parse(CAPTURED).unwrap();
        assert!(r.requests > 0);
        assert!(r.requests_per_s > 0.0);
        assert_eq!(r.socket_errors, 0);
        assert_eq!(r.non_2xx, 0);
        let p: Vec<u64> = r.percentiles.iter().map(|x| x.1).collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        assert!(r.percentile(99.0).is_some());
    }

    #[test]
    fn parses_errors_statuses_and_units() {
        let r = parse(WITH_ERRORS).unwrap();
        assert_eq!(r.requests, 4990);
        assert_eq!(r.requests_per_s, 4990.12);
        assert_eq!(r.socket_errors, 6);
        assert_eq!(r.non_2xx, 7);
        assert_eq!(r.percentile(50.0), Some(800_000));
        assert_eq!(r.percentile(75.0), Some(1_200_000));
        assert_eq!(r.percentile(99.0), Some(1_050_000_000));
    }

    #[test]
    fn output_without_latency_distribution_is_an_error() {
        let no_dist: String =
            WITH_ERRORS.lines().filter(|l| !l.contains('%')).collect::<Vec<_>>().join("\n");
        assert!(parse(&no_dist).unwrap_err().contains("--latency"));
        assert_eq!(parse_time_ns("2m"), Some(120_000_000_000));
        assert_eq!(parse_time_ns("12.5xx"), None);
    }
}
