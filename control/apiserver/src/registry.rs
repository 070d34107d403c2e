//! Objects in the store: keys, encoding (Secrets encrypted), resource versions, and the
//! mapping of store errors to API errors.

use serde_json::Value;
use skiff_api::ResourceType;
use skiff_api::error::ApiError;
use skiff_api::meta;
use skiff_store::{
    AnyStore, Bytes, KeyValue, ListOptions, Revision, Store, StoreError, WatchStream,
};

use crate::crypto::SecretBox;

/// Typed access to objects in the store.
#[derive(Clone, Debug)]
pub struct Registry {
    pub store: AnyStore,
    secrets: SecretBox,
}

/// An object as read or written, with the revision it was last written at.
#[derive(Clone, Debug)]
pub struct Stored {
    pub object: Value,
    pub revision: Revision,
    /// `object` as stored (plaintext JSON without its resourceVersion); `None` for an object
    /// that was never stored (a dry run).
    json: Option<Bytes>,
}

impl Stored {
    /// An object that is not in the store.
    pub fn unsaved(object: Value) -> Self {
        Stored {
            object,
            revision: 0,
            json: None,
        }
    }

    /// The object's JSON for a response: the stored bytes with the resourceVersion spliced
    /// in, without encoding the object again.
    pub fn to_json(&self) -> Vec<u8> {
        self.json
            .as_ref()
            .and_then(|j| with_resource_version(j, self.revision))
            .unwrap_or_else(|| serde_json::to_vec(&self.object).unwrap_or_default())
    }
}

/// An object as stored (plaintext JSON without its resourceVersion), not yet parsed.
#[derive(Clone, Debug)]
pub struct Raw {
    pub key: String,
    pub json: Bytes,
    pub revision: Revision,
}

impl Raw {
    /// The error for stored bytes that are not a JSON object.
    fn malformed(&self, e: impl std::fmt::Display) -> ApiError {
        ApiError::internal(format!("stored object {} is not valid JSON: {e}", self.key))
    }

    /// The object, parsed, with its resourceVersion.
    pub fn parse(&self) -> Result<Value, ApiError> {
        let mut object: Value =
            serde_json::from_slice(&self.json).map_err(|e| self.malformed(e))?;
        meta::set(
            &mut object,
            "resourceVersion",
            Value::String(self.revision.to_string()),
        );
        Ok(object)
    }

    /// The values at `paths` in the object, read without parsing the rest (see
    /// [`skiff_api::sparse`]).
    pub fn fields<'a>(&'a self, paths: &[&[&str]]) -> Result<Vec<Option<&'a [u8]>>, ApiError> {
        skiff_api::sparse::find_all(&self.json, paths).map_err(|e| self.malformed(e))
    }

    /// The parts of the object at `paths`, parsed, and nothing else (see
    /// [`skiff_api::sparse::project`]).
    pub fn project(&self, paths: &[&[&str]]) -> Result<Value, ApiError> {
        skiff_api::sparse::project(&self.json, paths).map_err(|e| self.malformed(e))
    }

    /// The stored JSON with each `(path, value)` of `edits` set in turn (values are JSON),
    /// the rest copied without parsing (see [`skiff_api::sparse::set`]); the parent of each
    /// path must exist.
    pub fn with_fields(&self, edits: &[(&[&str], &[u8])]) -> Result<Vec<u8>, ApiError> {
        let mut out: Option<Vec<u8>> = None;
        for (path, value) in edits {
            let from = out.as_deref().unwrap_or(&self.json);
            let parent = || path[..path.len() - 1].join(".");
            out = Some(
                skiff_api::sparse::set(from, path, value)
                    .map_err(|e| self.malformed(e))?
                    .ok_or_else(|| self.malformed(format!("no object at {:?}", parent())))?,
            );
        }
        Ok(out.unwrap_or_else(|| self.json.to_vec()))
    }

    /// The object's JSON with its resourceVersion written in, without parsing it.
    pub fn render(&self) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::with_capacity(self.json.len() + 32);
        self.render_into(self.revision, &mut out)?;
        Ok(out)
    }

    /// Appends the object's JSON with resourceVersion `rv` (a deletion's revision, say) to
    /// `out`, without parsing it.
    pub fn render_into(&self, rv: Revision, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if with_resource_version_into(&self.json, rv, out) {
            return Ok(());
        }
        let mut object = self.parse()?;
        meta::set(
            &mut object,
            "resourceVersion",
            Value::String(rv.to_string()),
        );
        serde_json::to_writer(out, &object).map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// Inserts `"resourceVersion":"<rv>"` at the start of the top-level `metadata` object of a
/// JSON document, or `None` if it has none. Scans tokens; never parses values.
pub fn with_resource_version(json: &[u8], rv: Revision) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(json.len() + 32);
    with_resource_version_into(json, rv, &mut out).then_some(out)
}

