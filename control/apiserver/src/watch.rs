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

fn line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

impl Watcher {
    fn render(&self, obj: Value) -> Value {
        match self.table {
            Some(include) => {
                let now = jiff::Timestamp::now();
                let row = table::row(self.rt.kind, &obj, include, now);
                let rv = meta::resource_version(&obj).unwrap_or_default().to_owned();
                table::table(self.rt.kind, vec![row], json!({"resourceVersion": rv}))
            }
            None => obj,
        }
    }

    fn push(&mut self, kind: &str, obj: Value) {
        let rendered = self.render(obj);
        self.queue.push_back(line(kind, rendered));
    }

    fn error(&mut self, e: &ApiError) {
        self.queue.push_back(line("ERROR", e.to_status()));
        self.done = true;
    }

    fn bookmark(&mut self, annotations: Option<Value>) {
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if let Some(a) = annotations {
            metadata["annotations"] = a;
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        self.queue.push_back(line("BOOKMARK", obj));
    }

    /// Turns store events into watch events, applying the selectors to old and new state.
    fn convert(&mut self, events: &[Event]) {
        for e in events {
            self.last_rv = e.revision();
            let decode =
                |kv: &skiff_store::KeyValue| self.app.registry.decode(kv).ok().map(|s| s.object);
            let old = e.prev.as_ref().and_then(decode);
            match e.kind {
                EventKind::Put => {
                    let Some(new) = decode(&e.kv) else { continue };
                    let was = old
                        .as_ref()
                        .is_some_and(|o| self.filter.matches(self.rt, o));
                    let is = self.filter.matches(self.rt, &new);
                    match (was, is) {
                        (false, true) => self.push("ADDED", new),
                        (true, true) => self.push("MODIFIED", new),
                        (true, false) => self.push("DELETED", new),
                        (false, false) => {}
                    }
                }
                EventKind::Delete => {
                    if let Some(mut old) = old
                        && self.filter.matches(self.rt, &old)
                    {
                        meta::set(&mut old, "resourceVersion", json!(e.revision().to_string()));
                        self.push("DELETED", old);
                    }
                }
            }
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
                w.push("ADDED", item.parse()?);
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
