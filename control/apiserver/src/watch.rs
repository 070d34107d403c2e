//! Watch: a stream of `{"type": ..., "object": ...}` lines, from a resourceVersion or with
//! the current state first, filtered by selectors, as tables when asked.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::meta;
use skiff_api::table::{self, IncludeObject};
use skiff_store::{Event, EventKind, WatchStream};

use crate::app::App;
use crate::dispatch::Call;
use crate::http;
use crate::objects::read::{Filter, collect, collection_prefix};
use crate::registry::Raw;

/// Longest a watch stays open without `timeoutSeconds`, as kube-apiserver's default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

struct Watcher {
    app: Arc<App>,
    rt: &'static ResourceType,
    filter: Filter,
    table: Option<IncludeObject>,
    stream: Option<WatchStream>,
    queue: VecDeque<Bytes>,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    last_rv: i64,
    done: bool,
}

/// A watch line `{"type":...,"object":...}` (kube's field order) around `object`.
fn line(kind: &str, object: &impl serde::Serialize) -> Bytes {
    let mut v = Vec::with_capacity(256);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    // Serializing a Value or a Status into memory cannot fail.
    let _ = serde_json::to_writer(&mut v, object);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

/// A watch line around a stored object with resourceVersion `rv`, written in one pass
/// over its stored JSON, without parsing it.
fn raw_line(kind: &str, raw: &Raw, rv: i64) -> Result<Bytes, ApiError> {
    let mut v = Vec::with_capacity(raw.json.len() + kind.len() + 64);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    raw.render_into(rv, &mut v)?;
    v.extend_from_slice(b"}\n");
    Ok(Bytes::from(v))
}

impl Watcher {
    /// Queues `raw` as a `kind` event, with resourceVersion `rv`.
    fn push(&mut self, kind: &str, raw: &Raw, rv: i64) -> Result<(), ApiError> {
        let line = match self.table {
            Some(include) => {
                let mut obj = raw.parse()?;
                meta::set(&mut obj, "resourceVersion", json!(rv.to_string()));
                let now = jiff::Timestamp::now();
                let row = table::row(self.rt.kind, &obj, include, now);
                let meta = json!({"resourceVersion": rv.to_string()});
                line(kind, &table::table(self.rt.kind, vec![row], meta))
            }
            None => raw_line(kind, raw, rv)?,
        };
        self.queue.push_back(line);
        Ok(())
    }

    fn error(&mut self, e: &ApiError) {
        self.queue.push_back(line("ERROR", &e.to_status()));
        self.done = true;
    }

    fn bookmark(&mut self, annotations: Option<Value>) {
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if let Some(a) = annotations {
            metadata["annotations"] = a;
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        self.queue.push_back(line("BOOKMARK", &obj));
    }

    /// Turns store events into watch events, applying the selectors to old and new state.
    /// Objects are sent as stored; only the fields the selectors read are parsed.
    fn convert(&mut self, events: &[Event]) {
        for e in events {
            self.last_rv = e.revision();
            if let Err(err) = self.convert_one(e) {
                // As kube-apiserver's watch cache: an object that cannot be read is left out
                // of the stream (a GET of it reports the problem).
                tracing::warn!(key = %e.kv.key, error = %err.message, "watch: skipping an unreadable object");
            }
        }
    }

    fn convert_one(&mut self, e: &Event) -> Result<(), ApiError> {
        let registry = &self.app.registry;
        let old = e.prev.as_ref().map(|kv| registry.raw(kv)).transpose()?;
        let was = match &old {
            Some(o) => self.filter.matches_raw(self.rt, o)?,
            None => false,
        };
        match e.kind {
            EventKind::Put => {
                let new = registry.raw(&e.kv)?;
                let is = self.filter.matches_raw(self.rt, &new)?;
                let kind = match (was, is) {
                    (false, true) => "ADDED",
                    (true, true) => "MODIFIED",
                    (true, false) => "DELETED",
                    (false, false) => return Ok(()),
                };
                self.push(kind, &new, new.revision)
            }
            EventKind::Delete => match old {
                Some(old) if was => self.push("DELETED", &old, e.revision()),
                _ => Ok(()),
            },
        }
    }

    /// The next chunk of the response, or `None` at the end.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            let stream = self.stream.as_mut()?;
            let bookmark = tokio::time::sleep(BOOKMARK_EVERY);
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(events)) => self.convert(&events),
                    Some(Err(e)) => {
                        let e = crate::registry::store_error(self.rt, "", e);
                        self.error(&e);
                    }
                    None => self.done = true,
                },
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
                () = bookmark, if self.bookmarks => self.bookmark(None),
            }
        }
    }
}

pub async fn watch(app: &Arc<App>, call: Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let q = &call.query;
    let mut filter = Filter::from_query(rt, q)?;
    if call.target.watch
        && let Some(name) = &call.target.name
    {
        // The legacy /watch/.../{name} form watches one object.
        filter.fields =
            skiff_api::fields::FieldSelector::parse(&format!("metadata.name={name}"), rt.kind)
                .map_err(ApiError::bad_request)?;
    }
    let timeout = q
        .int("timeoutSeconds")?
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DEFAULT_TIMEOUT);
    let table = http::wants_table(&call.headers).then(|| match q.get("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    });
    let mut w = Watcher {
        app: Arc::clone(app),
        rt,
        filter,
        table,
        stream: None,
        queue: VecDeque::new(),
        deadline: tokio::time::Instant::now() + timeout,
        bookmarks: q.flag("allowWatchBookmarks"),
        last_rv: 0,
        done: false,
    };
    let send_initial = q.flag("sendInitialEvents");
    let start = match q.get("resourceVersion") {
        Some(rv) if rv != "0" && !send_initial => {
            let rv: i64 = rv.parse().map_err(|_| {
                ApiError::bad_request(format!("resourceVersion: invalid value {rv:?}"))
            })?;
            w.last_rv = rv;
            rv + 1
        }
        _ => {
            // Current state first, as synthetic ADDED events.
            let all = Call {
                target: crate::router::Target {
                    rt,
                    namespace: call.target.namespace.clone(),
                    name: None,
                    sub: None,
                    watch: false,
                },
                query: crate::http::Query::default(),
                headers: Default::default(),
                body: Bytes::new(),
            };
            let (items, revision, _) = collect(app, &all, &w.filter).await?;
            for item in items {
                w.push("ADDED", &item, item.revision)?;
            }
            w.last_rv = revision;
            if send_initial {
                w.bookmark(Some(json!({"k8s.io/initial-events-end": "true"})));
            }
            revision + 1
        }
    };
    let prefix = collection_prefix(rt, call.namespace());
    match app.registry.watch(rt, &prefix, start).await {
        Ok(s) => w.stream = Some(s),
        Err(e) => w.error(&e),
    }
    let body = futures::stream::unfold(w, |mut w| async move {
        w.next()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), w))
    });
    let mut r = Response::new(Body::from_stream(body));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
