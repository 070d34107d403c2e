//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl
//! 1.32+ sends for typed `kubectl create` commands: the `k8s\0` magic, then a
//! `runtime.Unknown` whose `raw` field holds the object. The object is decoded into the
//! JSON the rest of the server handles, following a schema of the message types those
//! commands use ([`schema`]). A field outside the schema is refused with a clear error
//! rather than dropped.

mod schema;
mod wire;

use serde_json::{Map, Value, json};
use skiff_api::error::ApiError;

use schema::{Field, Message, Ty};
use wire::Reader;

const MAGIC: &[u8] = b"k8s\0";

fn unsupported(msg: impl Into<String>) -> ApiError {
    ApiError::unsupported_media_type(format!(
        "{}; send this object as JSON (Content-Type: application/json)",
        msg.into()
    ))
}

/// Decodes a protobuf request body into the object as JSON (`apiVersion` and `kind` set).
pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let body = bytes.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request("protobuf body does not start with the k8s\\0 magic")
    })?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(body);
    while let Some((num, wt)) = r.key().map_err(bad)? {
        match num {
            1 => {
                let mut tm = Reader::new(r.bytes(wt).map_err(bad)?);
                while let Some((n, w)) = tm.key().map_err(bad)? {
                    let s = String::from_utf8_lossy(tm.bytes(w).map_err(bad)?).into_owned();
                    match n {
                        1 => api_version = s,
                        2 => kind = s,
                        _ => {}
                    }
                }
            }
            2 => raw = r.bytes(wt).map_err(bad)?,
            3 | 4 => {
                let v = r.bytes(wt).map_err(bad)?;
                if num == 3 && !v.is_empty() {
                    return Err(unsupported(
                        "content-encoded protobuf bodies are not supported",
                    ));
                }
            }
            _ => r.skip(wt).map_err(bad)?,
        }
    }
    let msg = schema::top_level(&api_version, &kind).ok_or_else(|| {
        unsupported(format!(
            "protobuf bodies are accepted for {}, not for {kind} ({api_version})",
            schema::supported()
        ))
    })?;
    let mut obj = message(msg, raw)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn bad(e: String) -> ApiError {
    ApiError::bad_request(format!("malformed protobuf body: {e}"))
}

fn message(msg: &Message, bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut r = Reader::new(bytes);
    while let Some((num, wt)) = r.key().map_err(bad)? {
        let Some(field) = msg.fields.iter().find(|f| f.num == num) else {
            return Err(unsupported(format!(
                "protobuf field {num} of {} is not supported",
                msg.name
            )));
        };
        let value = scalar_or_message(field, wt, &mut r, msg)?;
        place(&mut out, field, value);
    }
    Ok(out)
}

/// Puts one decoded value in place: appended for repeated fields, merged for inlined
/// structs, omitted when it is the zero value of a field Go's JSON would omit.
fn place(out: &mut Map<String, Value>, field: &Field, value: Option<Value>) {
    let Some(value) = value else { return };
    if let Ty::Inline(_) = field.ty {
        if let Value::Object(m) = value {
            out.extend(m);
        }
        return;
    }
    if field.repeated {
        match (&field.ty, value) {
            (Ty::MapStr | Ty::MapBytes | Ty::MapQuantity, Value::Object(entry)) => {
                let map = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = map.as_object_mut() {
                    m.extend(entry);
                }
            }
            (_, v) => {
                let list = out.entry(field.name).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(v);
                }
            }
        }
        return;
    }
    out.insert(field.name.to_owned(), value);
}

