//! Small helpers shared by the benchmarks: flag parsing, markdown tables, machine load,
//! percentiles, a minimal JSON string extractor and base64 (xtask stays std-only).

use crate::Result;
use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::str::FromStr;

/// `--name value` / `--name=value` flags of a benchmark; unknown flags are errors.
pub struct Flags {
    bench: &'static str,
    values: Vec<(String, String)>,
}

impl Flags {
    /// Parse `args`, accepting only the flags in `known` (each takes a value).
    pub fn parse(bench: &'static str, args: &[String], known: &[&str]) -> Result<Flags> {
        let mut values = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("{bench}: unknown argument `{a}` (known: {})", known.join(", ")));
            }
            let value = match value {
                Some(v) => v,
                None => it.next().cloned().ok_or_else(|| format!("{bench}: {name} needs a value"))?,
            };
            values.push((name, value));
        }
        Ok(Flags { bench, values })
    }

    pub fn raw(&self, name: &str) -> Option<&str> {
        self.values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A number; `default` when absent.
    pub fn num<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{}: {name}: not a number: {v}", self.bench)),
        }
    }

    /// A positive whole number of seconds.
    pub fn seconds(&self, name: &str, default: u64) -> Result<u64> {
        match self.num(name, default)? {
            0 => Err(format!("{}: {name} must be at least 1", self.bench)),
            n => Ok(n),
        }
    }

    /// A comma-separated list of numbers.
    pub fn num_list<T: FromStr + Copy>(&self, name: &str, default: &[T]) -> Result<Vec<T>> {
        match self.raw(name) {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split(',')
                .map(|p| p.trim().parse().map_err(|_| format!("{}: {name}: not a number: {p}", self.bench)))
                .collect(),
        }
    }

    /// A comma-separated list of words.
    pub fn word_list(&self, name: &str, default: &[&str]) -> Vec<String> {
        match self.raw(name) {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(v) => v.split(',').map(|p| p.trim().to_string()).collect(),
        }
    }
}

/// A markdown table printed to stdout.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let line = |cells: &[String]| format!("| {} |", cells.join(" | "));
        let mut out = String::new();
        let _ = writeln!(out, "{}", line(&self.header));
        let _ = writeln!(out, "|{}", "---|".repeat(self.header.len()));
        for r in &self.rows {
            let _ = writeln!(out, "{}", line(r));
        }
        println!("{out}");
    }
}

/// The 1-minute load average (`/proc/loadavg`), NaN if unreadable.
pub fn load1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The output of `uptime` (time, users, 1/5/15-minute load), for the report.
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("load average: {}", fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()))
}

/// `before→after` of two 1-minute loads.
pub fn load_span(before: f64, after: f64) -> String {
    format!("{before:.2}→{after:.2}")
}

/// The q-quantile (0..=1, nearest rank) of a sample; NaN when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b` as a ratio with two decimals, or `n/a`.
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "n/a".into()
    }
}

/// Verdict of a ratio against a target: `≥` (at least) or `≤` (at most).
pub fn verdict(value: f64, target: f64, at_least: bool) -> &'static str {
    match (value.is_finite(), at_least) {
        (false, _) => "n/a",
        (true, true) if value >= target => "met",
        (true, false) if value <= target => "met",
        _ => "MISSED",
    }
}

/// The string value of the first `"key":"…"` at or after the first occurrence of `anchor`
/// (use `""` for none). Good enough for the server's compact JSON; unescapes `\"`, `\\`, `\/`.
pub fn json_str(body: &str, anchor: &str, key: &str) -> Option<String> {
    let from = body.find(anchor)?;
    let needle = format!("\"{key}\":\"");
    let start = from + body[from..].find(&needle)? + needle.len();
    let mut out = String::new();
    let mut chars = body[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// Standard base64 with padding (the server's pagination tokens).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encode a query-string value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn json_str_finds_nested_values() {
        let body = r#"{"a":{"token":"x"},"accessToken":{"token":"a\"b","expiry":1}}"#;
        assert_eq!(json_str(body, "\"accessToken\"", "token").as_deref(), Some("a\"b"));
        assert_eq!(json_str(body, "", "token").as_deref(), Some("x"));
        assert_eq!(json_str(body, "", "nope"), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
