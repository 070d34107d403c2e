//! Reading the parts of a kubeconfig skiff's components need: the current context's server,
//! CA and bearer token.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use base64::Engine;
use serde_yaml_ng::Value;

#[derive(Debug)]
pub struct Kubeconfig {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub token: String,
}

pub fn load(path: &Path) -> Result<Kubeconfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("kubeconfig {}", path.display()))
}

fn named<'a>(doc: &'a Value, list: &str, name: &str, field: &str) -> Result<&'a Value> {
    doc.get(list)
        .and_then(Value::as_sequence)
        .and_then(|items| {
            items
                .iter()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|i| i.get(field))
        .ok_or_else(|| anyhow!("no {list} entry named {name:?}"))
}

fn parse(text: &str, dir: &Path) -> Result<Kubeconfig> {
    let doc: Value = serde_yaml_ng::from_str(text).context("not valid YAML")?;
    let current = doc
        .get("current-context")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("no current-context"))?;
    let context = named(&doc, "contexts", current, "context")?;
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let cluster = named(
        &doc,
        "clusters",
        &str_of(context, "cluster").ok_or_else(|| anyhow!("context has no cluster"))?,
        "cluster",
    )?;
    let user = named(
        &doc,
        "users",
        &str_of(context, "user").ok_or_else(|| anyhow!("context has no user"))?,
        "user",
    )?;
    let server = str_of(cluster, "server").ok_or_else(|| anyhow!("cluster has no server"))?;
    let ca_pem = if let Some(data) = str_of(cluster, "certificate-authority-data") {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("certificate-authority-data is not base64")?
    } else if let Some(file) = str_of(cluster, "certificate-authority") {
        std::fs::read(dir.join(&file)).with_context(|| format!("reading CA file {file}"))?
    } else {
        return Err(anyhow!("cluster has no certificate-authority(-data)"));
    };
    let token = if let Some(t) = str_of(user, "token") {
        t
    } else if let Some(file) = str_of(user, "tokenFile") {
        std::fs::read_to_string(dir.join(&file))
            .with_context(|| format!("reading token file {file}"))?
            .trim()
            .to_owned()
    } else {
        return Err(anyhow!(
            "user has no token; skiff's components authenticate with a bearer token"
        ));
    };
    Ok(Kubeconfig {
        server,
        ca_pem,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context() {
        let text = "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: aGVsbG8=\ncontexts:\n- name: a\n  context: {cluster: nope, user: nope}\n- name: b\n  context: {cluster: c1, user: u1}\nusers:\n- name: u1\n  user:\n    token: secret\n";
        let k = parse(text, Path::new(".")).unwrap();
        assert_eq!(k.server, "https://127.0.0.1:1");
        assert_eq!(k.ca_pem, b"hello");
        assert_eq!(k.token, "secret");
    }

    #[test]
    fn explains_what_is_missing() {
        let text = "current-context: x\ncontexts: []\n";
        let e = parse(text, Path::new(".")).unwrap_err();
        assert!(
            e.to_string().contains("no contexts entry named \"x\""),
            "{e}"
        );
    }
}