fn scalar_or_message(
    field: &Field,
    wt: u8,
    r: &mut Reader,
    msg: &Message,
) -> Result<Option<Value>, ApiError> {
    let wrong = || {
        bad(format!(
            "field {} ({}) of {} has wire type {wt}",
            field.num, field.name, msg.name
        ))
    };
    Ok(match &field.ty {
        Ty::Str => {
            let s = String::from_utf8(r.bytes(wt).map_err(bad)?.to_vec())
                .map_err(|_| bad(format!("{}.{} is not UTF-8", msg.name, field.name)))?;
            (field.repeated || field.keep || !s.is_empty()).then_some(Value::String(s))
        }
        Ty::Int => {
            if wt != 0 {
                return Err(wrong());
            }
            let v = r.varint().map_err(bad)? as i64;
            (field.repeated || field.keep || v != 0).then_some(json!(v))
        }
        Ty::Int32 => {
            if wt != 0 {
                return Err(wrong());
            }
            let v = r.varint().map_err(bad)? as i64 as i32;
            (field.repeated || field.keep || v != 0).then_some(json!(v))
        }
        Ty::Bool => {
            if wt != 0 {
                return Err(wrong());
            }
            let v = r.varint().map_err(bad)? != 0;
            (field.keep || v).then_some(json!(v))
        }
        Ty::Msg(inner) | Ty::Inline(inner) => {
            Some(Value::Object(message(inner, r.bytes(wt).map_err(bad)?)?))
        }
        Ty::Skip => {
            r.skip(wt).map_err(bad)?;
            None
        }
        Ty::Time => {
            let m = Reader::new(r.bytes(wt).map_err(bad)?)
                .fields()
                .map_err(bad)?;
            let seconds = m
                .iter()
                .find(|(n, _)| *n == 1)
                .map_or(0, |(_, v)| *v as i64);
            if seconds == 0 {
                None
            } else {
                let ts = jiff::Timestamp::from_second(seconds).map_err(|e| bad(e.to_string()))?;
                Some(json!(skiff_api::time::format_ts(ts)))
            }
        }
        Ty::IntOrStr => {
            let bytes = r.bytes(wt).map_err(bad)?;
            let mut ior = Reader::new(bytes);
            let (mut kind, mut int, mut text) = (0u64, 0i64, String::new());
            while let Some((n, w)) = ior.key().map_err(bad)? {
                match n {
                    1 => kind = ior.varint().map_err(bad)?,
                    2 => int = ior.varint().map_err(bad)? as i64 as i32 as i64,
                    3 => text = String::from_utf8_lossy(ior.bytes(w).map_err(bad)?).into_owned(),
                    _ => ior.skip(w).map_err(bad)?,
                }
            }
            Some(if kind == 1 { json!(text) } else { json!(int) })
        }
        Ty::Quantity => Some(json!(quantity(r.bytes(wt).map_err(bad)?)?)),
        Ty::MapStr | Ty::MapBytes | Ty::MapQuantity => {
            let entry = r.bytes(wt).map_err(bad)?;
            let mut er = Reader::new(entry);
            let (mut key, mut value) = (String::new(), Value::String(String::new()));
            while let Some((n, w)) = er.key().map_err(bad)? {
                let b = er.bytes(w).map_err(bad)?;
                match n {
                    1 => key = String::from_utf8_lossy(b).into_owned(),
                    2 => {
                        value = match field.ty {
                            Ty::MapBytes => {
                                use base64::Engine;
                                json!(base64::engine::general_purpose::STANDARD.encode(b))
                            }
                            Ty::MapQuantity => json!(quantity(b)?),
                            _ => json!(String::from_utf8_lossy(b)),
                        }
                    }
                    _ => {}
                }
            }
            let mut m = Map::new();
            m.insert(key, value);
            Some(Value::Object(m))
        }
    })
}

fn quantity(bytes: &[u8]) -> Result<String, ApiError> {
    let mut r = Reader::new(bytes);
    let mut s = String::new();
    while let Some((n, w)) = r.key().map_err(bad)? {
        let b = r.bytes(w).map_err(bad)?;
        if n == 1 {
            s = String::from_utf8_lossy(b).into_owned();
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protobuf");

    /// What kubectl's `--dry-run=client -o json` prints, without the nulls and empty status
    /// Go's encoder writes and the protobuf form leaves out.
    fn normalise(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.remove("status");
                m.values_mut().for_each(normalise);
            }
            Value::Array(a) => a.iter_mut().for_each(normalise),
            _ => {}
        }
    }

    #[test]
    fn typed_kubectl_creates_decode_to_what_kubectl_means() {
        let mut checked = 0;
        for entry in std::fs::read_dir(FIXTURES).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "bin") {
                continue;
            }
            let decoded = decode(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut want: Value =
                serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap())
                    .unwrap();
            normalise(&mut want);
            let mut got = decoded.clone();
            normalise(&mut got);
            assert_eq!(got, want, "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} fixtures");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = decode(b"{}").unwrap_err();
        assert!(e.message.contains("magic"), "{}", e.message);
        // A Pod is not among the kinds typed creates send.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&[0x0a, 0x07, 0x0a, 0x02, b'v', b'1', 0x12, 0x01, b'X']);
        let e = decode(&body).unwrap_err();
        assert_eq!(e.code, 415);
        // Namespace with a field number the schema does not know.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&[0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09]);
        body.extend_from_slice(b"Namespace");
        body.extend_from_slice(&[0x12, 0x02, 0x48, 0x01]);
        let e = decode(&body).unwrap_err();
        assert!(
            e.message
                .contains("protobuf field 9 of Namespace is not supported"),
            "{}",
            e.message
        );
    }
}
