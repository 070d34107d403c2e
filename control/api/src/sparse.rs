//! Sparse reads of JSON documents: the few fields a selector looks at, without building the
//! whole object. Watches and filtered lists test every stored object against their selectors;
//! parsing a 2 KiB pod into a `Value` to read `spec.nodeName` costs far more than skipping
//! over the rest of the bytes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The parts of `json` at `paths` (each a list of object keys from the root), as a `Value`
/// that holds exactly those parts where they exist: `project(j, p).pointer(x)` equals
/// `parse(j).pointer(x)` for every `x` along a path in `p`. Everything else is skipped,
/// unparsed (but still checked to be well-formed JSON).
pub fn project(json: &[u8], paths: &[&[&str]]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let v = Pick(paths).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Picks the parts of one value that `paths` (relative to it) name.
struct Pick<'p>(&'p [&'p [&'p str]]);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.iter().any(|p| p.is_empty()) {
            // The whole value is wanted.
            return Value::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

/// An object key, borrowed from the input unless it has escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let rest: Vec<&[&str]> = self
                .0
                .iter()
                .filter(|p| p.first() == Some(&&*key))
                .map(|p| &p[1..])
                .collect();
            if rest.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                out.insert(key.into_owned(), map.next_value_seed(Pick(&rest))?);
            }
        }
        Ok(Value::Object(out))
    }

    // Paths go through objects only: anything else on the way is as good as absent.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"web","labels":{"app":"web","tier":"fe"},"annotations":{"a":"b"}},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}],"hostNetwork":true},
        "status":{"phase":"Running","conditions":[{"type":"Ready"}]}}"#;

    #[test]
    fn keeps_exactly_the_named_parts() {
        let v = project(
            POD.as_bytes(),
            &[
                &["metadata", "labels"],
                &["spec", "nodeName"],
                &["status", "phase"],
            ],
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"app": "web", "tier": "fe"}},
                   "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
        );
    }

    #[test]
    fn agrees_with_a_full_parse_on_every_path() {
        let full: Value = serde_json::from_str(POD).unwrap();
        let paths: [&[&str]; 6] = [
            &["metadata", "name"],
            &["spec", "hostNetwork"],
            &["spec", "containers", "name"],
            &["status", "missing"],
            &["kind"],
            &["nothing", "here"],
        ];
        let v = project(POD.as_bytes(), &paths).unwrap();
        for p in paths {
            let ptr: String = p.iter().map(|s| format!("/{s}")).collect();
            assert_eq!(v.pointer(&ptr), full.pointer(&ptr), "{ptr}");
        }
    }

    #[test]
    fn escaped_keys_and_empty_paths() {
        let v = project(br#"{"a\"b":{"c":1},"x":2}"#, &[&["a\"b"]]).unwrap();
        assert_eq!(v, json!({"a\"b": {"c": 1}}));
        assert_eq!(project(br#"{"x":2}"#, &[]).unwrap(), json!({}));
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(project(br#"{"metadata":{"labels":"#, &[&["metadata"]]).is_err());
        assert!(project(br#"{"a":1} trailing"#, &[&["a"]]).is_err());
        assert!(project(br#"{"a":[1,}"#, &[&["b"]]).is_err());
    }
}