/// [`with_resource_version`], appending to `out`; false (and nothing appended) when the
/// document has no top-level `metadata` object.
pub fn with_resource_version_into(json: &[u8], rv: Revision, out: &mut Vec<u8>) -> bool {
    let Some(at) = metadata_body(json) else {
        return false;
    };
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(rv.to_string().as_bytes());
    out.push(b'"');
    let rest = &json[at..];
    if rest.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    true
}

/// The offset just inside the `{` of the top-level `"metadata"` object.
fn metadata_body(json: &[u8]) -> Option<usize> {
    let skip_ws = |mut j: usize| {
        while json.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        j
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                let key = json.get(start..i)?;
                i += 1;
                if depth == 1 && key == b"metadata" {
                    let colon = skip_ws(i);
                    if json.get(colon) == Some(&b':') {
                        let open = skip_ws(colon + 1);
                        return (json.get(open) == Some(&b'{')).then_some(open + 1);
                    }
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Raw>,
    pub revision: Revision,
    /// The key to continue from, when the page was cut short.
    pub next: Option<String>,
}

pub fn store_error(rt: &ResourceType, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(rt.plural, rt.group, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(rt.plural, rt.group, name),
        StoreError::Conflict { .. } => ApiError::conflict(
            rt.plural,
            rt.group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        StoreError::Compacted { requested, .. } => ApiError::expired(format!(
            "too old resource version: {requested}: the requested resource version has been compacted"
        )),
        StoreError::FutureRevision { requested, current } => ApiError::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        StoreError::TooLarge { size, limit, .. } => ApiError::too_large(format!(
            "the object is {size} bytes when stored, over the store's limit of {limit} bytes"
        )),
        other => ApiError::internal(other.to_string()),
    }
}

impl Registry {
    pub fn new(store: AnyStore, secrets: SecretBox) -> Self {
        Registry { store, secrets }
    }

    /// The stored form: JSON without the resourceVersion (removed from `obj`), and the
    /// bytes to store: the same, sealed for Secrets.
    fn encode(&self, rt: &ResourceType, obj: &mut Value) -> Result<(Bytes, Bytes), ApiError> {
        meta::remove(obj, "resourceVersion");
        let json = Bytes::from(
            serde_json::to_vec(obj)
                .map_err(|e| ApiError::internal(format!("encoding object: {e}")))?,
        );
        let sealed = self.seal(rt, &json);
        Ok((json, sealed))
    }

    /// The bytes to store for stored-form `json`: sealed for Secrets, as they are otherwise.
    fn seal(&self, rt: &ResourceType, json: &Bytes) -> Bytes {
        if rt.kind == "Secret" {
            Bytes::from(self.secrets.seal(json))
        } else {
            json.clone()
        }
    }

    /// The object in `kv` as stored (decrypted), not yet parsed.
    pub fn raw(&self, kv: &KeyValue) -> Result<Raw, ApiError> {
        let json = match self.secrets.open(&kv.value).map_err(ApiError::internal)? {
            std::borrow::Cow::Borrowed(_) => kv.value.clone(),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        };
        Ok(Raw {
            key: kv.key.clone(),
            json,
            revision: kv.mod_revision,
        })
    }

    /// The object in `kv`, with its resourceVersion.
    pub fn decode(&self, kv: &KeyValue) -> Result<Stored, ApiError> {
        let raw = self.raw(kv)?;
        Ok(Stored {
            object: raw.parse()?,
            revision: kv.mod_revision,
            json: Some(raw.json),
        })
    }

    /// One object as stored, not parsed.
    pub async fn get_raw(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Raw, ApiError> {
        let key = rt.key(namespace, name);
        let (kv, _) = self
            .store
            .get(&key)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        let kv = kv.ok_or_else(|| ApiError::not_found(rt.plural, rt.group, name))?;
        self.raw(&kv)
    }

    pub async fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Stored>, ApiError> {
        let key = rt.key(namespace, name);
        let (kv, _) = self
            .store
            .get(&key)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        kv.map(|kv| self.decode(&kv)).transpose()
    }

    /// Like [`Registry::get`], but a missing object is NotFound.
    pub async fn must_get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Stored, ApiError> {
        self.get(rt, namespace, name)
            .await?
            .ok_or_else(|| ApiError::not_found(rt.plural, rt.group, name))
    }

    /// Up to `limit` objects (0: all) under `prefix` from key `start`, at `revision` (0: now).
    pub async fn list(
        &self,
        rt: &ResourceType,
        prefix: &str,
        start: Option<String>,
        limit: usize,
        revision: Revision,
    ) -> Result<Page, ApiError> {
        let opts = ListOptions {
            revision,
            start,
            limit,
        };
        let result = self
            .store
            .list(prefix, opts)
            .await
            .map_err(|e| store_error(rt, "", e))?;
        let next = result
            .more
            .then(|| result.kvs.last().map(|kv| format!("{}\0", kv.key)))
            .flatten();
        let items = result
            .kvs
            .iter()
            .map(|kv| self.raw(kv))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            revision: result.revision,
            next,
        })
    }

    pub async fn create(&self, rt: &ResourceType, obj: Value) -> Result<Stored, ApiError> {
        let mut obj = obj;
        let name = meta::name(&obj).unwrap_or_default().to_owned();
        let key = rt.key(meta::namespace(&obj), &name);
        let (json, sealed) = self.encode(rt, &mut obj)?;
        let kv = self
            .store
            .create(&key, sealed)
            .await
            .map_err(|e| store_error(rt, &name, e))?;
        Ok(with_revision(obj, kv.mod_revision, json))
    }

    /// Replaces the object if it is still at `expected`.
    pub async fn update(
        &self,
        rt: &ResourceType,
        obj: Value,
        expected: Revision,
    ) -> Result<Stored, ApiError> {
        let mut obj = obj;
        let name = meta::name(&obj).unwrap_or_default().to_owned();
        let key = rt.key(meta::namespace(&obj), &name);
        let (json, sealed) = self.encode(rt, &mut obj)?;
        let kv = self
            .store
            .update(&key, sealed, expected)
            .await
            .map_err(|e| store_error(rt, &name, e))?;
        Ok(with_revision(obj, kv.mod_revision, json))
    }

    /// Replaces `current` with `json` (the new stored form: without a resourceVersion) if
    /// it has not changed since it was read, without parsing either.
    pub async fn replace_raw(
        &self,
        rt: &ResourceType,
        current: &Raw,
        name: &str,
        json: Vec<u8>,
    ) -> Result<Raw, ApiError> {
        let json = Bytes::from(json);
        let kv = self
            .store
            .update(&current.key, self.seal(rt, &json), current.revision)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        Ok(Raw {
            key: current.key.clone(),
            json,
            revision: kv.mod_revision,
        })
    }

    /// Deletes the object if it is still at `expected`; returns its last state.
    pub async fn delete(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        expected: Option<Revision>,
    ) -> Result<Stored, ApiError> {
        let key = rt.key(namespace, name);
        let (prev, revision) = self
            .store
            .delete(&key, expected)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        let mut last = self.decode(&prev)?;
        meta::set(
            &mut last.object,
            "resourceVersion",
            Value::String(revision.to_string()),
        );
        last.revision = revision;
        Ok(last)
    }

    pub async fn watch(
        &self,
        rt: &ResourceType,
        prefix: &str,
        start: Revision,
    ) -> Result<WatchStream, ApiError> {
        self.store
            .watch(prefix, start)
            .await
            .map_err(|e| store_error(rt, "", e))
    }
}

fn with_revision(mut object: Value, revision: Revision, json: Bytes) -> Stored {
    meta::set(
        &mut object,
        "resourceVersion",
        Value::String(revision.to_string()),
    );
    Stored {
        object,
        revision,
        json: Some(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_are_written_into_metadata() {
        let rv = |json: &str| {
            String::from_utf8(with_resource_version(json.as_bytes(), 42).unwrap()).unwrap()
        };
        assert_eq!(
            rv(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}"#),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"resourceVersion":"42","name":"p"},"spec":{}}"#
        );
        assert_eq!(
            rv(r#"{"metadata":{}}"#),
            r#"{"metadata":{"resourceVersion":"42"}}"#
        );
        // Nested "metadata" keys and strings that look like keys are not the top-level one.
        let tricky =
            r#"{"data":{"metadata":{"x":1}},"k":"\"metadata\":{","metadata":{"name":"m"}}"#;
        let out = rv(tricky);
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["metadata"]["resourceVersion"], "42");
        assert!(parsed["data"]["metadata"].get("resourceVersion").is_none());
        assert!(with_resource_version(br#"{"kind":"x"}"#, 1).is_none());
    }
}
