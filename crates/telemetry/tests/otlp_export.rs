//! End to end: an in-process server on the in-memory storage (whose methods open their own
//! storage spans), with the OTel layer installed globally, exports its request and storage
//! spans to a fake OTLP/HTTP collector. The span names travel as plain strings inside the
//! protobuf body, so the test looks for them in the raw bytes (and checks the e-mail and
//! password never appear).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use st_core::clock::SystemClock;
use st_core::random::SystemRandom;
use st_core::storage::Storage;
use st_core::Core;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// (path, content-type, body) of every POST the fake collector received.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP collector: answers every request with an empty protobuf 200.
fn fake_collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let rec = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let rec = rec.clone();
            std::thread::spawn(move || serve_connection(stream, rec));
        }
    });
    (url, received)
}

fn serve_connection(stream: TcpStream, rec: Received) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let (mut len, mut ctype) = (0usize, String::new());
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-type" => ctype = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        rec.lock().unwrap().push((path, ctype, body));
        let resp = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Minimal HTTP/1.0 client: (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\ncdi-version: 5.4\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// Start the CDI on a random port with the in-memory storage.
fn start_server() -> (u16, actix_web::dev::ServerHandle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let map = st_config::parse_yaml("core_config_version: 0").unwrap();
            let storage: Arc<dyn Storage> = Arc::new(st_storage_memory::MemoryStorage::new());
            assert_eq!(storage.kind(), "memory");
            let core =
                Arc::new(Core::new(storage, Arc::new(SystemClock), Arc::new(SystemRandom::new()), map, true).unwrap());
            core.sync_tenants().await.unwrap();
            let state = actix_web::web::Data::new(st_http::ServerState::new(core, "test".into()));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server =
                actix_web::HttpServer::new(move || actix_web::App::new().configure(st_http::configure(state.clone())))
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run();
            tx.send((port, server.handle())).unwrap();
            let _ = server.await;
        });
    });
    rx.recv().unwrap()
}

/// A span attribute as text.
fn attr(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    Some(match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::IntValue(i) => i.to_string(),
        AnyValue::BoolValue(b) => b.to_string(),
        AnyValue::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn request_and_storage_spans_reach_the_collector() {
    assert_eq!(st_telemetry::STORAGE_TARGET, st_core::storage::SPAN_TARGET);
    let (collector, received) = fake_collector();
    let (layer, guard) = st_telemetry::otel_layer::<Registry>(&collector, "st-telemetry-test").unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let (port, handle) = start_server();
    let email = "span-check@example.com";
    let password = "very-secret-password-123";
    assert_eq!(http(port, "GET", "/hello", "").0, 200);
    let (status, body) =
        http(port, "POST", "/recipe/signup", &format!(r#"{{"email":"{email}","password":"{password}"}}"#));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"OK\""), "{body}");
    assert_eq!(http(port, "GET", "/no/such/route", "").0, 404);

    // Everything queued so far goes out now (the batch thread would otherwise wait ~5 s).
    guard.flush().unwrap();
    let got = received.lock().unwrap().clone();
    assert!(!got.is_empty(), "the collector received nothing");
    for (path, ctype, body) in &got {
        assert_eq!(path, "/v1/traces");
        assert_eq!(ctype, "application/x-protobuf");
        assert!(!body.is_empty(), "empty export body");
    }
    let all: Vec<u8> = got.iter().flat_map(|(_, _, b)| b.iter().copied()).collect();
    for needle in ["http.request", "storage.health_check", "storage.sign_up_with_password", "st-telemetry-test"] {
        assert!(contains(&all, needle), "{needle:?} not exported");
    }
    assert!(!contains(&all, email), "the e-mail was exported");
    assert!(!contains(&all, password), "the password was exported");

    // Decoded: storage spans are children of their request's span, with the expected fields.
    let spans: Vec<Span> = got
        .iter()
        .flat_map(|(_, _, b)| ExportTraceServiceRequest::decode(b.as_slice()).unwrap().resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let request = |route: &str| {
        spans
            .iter()
            .find(|s| s.name == "http.request" && attr(s, "http.route").as_deref() == Some(route))
            .unwrap_or_else(|| panic!("no http.request span for {route}: {:?}", names(&spans)))
    };
    let signup = request("/recipe/signup");
    assert_eq!(signup.kind, SpanKind::Server as i32);
    assert_eq!(attr(signup, "http.method").as_deref(), Some("POST"));
    assert_eq!(attr(signup, "http.status_code").as_deref(), Some("200"));
    assert!(attr(signup, "request_id").is_some());
    let sign_up_call =
        spans.iter().find(|s| s.name == "storage.sign_up_with_password").expect("storage.sign_up_with_password span");
    assert_eq!(sign_up_call.trace_id, signup.trace_id);
    assert_eq!(sign_up_call.parent_span_id, signup.span_id);
    assert_eq!(sign_up_call.kind, SpanKind::Client as i32);
    assert_eq!(attr(sign_up_call, "db.system").as_deref(), Some("memory"));
    assert_eq!(attr(sign_up_call, "app_id").as_deref(), Some("public"));
    assert_eq!(attr(sign_up_call, "tenant_id").as_deref(), Some("public"));
    let hello = request("/hello");
    assert!(spans.iter().any(|s| s.name == "storage.health_check" && s.parent_span_id == hello.span_id));
    let missing = request("unmatched");
    assert_eq!(attr(missing, "http.status_code").as_deref(), Some("404"));

    actix_rt::System::new().block_on(handle.stop(true));
    guard.shutdown().unwrap();
}
