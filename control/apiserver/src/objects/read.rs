//! get and list, as JSON objects or as tables for `kubectl get`.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::fields::FieldSelector;
use skiff_api::selector::Selector;
use skiff_api::table::{self, IncludeObject};

use crate::app::App;
use crate::dispatch::Call;
use crate::http::{self, Query};
use crate::registry::Raw;

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

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether a stored object matches, reading only the fields the selectors look at.
    pub fn matches_raw(&self, rt: &ResourceType, raw: &Raw) -> Result<bool, ApiError> {
        if self.is_empty() {
            return Ok(true);
        }
        let pointers: Vec<Vec<&str>> = self
            .fields
            .pointers(rt.kind)
            .chain((!self.labels.is_empty()).then_some("/metadata/labels"))
            .map(|p| p.split('/').skip(1).collect())
            .collect();
        let paths: Vec<&[&str]> = pointers.iter().map(Vec::as_slice).collect();
        Ok(self.matches(rt, &raw.project(&paths)?))
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
    let raw = app
        .registry
        .get_raw(rt, call.namespace(), call.name())
        .await?;
    if http::wants_table(&call.headers) {
        let now = jiff::Timestamp::now();
        let row = table::row(rt.kind, &raw.parse()?, include(&call.query), now);
        let meta = json!({"resourceVersion": raw.revision.to_string()});
        return Ok(http::json(
            StatusCode::OK,
            &table::table(rt.kind, vec![row], meta),
        ));
    }
    Ok(http::json_bytes(StatusCode::OK, raw.render()?))
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

/// The matching objects of a collection (as stored, unparsed unless a selector needed them),
/// one page at most, with the list's revision and the continue token if there is more.
pub async fn collect(
    app: &App,
    call: &Call,
    filter: &Filter,
) -> Result<(Vec<Raw>, i64, Option<String>), ApiError> {
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
            if !filter.matches_raw(rt, &item)? {
                continue;
            }
            if limit > 0 && items.len() == limit {
                // Full: continue right at this item.
                let token = Continue {
                    revision,
                    start: item.key,
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
            .map(|raw| Ok(table::row(rt.kind, &raw.parse()?, include, now)))
            .collect::<Result<_, ApiError>>()?;
        return Ok(http::json(
            StatusCode::OK,
            &table::table(rt.kind, rows, metadata),
        ));
    }
    // Items are written as stored, with their resourceVersion spliced in: a big LIST costs
    // copying, not parsing and re-encoding every object.
    let head =
        json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata});
    let head = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    let size: usize = items.iter().map(|i| i.json.len() + 32).sum();
    let mut body = Vec::with_capacity(head.len() + size + 16);
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&item.render()?);
    }
    body.extend_from_slice(b"]}");
    Ok(http::json_bytes(StatusCode::OK, body))
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
