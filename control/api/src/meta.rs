//! Reading and writing `metadata` on objects held as JSON.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata`, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

pub fn str_field<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> Option<&str> {
    str_field(obj, "name").filter(|s| !s.is_empty())
}

pub fn namespace(obj: &Value) -> Option<&str> {
    str_field(obj, "namespace").filter(|s| !s.is_empty())
}

pub fn resource_version(obj: &Value) -> Option<&str> {
    str_field(obj, "resourceVersion").filter(|s| !s.is_empty())
}

pub fn uid(obj: &Value) -> Option<&str> {
    str_field(obj, "uid").filter(|s| !s.is_empty())
}

pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    str_field(obj, "deletionTimestamp")
}

pub fn generation(obj: &Value) -> i64 {
    meta(obj)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A string map in metadata (`labels`, `annotations`).
pub fn string_map(obj: &Value, field: &str) -> BTreeMap<String, String> {
    meta(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj, "labels")
}

pub fn annotations(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj, "annotations")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set(obj: &mut Value, field: &str, value: Value) {
    meta_mut(obj).insert(field.to_owned(), value);
}

pub fn remove(obj: &mut Value, field: &str) {
    meta_mut(obj).remove(field);
}

/// The controller owner reference, if any.
pub fn controller_ref(obj: &Value) -> Option<&Value> {
    meta(obj)?
        .get("ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// Whether two objects agree on every top-level field not in `skip`, without copying either.
fn equal_except(a: &Value, b: &Value, skip: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip.contains(&k.as_str())).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether the spec part (everything but `metadata`, `status`, `apiVersion` and `kind`, what
/// a generation counts changes of) is the same in both.
pub fn same_spec(a: &Value, b: &Value) -> bool {
    equal_except(a, b, &["metadata", "status", "apiVersion", "kind"])
}

/// Whether two versions of an object are the same but for their resourceVersion (a missing
/// `metadata` counts as an empty one).
pub fn same_but_resource_version(a: &Value, b: &Value) -> bool {
    let empty = Value::Object(Map::new());
    equal_except(a, b, &["metadata"])
        && equal_except(
            a.get("metadata").unwrap_or(&empty),
            b.get("metadata").unwrap_or(&empty),
            &["resourceVersion"],
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_metadata() {
        let mut o = json!({"kind": "Pod", "spec": {"a": 1}, "status": {"b": 2}});
        assert_eq!(name(&o), None);
        set(&mut o, "name", json!("web"));
        set(&mut o, "labels", json!({"app": "web"}));
        assert_eq!(name(&o), Some("web"));
        assert_eq!(labels(&o).get("app").map(String::as_str), Some("web"));
        let mut other = o.clone();
        other["status"] = json!({"b": 3});
        other["apiVersion"] = json!("v1");
        assert!(same_spec(&o, &other));
        other["spec"]["a"] = json!(2);
        assert!(!same_spec(&o, &other));
        remove(&mut o, "labels");
        assert!(labels(&o).is_empty());
    }

    #[test]
    fn equality_but_for_the_resource_version() {
        let a =
            json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "1"}, "spec": {}});
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("7");
        assert!(same_but_resource_version(&a, &b));
        remove(&mut b, "resourceVersion");
        assert!(same_but_resource_version(&a, &b));
        b["metadata"]["labels"] = json!({"x": "y"});
        assert!(!same_but_resource_version(&a, &b));
        let no_meta = json!({"kind": "Pod", "spec": {}});
        assert!(same_but_resource_version(
            &no_meta,
            &json!({"kind": "Pod", "spec": {}, "metadata": {}})
        ));
        assert!(!same_but_resource_version(
            &no_meta,
            &json!({"kind": "Pod"})
        ));
    }
}
