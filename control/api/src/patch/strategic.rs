//! Strategic merge patch: JSON merge patch plus Kubernetes' list semantics. Lists with a merge
//! key (containers by `name`, ports by `containerPort`, ...) merge item by item; other lists
//! are replaced. Directives: `$patch: replace|delete|merge`, `$retainKeys`,
//! `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};

use crate::error::ApiError;

enum ListStrategy {
    Replace,
    MergeByKey(&'static str),
    MergePrimitive,
}

const POD_SPEC_CONTAINERS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// How the list at `path` (field names from the object root, indices skipped) merges.
fn list_strategy(kind: &str, path: &[String]) -> ListStrategy {
    let Some(field) = path.last().map(String::as_str) else {
        return ListStrategy::Replace;
    };
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match field {
        _ if POD_SPEC_CONTAINERS.contains(&field) => ListStrategy::MergeByKey("name"),
        "ports" if parent.is_some_and(|p| POD_SPEC_CONTAINERS.contains(&p)) => {
            ListStrategy::MergeByKey("containerPort")
        }
        "ports" if kind == "Service" && path.len() == 2 => ListStrategy::MergeByKey("port"),
        "env" | "volumes" | "imagePullSecrets" | "resourceClaims" => {
            ListStrategy::MergeByKey("name")
        }
        "volumeMounts" => ListStrategy::MergeByKey("mountPath"),
        "volumeDevices" => ListStrategy::MergeByKey("devicePath"),
        "hostAliases" => ListStrategy::MergeByKey("ip"),
        "topologySpreadConstraints" => ListStrategy::MergeByKey("topologyKey"),
        "conditions" | "addresses" => ListStrategy::MergeByKey("type"),
        "ownerReferences" => ListStrategy::MergeByKey("uid"),
        "finalizers" => ListStrategy::MergePrimitive,
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `doc`, an object of `kind`.
pub fn strategic_merge(kind: &str, doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    let (Value::Object(orig), Value::Object(p)) = (doc, patch) else {
        return Err(ApiError::bad_request(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let mut path = Vec::new();
    Ok(merge_map(kind, orig, p, &mut path)?
        .map(Value::Object)
        .unwrap_or_else(|| Value::Object(Map::new())))
}

fn directive_error(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// Removes directives from a value that is inserted as new (nothing to merge into).
fn strip(kind: &str, v: &Value, path: &mut Vec<String>) -> Result<Value, ApiError> {
    match v {
        Value::Object(m) => Ok(merge_map(kind, &Map::new(), m, path)?
            .map(Value::Object)
            .unwrap_or(Value::Null)),
        Value::Array(a) => merge_list(kind, &[], a, path).map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// `None` means the patch deletes the map.
fn merge_map(
    kind: &str,
    orig: &Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            let mut out = Map::new();
            for (k, v) in patch.iter().filter(|(k, _)| !k.starts_with('$')) {
                path.push(k.clone());
                out.insert(k.clone(), strip(kind, v, path)?);
                path.pop();
            }
            return Ok(Some(out));
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(directive_error(format!(
                "unknown patch directive {other:?}"
            )));
        }
    }
    let mut out = orig.clone();
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or_else(|| directive_error("$retainKeys must be a list of field names"))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        path.push(k.clone());
        match (out.get(k), v) {
            (_, Value::Null) => {
                out.remove(k);
            }
            (Some(Value::Object(o)), Value::Object(p)) => match merge_map(kind, o, p, path)? {
                Some(m) => {
                    out.insert(k.clone(), Value::Object(m));
                }
                None => {
                    out.remove(k);
                }
            },
            (Some(Value::Array(o)), Value::Array(p)) => {
                let merged = merge_list(kind, o, p, path)?;
                out.insert(k.clone(), Value::Array(merged));
            }
            (_, v) => {
                let stripped = strip(kind, v, path)?;
                if stripped.is_null() {
                    out.remove(k);
                } else {
                    out.insert(k.clone(), stripped);
                }
            }
        }
        path.pop();
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = v.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = out.get_mut(field) {
                list.retain(|item| !remove.contains(item));
            }
        }
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            path.push(field.to_owned());
            let key = match list_strategy(kind, path) {
                ListStrategy::MergeByKey(key) => Some(key),
                _ => None,
            };
            path.pop();
            let order = v
                .as_array()
                .ok_or_else(|| directive_error(format!("{k} must be a list")))?;
            if let Some(Value::Array(list)) = out.get_mut(field) {
                reorder(list, order, key);
            }
        }
    }
    Ok(Some(out))
}

/// Puts the items named in `order` first, in that order; the rest keep their order after.
fn reorder(list: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    };
    let wanted: Vec<Value> = order.iter().filter_map(id).collect();
    let mut items = std::mem::take(list);
    for w in &wanted {
        if let Some(pos) = items.iter().position(|i| id(i).as_ref() == Some(w)) {
            list.push(items.remove(pos));
        }
    }
    list.append(&mut items);
}

fn merge_list(
    kind: &str,
    orig: &[Value],
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<Vec<Value>, ApiError> {
    let replace_all = patch.iter().any(|v| {
        v.get("$patch").and_then(Value::as_str) == Some("replace")
            && v.as_object().is_some_and(|o| o.len() == 1)
    });
    if replace_all {
        let mut out = Vec::new();
        for v in patch.iter().filter(|v| v.get("$patch").is_none()) {
            out.push(strip(kind, v, path)?);
        }
        return Ok(out);
    }
    match list_strategy(kind, path) {
        ListStrategy::Replace => patch.iter().map(|v| strip(kind, v, path)).collect(),
        ListStrategy::MergePrimitive => {
            let mut out = orig.to_vec();
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = orig.to_vec();
            for p in patch {
                let Value::Object(pm) = p else {
                    // A list of scalars where a keyed list was expected: replace.
                    return patch.iter().map(|v| strip(kind, v, path)).collect();
                };
                let id = pm.get(key).ok_or_else(|| {
                    directive_error(format!(
                        "map: {} does not contain declared merge key: {key}",
                        Value::Object(pm.clone())
                    ))
                })?;
                let pos = out.iter().position(|o| o.get(key) == Some(id));
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(pos) = pos {
                        out.remove(pos);
                    }
                    continue;
                }
                match pos {
                    Some(pos) => {
                        let Value::Object(om) = &out[pos] else {
                            out[pos] = strip(kind, p, path)?;
                            continue;
                        };
                        match merge_map(kind, om, pm, path)? {
                            Some(m) => out[pos] = Value::Object(m),
                            None => {
                                out.remove(pos);
                            }
                        }
                    }
                    None => out.push(strip(kind, p, path)?),
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(kind: &str, doc: Value, patch: Value, want: Value) {
        assert_eq!(strategic_merge(kind, &doc, &patch).unwrap(), want);
    }

    fn deployment(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn containers_merge_by_name() {
        check(
            "Deployment",
            deployment(
                json!([{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                              {"name": "side", "image": "busybox"}]),
            ),
            deployment(json!([{"name": "web", "image": "nginx:2"}])),
            deployment(
                json!([{"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]},
                              {"name": "side", "image": "busybox"}]),
            ),
        );
    }

    #[test]
    fn kubectl_set_image_patch() {
        let doc = deployment(json!([{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"image": "y:2", "name": "b"}]}}}});
        check(
            "Deployment",
            doc,
            patch,
            deployment(json!([{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}])),
        );
    }

    #[test]
    fn delete_and_replace_directives() {
        check(
            "Deployment",
            deployment(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
            deployment(json!([{"name": "a", "$patch": "delete"}])),
            deployment(json!([{"name": "b", "image": "y"}])),
        );
        check(
            "Pod",
            json!({"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "env": [{"$patch": "replace"}, {"name": "F", "value": "2"}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "F", "value": "2"}]}]}}),
        );
        check(
            "Pod",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            json!({"metadata": {"labels": {"c": "3"}}}),
        );
        check(
            "Deployment",
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
    }

    #[test]
    fn service_ports_by_port_and_plain_lists_replace() {
        check(
            "Service",
            json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}],
                             "externalIPs": ["1.1.1.1"]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}], "externalIPs": ["2.2.2.2"]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}],
                             "externalIPs": ["2.2.2.2"]}}),
        );
    }

    #[test]
    fn primitive_lists_and_nulls() {
        check(
            "ConfigMap",
            json!({"metadata": {"finalizers": ["a", "b"]}, "data": {"k": "v", "x": "y"}}),
            json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
                   "data": {"x": null}}),
            json!({"metadata": {"finalizers": ["b", "c"]}, "data": {"k": "v"}}),
        );
        let err = strategic_merge(
            "Pod",
            &json!({}),
            &json!({"spec": {"containers": [{"image": "x"}]}}),
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("does not contain declared merge key: name"),
            "{}",
            err.message
        );
    }
}
