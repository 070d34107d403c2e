//! URL layout of the Kubernetes API and dispatch of each request to its handler.

use skiff_api::resources::{self, ResourceType, Subresource};

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Root,
    Version,
    Health,
    Api,
    Apis,
    ApiGroup(String),
    ResourceList(String, String),
    OpenApiV2,
    OpenApiV3,
    Object(Target),
    NotFound,
}

/// A request on a resource type, a collection or one object.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<Subresource>,
    /// The legacy `/watch/` path form.
    pub watch: bool,
}

pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        [] => Route::Root,
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3", ..] => Route::OpenApiV3,
        ["api"] => Route::Api,
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["apis"] => Route::Apis,
        ["apis", group] => Route::ApiGroup((*group).to_owned()),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    if rest.is_empty() {
        return Route::ResourceList(group.to_owned(), version.to_owned());
    }
    let (watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    // namespaces/{ns}/{plural}[/{name}[/{sub}]]
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(rt) = resources::find(group, version, plural).filter(|r| r.namespaced)
    {
        return target(rt, Some(ns), tail, watch);
    }
    let [plural, tail @ ..] = rest else {
        return Route::NotFound;
    };
    let Some(rt) = resources::find(group, version, plural) else {
        return Route::NotFound;
    };
    if rt.namespaced && !tail.is_empty() {
        return Route::NotFound;
    }
    target(rt, None, tail, watch)
}

fn target(rt: &'static ResourceType, ns: Option<&str>, tail: &[&str], watch: bool) -> Route {
    let (name, sub) = match tail {
        [] => (None, None),
        [name] => (Some(*name), None),
        [name, sub, rest @ ..] => match Subresource::parse(sub).filter(|s| rt.has(*s)) {
            // Only a proxy carries a path of its own after the subresource; a proxied
            // object's name may name a port (`web:8080`).
            Some(Subresource::Proxy) => (
                name.split_once(':').map_or(Some(*name), |(n, _)| Some(n)),
                Some(Subresource::Proxy),
            ),
            Some(s) if rest.is_empty() => (Some(*name), Some(s)),
            _ => return Route::NotFound,
        },
    };
    Route::Object(Target {
        rt,
        namespace: ns.map(str::to_owned),
        name: name.map(str::to_owned),
        sub,
        watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> Target {
        match parse(path) {
            Route::Object(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let t = object("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (t.rt.plural, t.namespace.as_deref(), t.name.as_deref()),
            ("pods", Some("default"), Some("web"))
        );
        assert_eq!(t.sub, Some(Subresource::Log));
        let t = object("/apis/apps/v1/namespaces/prod/deployments");
        assert_eq!((t.rt.kind, t.name), ("Deployment", None));
        let t = object("/api/v1/pods");
        assert_eq!((t.rt.plural, t.namespace), ("pods", None));
        let t = object("/api/v1/namespaces/prod");
        assert_eq!(
            (t.rt.plural, t.name.as_deref()),
            ("namespaces", Some("prod"))
        );
        let t = object("/api/v1/namespaces/prod/status");
        assert_eq!(
            (t.name.as_deref(), t.sub),
            (Some("prod"), Some(Subresource::Status))
        );
        let t = object("/api/v1/watch/namespaces/default/pods");
        assert!(t.watch);
        let t = object("/api/v1/nodes/n1/status");
        assert_eq!(t.sub, Some(Subresource::Status));
        assert_eq!(parse("/api/v1/pods/web"), Route::NotFound);
        assert_eq!(
            parse("/api/v1/namespaces/default/pods/web/bogus"),
            Route::NotFound
        );
        assert_eq!(parse("/apis/apps/v1/configmaps"), Route::NotFound);
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::ResourceList("apps".into(), "v1".into())
        );
        assert_eq!(parse("/version"), Route::Version);
        let t = object("/api/v1/namespaces/default/pods/web:8080/proxy/healthz/ready");
        assert_eq!(
            (t.name.as_deref(), t.sub),
            (Some("web"), Some(Subresource::Proxy))
        );
        let t = object("/api/v1/namespaces/default/pods/web/exec");
        assert_eq!(t.sub, Some(Subresource::Exec));
        assert_eq!(
            parse("/api/v1/namespaces/default/pods/web/exec/more"),
            Route::NotFound
        );
        let t = object("/api/v1/nodes/n1/proxy");
        assert_eq!(t.sub, Some(Subresource::Proxy));
    }
}
