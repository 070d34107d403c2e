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

/// An object as read, with the revision it was last written at.
#[derive(Clone, Debug)]
pub struct Stored {
    pub object: Value,
    pub revision: Revision,
}

/// A page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Stored>,
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

    fn encode(&self, rt: &ResourceType, obj: &Value) -> Result<Bytes, ApiError> {
        let mut obj = obj.clone();
        meta::remove(&mut obj, "resourceVersion");
        let json = serde_json::to_vec(&obj)
            .map_err(|e| ApiError::internal(format!("encoding object: {e}")))?;
        Ok(if rt.kind == "Secret" {
            Bytes::from(self.secrets.seal(&json))
        } else {
            Bytes::from(json)
        })
    }

    /// The object in `kv`, with its resourceVersion.
    pub fn decode(&self, kv: &KeyValue) -> Result<Stored, ApiError> {
        let plain = self.secrets.open(&kv.value).map_err(ApiError::internal)?;
        let mut object: Value = serde_json::from_slice(&plain).map_err(|e| {
            ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key))
        })?;
        meta::set(
            &mut object,
            "resourceVersion",
            Value::String(kv.mod_revision.to_string()),
        );
        Ok(Stored {
            object,
            revision: kv.mod_revision,
        })
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
            .map(|kv| self.decode(kv))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            revision: result.revision,
            next,
        })
    }

    pub async fn create(&self, rt: &ResourceType, obj: &Value) -> Result<Stored, ApiError> {
        let name = meta::name(obj).unwrap_or_default();
        let key = rt.key(meta::namespace(obj), name);
        let kv = self
            .store
            .create(&key, self.encode(rt, obj)?)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        with_revision(obj, kv.mod_revision)
    }

    /// Replaces the object if it is still at `expected`.
    pub async fn update(
        &self,
        rt: &ResourceType,
        obj: &Value,
        expected: Revision,
    ) -> Result<Stored, ApiError> {
        let name = meta::name(obj).unwrap_or_default();
        let key = rt.key(meta::namespace(obj), name);
        let kv = self
            .store
            .update(&key, self.encode(rt, obj)?, expected)
            .await
            .map_err(|e| store_error(rt, name, e))?;
        with_revision(obj, kv.mod_revision)
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

    /// Read-modify-write with retries: `change` gets the current object and returns the new
    /// one (`None`: nothing to write). With `precondition`, a stale revision is a Conflict;
    /// without, concurrent writers are retried.
    pub async fn guaranteed_update<F>(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        precondition: Option<Revision>,
        mut change: F,
    ) -> Result<Stored, ApiError>
    where
        F: FnMut(Stored) -> Result<Option<Value>, ApiError>,
    {
        loop {
            let current = self.must_get(rt, namespace, name).await?;
            if let Some(rv) = precondition
                && rv != current.revision
            {
                return Err(store_error(
                    rt,
                    name,
                    StoreError::Conflict {
                        key: String::new(),
                        expected: rv,
                        current: Box::new(KeyValue {
                            key: String::new(),
                            value: Bytes::new(),
                            create_revision: 0,
                            mod_revision: current.revision,
                            version: 0,
                        }),
                    },
                ));
            }
            let revision = current.revision;
            let Some(new) = change(current.clone())? else {
                return Ok(current);
            };
            match self.update(rt, &new, revision).await {
                Err(e) if e.code == 409 && precondition.is_none() => continue,
                other => return other,
            }
        }
    }
}

fn with_revision(obj: &Value, revision: Revision) -> Result<Stored, ApiError> {
    let mut object = obj.clone();
    meta::set(
        &mut object,
        "resourceVersion",
        Value::String(revision.to_string()),
    );
    Ok(Stored { object, revision })
}
