//! The API client skiff's own components (scheduler driver, simulated nodes, benchmarks) use.
//!
//! Two transports, one behaviour: HTTPS to any Kubernetes-compatible API server (a
//! kubeconfig's server, CA and token), or in-process calls straight into skiff's API server
//! (`skiff up` runs its components that way: the same authentication, validation, admission
//! and watch code, without TLS and sockets).

mod kubeconfig;
mod watch;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use watch::{Decoder, Event, EventType};

/// An API error: the HTTP status and the server's `Status` message.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "API error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn from_response(code: u16, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        ApiError { code, message }
    }
}

/// The status code of an error returned by this client, if it is an API error.
pub fn status_code(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ApiError>().map(|a| a.code)
}

/// An HTTP/2-capable HTTPS client that trusts only `ca_pem` (the cluster CA).
pub fn https_client(ca_pem: &[u8]) -> Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("parsing the cluster CA certificate")?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTPS client")
}

#[derive(Clone)]
enum Transport {
    Https { http: reqwest::Client, base: String },
    InProcess(Arc<skiff_apiserver::App>),
}

/// A client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    auth: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Https { base, .. } => write!(f, "Client({base})"),
            Transport::InProcess(_) => f.write_str("Client(in-process)"),
        }
    }
}

/// A LIST's items and the resourceVersion to watch from.
#[derive(Debug)]
pub struct List<T> {
    pub items: Vec<T>,
    pub resource_version: String,
}

impl Client {
    /// HTTPS to `base` (e.g. `https://127.0.0.1:6443`), trusting `ca_pem`, with a bearer token.
    pub fn https(base: &str, ca_pem: &[u8], token: &str) -> Result<Self> {
        Ok(Client {
            transport: Transport::Https {
                http: https_client(ca_pem)?,
                base: base.trim_end_matches('/').to_owned(),
            },
            auth: format!("Bearer {token}"),
        })
    }

    /// A client for the cluster a kubeconfig file points at (its current context).
    pub fn from_kubeconfig(path: &std::path::Path) -> Result<Self> {
        let k = kubeconfig::load(path)?;
        Self::https(&k.server, &k.ca_pem, &k.token)
    }

    /// Calls into an API server running in this process.
    pub fn in_process(app: Arc<skiff_apiserver::App>) -> Self {
        let auth = format!("Bearer {}", app.token);
        Client {
            transport: Transport::InProcess(app),
            auth,
        }
    }

    /// One request; the status and body, whatever the status.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes)> {
        match &self.transport {
            Transport::Https { http, base } => {
                let method = reqwest::Method::from_bytes(method.as_bytes())?;
                let r = http
                    .request(method, format!("{base}{path}"))
                    .header("Authorization", &self.auth)
                    .header("Content-Type", content_type)
                    .header("Accept", "application/json")
                    .body(body)
                    .send()
                    .await
                    .with_context(|| format!("{path}: cannot reach the API server"))?;
                let status = r.status().as_u16();
                Ok((status, r.bytes().await?))
            }
            Transport::InProcess(app) => {
                // Boxed: the server's request future is large, and every future awaiting
                // this one (spawned tasks included) would otherwise carry it inline.
                let r = Box::pin(skiff_apiserver::call(
                    Arc::clone(app),
                    self.request(method, path, content_type, body)?,
                ))
                .await;
                let status = r.status().as_u16();
                let body = axum::body::to_bytes(r.into_body(), usize::MAX).await?;
                Ok((status, body))
            }
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<axum::http::Request<axum::body::Body>> {
        Ok(axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("Authorization", &self.auth)
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(axum::body::Body::from(body))?)
    }

    /// A request that must succeed (2xx); its body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Bytes> {
        let (code, body) = self.raw(method, path, content_type, body).await?;
        if !(200..300).contains(&code) {
            return Err(ApiError::from_response(code, &body).into());
        }
        Ok(body)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self
            .send("GET", path, "application/json", Bytes::new())
            .await?;
        serde_json::from_slice(&body).with_context(|| format!("decoding GET {path}"))
    }

    /// LIST: the items and the list's resourceVersion.
    pub async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<List<T>> {
        #[derive(serde::Deserialize)]
        struct Meta {
            #[serde(rename = "resourceVersion", default)]
            resource_version: String,
        }
        #[derive(serde::Deserialize)]
        struct ListBody<T> {
            metadata: Meta,
            #[serde(default = "Vec::new")]
            items: Vec<T>,
        }
        let l: ListBody<T> = self.get(path).await?;
        Ok(List {
            items: l.items,
            resource_version: l.metadata.resource_version,
        })
    }

    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<Bytes> {
        self.send(
            "POST",
            path,
            "application/json",
            serde_json::to_vec(body)?.into(),
        )
        .await
    }

    pub async fn put<B: Serialize>(&self, path: &str, body: &B) -> Result<Bytes> {
        self.send(
            "PUT",
            path,
            "application/json",
            serde_json::to_vec(body)?.into(),
        )
        .await
    }

    /// A JSON merge patch.
    pub async fn merge_patch<B: Serialize>(&self, path: &str, patch: &B) -> Result<Bytes> {
        self.send(
            "PATCH",
            path,
            "application/merge-patch+json",
            serde_json::to_vec(patch)?.into(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Result<Bytes> {
        self.send("DELETE", path, "application/json", Bytes::new())
            .await
    }

    /// A watch: decoded events, until the server ends it.
    pub async fn watch<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Event<T>>> + Send + use<T>> {
        self.watch_with(path, watch::from_json::<T>).await
    }

    /// A watch whose objects `decode` reads from their JSON bytes (shared with the event
    /// line, not copied).
    pub async fn watch_with<T: Send + 'static>(
        &self,
        path: &str,
        decode: Decoder<T>,
    ) -> Result<impl Stream<Item = Result<Event<T>>> + Send + use<T>> {
        Ok(watch::decode(self.watch_chunks(path).await?, decode))
    }

    /// The body of a watch response, as it arrives.
    async fn watch_chunks(
        &self,
        path: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes>>> {
        Ok(match &self.transport {
            Transport::Https { http, base } => {
                let r = http
                    .get(format!("{base}{path}"))
                    .header("Authorization", &self.auth)
                    .header("Accept", "application/json")
                    .send()
                    .await
                    .with_context(|| format!("{path}: cannot reach the API server"))?;
                let code = r.status().as_u16();
                if code != 200 {
                    let body = r.bytes().await.unwrap_or_default();
                    bail!(ApiError::from_response(code, &body));
                }
                r.bytes_stream().map(|c| c.map_err(Into::into)).boxed()
            }
            Transport::InProcess(app) => {
                let r = Box::pin(skiff_apiserver::call(
                    Arc::clone(app),
                    self.request("GET", path, "application/json", Bytes::new())?,
                ))
                .await;
                let code = r.status().as_u16();
                if code != 200 {
                    let body = axum::body::to_bytes(r.into_body(), usize::MAX).await?;
                    bail!(ApiError::from_response(code, &body));
                }
                r.into_body()
                    .into_data_stream()
                    .map(|c| c.map_err(Into::into))
                    .boxed()
            }
        })
    }
}
