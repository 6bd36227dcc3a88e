//! The storage spans of the in-memory backend: one `storage.<method>` span per call, with the
//! fields of `st_core::storage::SPAN_FIELDS`, and a failure marked by its kind only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    AuthRecipeStorage, KeyValueStorage, TenantStorage, UserMetadataStorage, UserRolesStorage, SPAN_FIELDS, SPAN_TARGET,
};
use st_core::StorageError;
use st_storage_memory::MemoryStorage;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as seen: target, name and every field recorded (at creation or later).
#[derive(Debug, Clone, Default)]
struct SeenSpan {
    target: String,
    name: String,
    fields: HashMap<String, String>,
}

/// Records every span into a shared list.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<SeenSpan>>>,
    by_id: Arc<Mutex<HashMap<u64, usize>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut span = SeenSpan { target: meta.target().into(), name: meta.name().into(), ..SeenSpan::default() };
        attrs.record(&mut Fields(&mut span.fields));
        let mut spans = self.spans.lock().unwrap();
        self.by_id.lock().unwrap().insert(id.into_u64(), spans.len());
        spans.push(span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let Some(&i) = self.by_id.lock().unwrap().get(&id.into_u64()) else { return };
        values.record(&mut Fields(&mut self.spans.lock().unwrap()[i].fields));
    }
}

impl Recorder {
    fn named(&self, name: &str) -> SeenSpan {
        let spans = self.spans.lock().unwrap();
        spans.iter().find(|s| s.name == name).cloned().unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
    }
}

#[tokio::test]
async fn every_call_is_a_span_and_a_failure_is_marked_by_its_kind() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let st = MemoryStorage::new();
    let base = TenantIdentifier::base();
    let missing = TenantIdentifier::app_public(&AppId::parse("nope").unwrap());

    st.health_check().await.unwrap();
    st.set_key_value(&base, "k", "secret-value", 0).await.unwrap();
    let err = st.set_key_value(&missing, "k", "v", 0).await.unwrap_err();
    assert!(matches!(err, StorageError::TenantOrAppNotFound));
    st.all_roles(&base.app).await.unwrap();
    st.get_tenant(&base).await.unwrap();
    // Intents composed from others (the traits' defaults) have a span of their own too.
    st.session_identity(&base.app, "no-such-user").await.unwrap();
    st.get_user_metadata_many(&base.app, &["no-such-user".to_string()]).await.unwrap();

    let health = recorder.named("storage.health_check");
    assert_eq!(health.target, SPAN_TARGET);
    assert_eq!(health.fields.get("otel.kind").map(String::as_str), Some("client"));
    assert_eq!(health.fields.get("db.system").map(String::as_str), Some("memory"));
    assert!(!health.fields.contains_key("app_id") && !health.fields.contains_key("otel.status_code"));

    let spans = recorder.spans.lock().unwrap().clone();
    let set: Vec<&SeenSpan> = spans.iter().filter(|s| s.name == "storage.set_key_value").collect();
    assert_eq!(set.len(), 2);
    assert_eq!(set[0].fields.get("app_id").map(String::as_str), Some("public"));
    assert_eq!(set[0].fields.get("tenant_id").map(String::as_str), Some("public"));
    assert!(!set[0].fields.contains_key("error.type"), "a success is not marked");
    assert_eq!(set[1].fields.get("app_id").map(String::as_str), Some("nope"));
    assert_eq!(set[1].fields.get("otel.status_code").map(String::as_str), Some("ERROR"));
    assert_eq!(set[1].fields.get("error.type").map(String::as_str), Some("tenant_or_app_not_found"));

    let roles = recorder.named("storage.all_roles");
    assert_eq!(roles.fields.get("app_id").map(String::as_str), Some("public"));
    assert!(!roles.fields.contains_key("tenant_id"));
    // A tenant given by another name (here the tenant's own id) still names the tenant.
    let tenant = recorder.named("storage.get_tenant");
    assert_eq!(tenant.fields.get("tenant_id").map(String::as_str), Some("public"));
    for composed in ["storage.session_identity", "storage.get_user_metadata_many"] {
        let span = recorder.named(composed);
        assert_eq!(span.fields.get("db.system").map(String::as_str), Some("memory"), "{composed}");
        assert_eq!(span.fields.get("app_id").map(String::as_str), Some("public"), "{composed}");
    }
    recorder.named("storage.get_user_id_mapping");

    for span in &spans {
        assert!(span.fields.keys().all(|k| SPAN_FIELDS.contains(&k.as_str())), "unexpected field: {span:?}");
        assert!(!span.fields.values().any(|v| v.contains("secret-value")), "a value was recorded: {span:?}");
    }
}
