//! Prometheus metrics: request counts and latency histograms per CDI route, method and status;
//! database pool usage; hashing queue depth; background-job runs and failures; signing-key age.
//! Recording is lock-free on the hot path once a (route, method, status) series exists.

use st_core::Core;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Upper bounds (seconds) of the latency buckets.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        let secs = micros as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }
}

type Key = (&'static str, &'static str, u16);

#[derive(Default)]
pub struct Metrics {
    series: RwLock<HashMap<Key, Arc<Histogram>>>,
}

impl Metrics {
    pub fn record(&self, route: &'static str, method: &actix_web::http::Method, status: u16, micros: u64) {
        use actix_web::http::Method;
        let method: &'static str = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            Method::PATCH => "PATCH",
            _ => "OTHER",
        };
        if let Some(h) = self.series.read().unwrap_or_else(|p| p.into_inner()).get(&(route, method, status)) {
            h.observe(micros);
            return;
        }
        let h =
            self.series.write().unwrap_or_else(|p| p.into_inner()).entry((route, method, status)).or_default().clone();
        h.observe(micros);
    }

    /// The exposition text.
    pub fn render(&self, core: &Core) -> String {
        let mut out = String::with_capacity(4096);
        let series = self.series.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&Key> = series.keys().collect();
        keys.sort();
        let _ = writeln!(out, "# HELP supertokens_http_requests_total HTTP requests by CDI route, method and status.");
        let _ = writeln!(out, "# TYPE supertokens_http_requests_total counter");
        for k in &keys {
            let h = &series[*k];
            let _ = writeln!(
                out,
                "supertokens_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}",
                k.0,
                k.1,
                k.2,
                h.count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP supertokens_http_request_duration_seconds Request latency.");
        let _ = writeln!(out, "# TYPE supertokens_http_request_duration_seconds histogram");
        for k in &keys {
            let h = &series[*k];
            let labels = format!("route=\"{}\",method=\"{}\",status=\"{}\"", k.0, k.1, k.2);
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "supertokens_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "supertokens_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "supertokens_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "supertokens_http_request_duration_seconds_count{{{labels}}} {count}");
        }
        if let Some(p) = core.storage_pool_stats() {
            let _ = writeln!(out, "# HELP supertokens_db_pool_connections Database pool connections by state.");
            let _ = writeln!(out, "# TYPE supertokens_db_pool_connections gauge");
            let _ = writeln!(out, "supertokens_db_pool_connections{{state=\"max\"}} {}", p.max_size);
            let _ = writeln!(out, "supertokens_db_pool_connections{{state=\"open\"}} {}", p.size);
            let _ = writeln!(out, "supertokens_db_pool_connections{{state=\"idle\"}} {}", p.available);
            let _ = writeln!(
                out,
                "supertokens_db_pool_connections{{state=\"in_use\"}} {}",
                p.size.saturating_sub(p.available)
            );
            let _ = writeln!(out, "supertokens_db_pool_waiting {}", p.waiting);
        }
        let _ = writeln!(out, "# HELP supertokens_hashing_queue_depth Password hashes waiting for a hashing slot.");
        let _ = writeln!(out, "# TYPE supertokens_hashing_queue_depth gauge");
        let _ = writeln!(out, "supertokens_hashing_queue_depth {}", core.hashing.queue_depth());
        let jobs = core.job_stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&&'static str> = jobs.keys().collect();
        names.sort();
        let _ = writeln!(
            out,
            "# HELP supertokens_cron_runs_total Background job runs, failures and skips (lease held elsewhere)."
        );
        let _ = writeln!(out, "# TYPE supertokens_cron_runs_total counter");
        for n in names {
            let s = &jobs[*n];
            let _ = writeln!(
                out,
                "supertokens_cron_runs_total{{job=\"{n}\",result=\"run\"}} {}",
                s.runs.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "supertokens_cron_runs_total{{job=\"{n}\",result=\"failure\"}} {}",
                s.failures.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "supertokens_cron_runs_total{{job=\"{n}\",result=\"skipped\"}} {}",
                s.skipped.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP supertokens_signing_key_age_seconds Age of the newest access-token signing key per app."
        );
        let _ = writeln!(out, "# TYPE supertokens_signing_key_age_seconds gauge");
        let mut ages = core.signing_key_ages();
        ages.sort();
        for (app, age) in ages {
            let _ = writeln!(out, "supertokens_signing_key_age_seconds{{app=\"{app}\"}} {}", age as f64 / 1000.0);
        }
        out
    }
}
