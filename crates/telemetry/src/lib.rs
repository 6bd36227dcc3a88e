//! OpenTelemetry tracing for the core: off unless `otel_collector_connection_uri` is set.
//!
//! [`otel_layer`] builds a `tracing` layer that turns the request span (`http.request`, target
//! `st_http::request`) and the storage spans (target `st_storage`, one `storage.<method>` span
//! per call, which the backends open themselves with `#[tracing::instrument]`, see
//! `st_core::storage::SPAN_TARGET`) into OpenTelemetry spans, exported in batches over
//! OTLP/HTTP (protobuf) by the SDK's own background thread with a blocking HTTP client — no
//! gRPC, and nothing runs on actix's per-worker runtimes.
//!
//! When tracing is off the layer is not installed: the spans' callsites are disabled and cost
//! one cached interest check each.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Target of the per-request span.
pub const HTTP_TARGET: &str = "st_http::request";
/// Target of the per-storage-call spans.
pub const STORAGE_TARGET: &str = "st_storage";

/// Time allowed to send one batch, and to flush at shutdown.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured collector URI, if tracing is on (`None`, empty or `null` = off).
pub fn configured(uri: Option<&str>) -> Option<&str> {
    uri.map(str::trim).filter(|u| !u.is_empty() && *u != "null")
}

/// The OTLP/HTTP traces URL for a configured collector URI: `http://host:4318` (or with a
/// trailing `/`) becomes `http://host:4318/v1/traces`; a URI with a path is used as given.
/// Only plain `http://` is supported (no TLS client is built in): send to a local collector
/// or agent.
pub fn traces_endpoint(uri: &str) -> Result<String, String> {
    let uri = uri.trim();
    let Some(rest) = uri.strip_prefix("http://") else {
        return Err(format!(
            "otel_collector_connection_uri must be an http:// URL of an OTLP/HTTP collector (e.g. http://localhost:4318), got {uri:?}"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("otel_collector_connection_uri has no host: {uri:?}"));
    }
    match rest.find('/') {
        None => Ok(format!("{uri}/v1/traces")),
        Some(i) if rest[i..] == *"/" => Ok(format!("{uri}v1/traces")),
        Some(_) => Ok(uri.to_string()),
    }
}

/// Which events and spans the OpenTelemetry layer sees: the request and storage spans at
/// DEBUG, warnings and errors of the core's own crates (as span events), nothing else — in
/// particular none of the exporter's own (HTTP client, SDK) diagnostics.
pub fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::OFF)
        .with_target(HTTP_TARGET, LevelFilter::DEBUG)
        .with_target(STORAGE_TARGET, LevelFilter::DEBUG)
        // More specific than `st_storage`, so the backends' own debug logs stay out.
        .with_target("st_storage_memory", LevelFilter::WARN)
        .with_target("st_storage_postgres", LevelFilter::WARN)
        .with_target("st_core", LevelFilter::WARN)
        .with_target("st_http", LevelFilter::WARN)
        .with_target("supertokens", LevelFilter::WARN)
}

/// Flushes and stops the exporter. Call [`OtelGuard::shutdown`] at graceful shutdown; the
/// layer (held by the global subscriber) keeps the provider alive, so dropping is not enough.
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl OtelGuard {
    /// Export the spans still queued (waiting at most a few seconds), then stop the exporter.
    pub fn shutdown(self) -> Result<(), String> {
        self.provider.shutdown_with_timeout(EXPORT_TIMEOUT).map_err(|e| e.to_string())
    }

    /// Export the spans queued so far without stopping.
    pub fn flush(&self) -> Result<(), String> {
        self.provider.force_flush().map_err(|e| e.to_string())
    }
}

/// Build the OpenTelemetry layer (already filtered with [`span_filter`]) exporting to the
/// collector at `endpoint` (see [`traces_endpoint`]) as `service_name`, and its guard.
///
/// Spans are queued and sent in batches (every 5 s or 512 spans) by a dedicated thread; when
/// the collector is down they are dropped after the export timeout, never blocking requests.
pub fn otel_layer<S>(
    endpoint: &str,
    service_name: &str,
) -> Result<(impl Layer<S> + Send + Sync + 'static, OtelGuard), String>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let url = traces_endpoint(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter for {url}: {e}"))?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_string())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let tracer = provider.tracer("supertokens");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Busy/idle times, thread and source location are per-span overhead nobody asked for.
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_filter(span_filter());
    Ok((layer, OtelGuard { provider }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_uri_turns_tracing_on_only_when_set() {
        assert_eq!(configured(None), None);
        assert_eq!(configured(Some("")), None);
        assert_eq!(configured(Some("  ")), None);
        assert_eq!(configured(Some("null")), None);
        assert_eq!(configured(Some(" http://c:4318 ")), Some("http://c:4318"));
    }

    #[test]
    fn traces_endpoint_appends_the_signal_path() {
        assert_eq!(traces_endpoint("http://c:4318").as_deref(), Ok("http://c:4318/v1/traces"));
        assert_eq!(traces_endpoint("http://c:4318/").as_deref(), Ok("http://c:4318/v1/traces"));
        assert_eq!(traces_endpoint("http://c/x/v1/traces").as_deref(), Ok("http://c/x/v1/traces"));
        assert!(traces_endpoint("https://c:4318").is_err());
        assert!(traces_endpoint("c:4318").is_err());
        assert!(traces_endpoint("http://").is_err());
    }

    #[test]
    fn filter_passes_only_our_spans_and_warnings() {
        use tracing::Level;
        let f = span_filter();
        assert!(f.would_enable(HTTP_TARGET, &Level::DEBUG));
        assert!(f.would_enable(STORAGE_TARGET, &Level::DEBUG));
        assert!(!f.would_enable("st_storage_postgres", &Level::DEBUG));
        assert!(f.would_enable("st_storage_postgres", &Level::WARN));
        assert!(!f.would_enable("st_http", &Level::DEBUG));
        assert!(!f.would_enable("opentelemetry_sdk", &Level::ERROR));
        assert!(!f.would_enable("reqwest", &Level::WARN));
    }
}
