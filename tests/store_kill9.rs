//! Acknowledged writes survive `kill -9`.
//!
//! This test binary plays two roles. Run normally, it is the parent: it starts itself again as
//! a child that writes to an embedded store as fast as it can from many tasks and prints each
//! key once the store has acknowledged it; the parent kills the child with SIGKILL mid-stream,
//! reopens the store and checks that every acknowledged key is there with its value. It does
//! this for several rounds on the same directory, so recovery after recovery is exercised,
//! with small log segments so that crashes also land during segment rotation and snapshots.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use skiff_store::{Bytes, EmbeddedOptions, EmbeddedStore, Store};

const CHILD_FLAG: &str = "--kill9-child";
const ROUNDS: usize = 4;
const WRITERS: usize = 32;
/// Kill the child after it has acknowledged this many writes in a round.
const KILL_AFTER: usize = 3000;

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes: 256 << 10,
    }
}

fn value_for(key: &str) -> Bytes {
    // Sizes vary so frames of many sizes are torn.
    let len = 100 + key.len() * 37 % 1500;
    let mut v = key.as_bytes().to_vec();
    v.resize(len, b'#');
    Bytes::from(v)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        child(Path::new(&args[i + 1]), &args[i + 2]);
        return;
    }
    parent();
}

fn child(dir: &Path, round: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(dir, options()).unwrap();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            let round = round.to_owned();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/kill/{round}/{w}/{i}");
                    store.create(&key, value_for(&key)).await.unwrap();
                    // Printed only after the store acknowledged the write.
                    println!("{key}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .arg(CHILD_FLAG)
            .arg(dir.path())
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut this_round = 0;
        for line in lines.by_ref() {
            acknowledged.push(line.unwrap());
            this_round += 1;
            if this_round == KILL_AFTER {
                break;
            }
        }
        assert_eq!(this_round, KILL_AFTER, "the writer stopped early");
        child.kill().unwrap(); // SIGKILL
        // Keys printed before the kill are acknowledged too.
        for line in lines {
            acknowledged.push(line.unwrap());
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child was killed, not finished");
        verify(dir.path(), &acknowledged, round);
    }
    println!(
        "kill -9: {ROUNDS} rounds, {} acknowledged writes, all present after recovery",
        acknowledged.len()
    );
}

fn verify(dir: &Path, acknowledged: &[String], round: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(dir, options()).unwrap_or_else(|e| {
            panic!("round {round}: the store does not reopen after kill -9: {e}")
        });
        let mut missing = Vec::new();
        for key in acknowledged {
            match store.get(key).await.unwrap().0 {
                Some(kv) => assert_eq!(kv.value, value_for(key), "wrong value for {key}"),
                None => missing.push(key.as_str()),
            }
        }
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged writes lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let revision = store.current_revision().await.unwrap();
        assert!(revision as usize >= acknowledged.len());
    });
}
