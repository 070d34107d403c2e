//! A small HTTPS client for the benchmarks: trusts the cluster CA, sends the admin token.

use anyhow::Result;
use bytes::Bytes;

#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl ApiClient {
    pub fn new(base: &str, ca_pem: &str, token: &str) -> Result<Self> {
        Ok(ApiClient {
            http: skiff_client::https_client(ca_pem.as_bytes())?,
            base: base.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {token}"),
        })
    }

    /// A client for the cluster whose data directory is `dir`.
    pub fn for_data_dir(url: &str, dir: &std::path::Path) -> Result<Self> {
        let ca = std::fs::read_to_string(dir.join("pki/ca.crt"))?;
        let token = std::fs::read_to_string(dir.join("pki/admin.token"))?;
        Self::new(url, &ca, token.trim())
    }

    pub async fn post(&self, path: &str, body: Bytes) -> Result<u16> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        r.bytes().await?;
        Ok(status)
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Bytes)> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.bytes().await?))
    }

    /// Starts a watch; read it with `chunk()`.
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "watch {path}: {}", r.status());
        Ok(r)
    }
}
