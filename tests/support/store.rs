//! A fresh store of either backend for one test, with whatever keeps it alive.

use skiff_store::{AnyStore, EmbeddedOptions, EmbeddedStore, EtcdStore};
use skiff_testkit::EtcdServer;

pub struct Harness {
    pub store: AnyStore,
    _dir: Option<tempfile::TempDir>,
    _etcd: Option<EtcdServer>,
}

impl Harness {
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
            .expect("open embedded store");
        Harness {
            store: AnyStore::Embedded(store),
            _dir: Some(dir),
            _etcd: None,
        }
    }

    pub async fn etcd() -> Self {
        let server = tokio::task::spawn_blocking(EtcdServer::start)
            .await
            .expect("join")
            .expect("start etcd");
        let store = EtcdStore::connect(&[server.endpoint().to_owned()])
            .await
            .expect("connect to etcd");
        Harness {
            store: AnyStore::Etcd(store),
            _dir: None,
            _etcd: Some(server),
        }
    }
}
