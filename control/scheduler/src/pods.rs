//! Placed pods: which node each is on and what it takes. Changed only between parallel
//! phases (placements record their results first and are merged here after).

use rustc_hash::FxHashMap;

use crate::model::{Pod, PodKey};
use crate::nodes::NodeId;
use crate::resources::Demand;

pub type PodId = u32;

#[derive(Debug)]
pub struct PodRecord {
    pub pod: Pod,
    pub node: NodeId,
    pub demand: Demand,
    /// Placement order, standing in for the start time when choosing preemption victims.
    pub seq: u64,
}

#[derive(Debug, Default)]
pub struct Pods {
    records: Vec<Option<PodRecord>>,
    by_key: FxHashMap<PodKey, PodId>,
    free: Vec<PodId>,
    next_seq: u64,
}

impl Pods {
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn id(&self, key: &PodKey) -> Option<PodId> {
        self.by_key.get(key).copied()
    }

    pub fn get(&self, id: PodId) -> &PodRecord {
        self.records[id as usize].as_ref().expect("live pod id")
    }

    pub fn iter(&self) -> impl Iterator<Item = (PodId, &PodRecord)> + '_ {
        self.records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as PodId, r)))
    }

    pub fn insert(&mut self, pod: Pod, node: NodeId, demand: Demand) -> PodId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = pod.key.clone();
        let record = Some(PodRecord {
            pod,
            node,
            demand,
            seq,
        });
        let id = match self.free.pop() {
            Some(id) => {
                self.records[id as usize] = record;
                id
            }
            None => {
                self.records.push(record);
                (self.records.len() - 1) as PodId
            }
        };
        self.by_key.insert(key, id);
        id
    }

    pub fn remove(&mut self, id: PodId) -> PodRecord {
        let record = self.records[id as usize].take().expect("live pod id");
        self.by_key.remove(&record.pod.key);
        self.free.push(id);
        record
    }
}
