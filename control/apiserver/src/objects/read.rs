//! get and list, as JSON objects or as tables for `kubectl get`.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::fields::FieldSelector;
use skiff_api::meta;
use skiff_api::selector::Selector;
use skiff_api::table::{self, IncludeObject};

use crate::app::App;
use crate::dispatch::Call;
use crate::http::{self, Query};
use crate::registry::Stored;

/// Label and field selectors of a list or watch.
#[derive(Debug, Default)]
pub struct Filter {
    pub labels: Selector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_query(rt: &ResourceType, q: &Query) -> Result<Self, ApiError> {
        let labels = match q.get("labelSelector") {
            Some(s) => Selector::parse(s).map_err(ApiError::bad_request)?,
            None => Selector::default(),
        };
        let fields = match q.get("fieldSelector") {
            Some(s) => FieldSelector::parse(s, rt.kind).map_err(ApiError::bad_request)?,
            None => FieldSelector::default(),
        };
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, rt: &ResourceType, obj: &Value) -> bool {
        self.labels.matches_object(obj) && self.fields.matches(obj, rt.kind)
    }
}

/// What `?includeObject=` asks rows to carry.
fn include(q: &Query) -> IncludeObject {
    match q.get("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

pub async fn get(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let stored = app
        .registry
        .must_get(rt, call.namespace(), call.name())
        .await?;
    if http::wants_table(&call.headers) {
        let now = jiff::Timestamp::now();
        let row = table::row(rt.kind, &stored.object, include(&call.query), now);
        let meta = json!({"resourceVersion": stored.revision.to_string()});
        return Ok(http::json(
            StatusCode::OK,
            &table::table(rt.kind, vec![row], meta),
        ));
    }
    Ok(http::json(StatusCode::OK, &stored.object))
}

/// Where a paged list continues: the revision it reads at and the next key.
#[derive(Debug, PartialEq, Eq)]
struct Continue {
    revision: i64,
    start: String,
}

impl Continue {
    fn encode(&self) -> String {
        let v = json!({"v": "meta.k8s.io/v1", "rv": self.revision, "start": self.start});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad("not base64"))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
        Ok(Continue {
            revision: v["rv"].as_i64().ok_or_else(|| bad("no resource version"))?,
            start: v["start"]
                .as_str()
                .ok_or_else(|| bad("no start key"))?
                .to_owned(),
        })
    }
}

/// The store prefix a collection request covers.
pub fn collection_prefix(rt: &ResourceType, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if rt.namespaced => rt.namespace_prefix(ns),
        _ => rt.key_prefix(),
    }
}

/// The matching objects of a collection, one page at most, with the list's revision and
/// the continue token if there is more.
pub async fn collect(
    app: &App,
    call: &Call,
    filter: &Filter,
) -> Result<(Vec<Stored>, i64, Option<String>), ApiError> {
    let rt = call.target.rt;
    let q = &call.query;
    let limit = q.int("limit")?.filter(|l| *l > 0).unwrap_or(0) as usize;
    let token = q.get("continue").map(Continue::decode).transpose()?;
    let mut revision = match (
        &token,
        q.get("resourceVersion"),
        q.get("resourceVersionMatch"),
    ) {
        (Some(t), _, _) => t.revision,
        (None, Some(rv), Some("Exact")) => rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("resourceVersion: invalid value {rv:?}")))?,
        _ => 0,
    };
    let prefix = collection_prefix(rt, call.namespace());
    let mut start = token.map(|t| t.start);
    let mut items = Vec::new();
    loop {
        let want = if limit == 0 {
            0
        } else {
            (limit - items.len()).max(500)
        };
        let page = app
            .registry
            .list(rt, &prefix, start.clone(), want, revision)
            .await
            .map_err(|e| {
                if e.code == 410 {
                    ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter.",
                    )
                } else {
                    e
                }
            })?;
        revision = page.revision;
        for item in page.items {
            if !filter.matches(rt, &item.object) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                // Full: continue right at this item.
                let key = rt.key(
                    meta::namespace(&item.object),
                    meta::name(&item.object).unwrap_or_default(),
                );
                let token = Continue {
                    revision,
                    start: key,
                };
                return Ok((items, revision, Some(token.encode())));
            }
            items.push(item);
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok((items, revision, None)),
        }
    }
}

pub async fn list(app: &App, call: &Call) -> Result<Response, ApiError> {
    let rt = call.target.rt;
    let filter = Filter::from_query(rt, &call.query)?;
    let (items, revision, next) = collect(app, call, &filter).await?;
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    if http::wants_table(&call.headers) {
        let now = jiff::Timestamp::now();
        let include = include(&call.query);
        let rows = items
            .iter()
            .map(|s| table::row(rt.kind, &s.object, include, now))
            .collect();
        return Ok(http::json(
            StatusCode::OK,
            &table::table(rt.kind, rows, metadata),
        ));
    }
    let list = json!({
        "kind": rt.list_kind(),
        "apiVersion": rt.api_version(),
        "metadata": metadata,
        "items": items.into_iter().map(|s| s.object).collect::<Vec<_>>(),
    });
    Ok(http::json(StatusCode::OK, &list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let c = Continue {
            revision: 42,
            start: "/registry/core/pods/default/web\0".into(),
        };
        assert_eq!(Continue::decode(&c.encode()).unwrap(), c);
        assert_eq!(Continue::decode("%%%").unwrap_err().code, 400);
    }
}
