//! One request: authenticate, read the body, route, call the handler, render errors.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;
use skiff_api::error::ApiError;
use skiff_api::resources::Subresource;

use crate::app::App;
use crate::discovery;
use crate::http::{self, MAX_BODY_BYTES, Query};
use crate::router::{self, Route, Target};
use crate::{objects, subresources, watch};

/// Everything a handler needs from the request.
#[derive(Debug)]
pub struct Call {
    pub target: Target,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn namespace(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    /// The object name from the URL; only called on object routes.
    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    // Constant-time comparison.
    let (a, b) = (token.trim().as_bytes(), app.token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn dispatch(app: Arc<App>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let route = router::parse(parts.uri.path());
    let public = matches!(route, Route::Version | Route::Health);
    if !public && !authorized(&app, &parts.headers) {
        return http::error(&ApiError::unauthorized());
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return http::error(&ApiError::too_large(format!(
                "the request body is larger than the {MAX_BODY_BYTES}-byte limit"
            )));
        }
    };
    let query = Query::parse(parts.uri.query());
    let method = parts.method.clone();
    let result = match route {
        Route::Root => Ok(http::json(
            StatusCode::OK,
            &json!({"paths": ["/api", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3"]}),
        )),
        Route::Version => Ok(http::json(StatusCode::OK, &discovery::version())),
        Route::Health => Ok(plain("ok")),
        Route::Api => Ok(http::json(StatusCode::OK, &discovery::core_versions())),
        Route::Apis => Ok(http::json(StatusCode::OK, &discovery::groups())),
        Route::ApiGroup(g) => discovery::api_group(&g)
            .map(|v| http::json(StatusCode::OK, &v))
            .ok_or_else(|| ApiError::no_route(parts.uri.path())),
        Route::ResourceList(g, v) => discovery::resource_list(&g, &v)
            .map(|v| http::json(StatusCode::OK, &v))
            .ok_or_else(|| ApiError::no_route(parts.uri.path())),
        Route::OpenApiV2 => Ok(openapi_v2(&parts.headers)),
        Route::OpenApiV3 => Ok(http::json(StatusCode::OK, &json!({"paths": {}}))),
        Route::NotFound => Err(ApiError::no_route(parts.uri.path())),
        Route::Object(target) => {
            let call = Call {
                target,
                query,
                headers: parts.headers,
                body,
            };
            object(&app, method, call).await
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            if e.code >= 500 {
                tracing::warn!(path = %parts.uri.path(), error = %e, "request failed");
            }
            http::error(&e)
        }
    }
}

fn plain(text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn openapi_v2(headers: &HeaderMap) -> Response {
    let wants_proto = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("protobuf"));
    if wants_proto {
        let mut r = Response::new(Body::from(discovery::OPENAPI_V2_PROTOBUF));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(discovery::OPENAPI_V2_PROTOBUF_TYPE),
        );
        r
    } else {
        http::json(StatusCode::OK, &discovery::openapi_v2_json())
    }
}

async fn object(app: &Arc<App>, method: Method, call: Call) -> Result<Response, ApiError> {
    let t = &call.target;
    let not_allowed = || {
        ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            t.rt.plural
        ))
    };
    if !t.rt.writable && method != Method::GET {
        return Err(not_allowed());
    }
    match (&method, t.name.is_some(), t.sub) {
        (&Method::GET, false, None) if t.watch || call.query.flag("watch") => {
            watch::watch(app, call).await
        }
        (&Method::GET, false, None) => objects::list(app, &call).await,
        (&Method::GET, true, None) => objects::get(app, &call).await,
        (&Method::POST, false, None) => objects::create(app, &call).await,
        (&Method::PUT, true, None) => objects::update(app, &call).await,
        (&Method::PATCH, true, None) => objects::patch(app, &call).await,
        (&Method::DELETE, true, None) => objects::delete(app, &call).await,
        (&Method::DELETE, false, None) => objects::delete_collection(app, &call).await,
        (_, true, Some(sub)) => subresources::handle(app, &method, sub, &call).await,
        (_, false, Some(Subresource::Binding | Subresource::Eviction)) | (_, _, _) => {
            Err(not_allowed())
        }
    }
}
