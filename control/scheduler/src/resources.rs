//! Resource dimensions: names interned to small indexes, and a pod's demand over them.

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::model::{CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resources};

/// Index of a resource dimension.
pub type Dim = usize;

pub const CPU_DIM: Dim = 0;
pub const MEMORY_DIM: Dim = 1;
pub const EPHEMERAL_DIM: Dim = 2;
pub const PODS_DIM: Dim = 3;

/// At most this many dimensions (the four above and twelve extended resources); further
/// extended resources are ignored, so pods requesting them fit nowhere.
pub const MAX_DIMS: usize = 16;

/// The resource names the cluster knows, each with its dimension. The first four are fixed;
/// extended resources (`nvidia.com/gpu`, `hugepages-2Mi`, ...) are added as nodes report them.
#[derive(Clone, Debug)]
pub struct ResourceIndex {
    names: Vec<String>,
    dims: FxHashMap<String, Dim>,
}

impl Default for ResourceIndex {
    fn default() -> Self {
        let names: Vec<String> = [CPU, MEMORY, EPHEMERAL_STORAGE, PODS]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let dims = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        ResourceIndex { names, dims }
    }
}

impl ResourceIndex {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn dim(&self, name: &str) -> Option<Dim> {
        self.dims.get(name).copied()
    }

    pub fn name(&self, dim: Dim) -> &str {
        &self.names[dim]
    }

    /// The dimension of `name`, adding it if new (the flag says so); `None` when `MAX_DIMS`
    /// are taken.
    pub fn intern(&mut self, name: &str) -> Option<(Dim, bool)> {
        if let Some(d) = self.dim(name) {
            return Some((d, false));
        }
        if self.names.len() == MAX_DIMS {
            return None;
        }
        let d = self.names.len();
        self.names.push(name.to_owned());
        self.dims.insert(name.to_owned(), d);
        Some((d, true))
    }

    /// Allocatable amounts as a dense vector over every dimension.
    pub fn dense(&self, amounts: &Resources) -> Vec<u64> {
        let mut v = vec![0; self.len()];
        for (name, amount) in amounts {
            if let Some(d) = self.dim(name) {
                v[d] = *amount;
            }
        }
        v
    }

    /// A pod's demand: its non-zero requests plus one `pods`, in dimension order. A request
    /// for a resource no node has is returned as the error (no node can fit it).
    pub fn demand(&self, requests: &Resources) -> Result<Demand, String> {
        let mut dims: SmallVec<[(Dim, u64); 4]> = SmallVec::new();
        dims.push((PODS_DIM, 1));
        for (name, &amount) in requests {
            if amount == 0 || name == PODS {
                continue;
            }
            match self.dim(name) {
                Some(d) => dims.push((d, amount)),
                None => return Err(name.clone()),
            }
        }
        dims.sort_unstable_by_key(|(d, _)| *d);
        Ok(Demand { dims })
    }
}

/// What a pod takes from a node: `(dimension, amount)` pairs, sorted, always with `pods: 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub dims: SmallVec<[(Dim, u64); 4]>,
}

impl Demand {
    pub fn get(&self, dim: Dim) -> u64 {
        self.dims
            .iter()
            .find(|(d, _)| *d == dim)
            .map_or(0, |(_, a)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resources;

    #[test]
    fn demand_is_sparse_sorted_and_counts_the_pod() {
        let mut idx = ResourceIndex::default();
        let (gpu, added) = idx.intern("nvidia.com/gpu").unwrap();
        assert!(added);
        assert_eq!(idx.intern("nvidia.com/gpu"), Some((gpu, false)));
        for i in idx.len()..MAX_DIMS {
            assert!(idx.intern(&format!("example.com/r{i}")).is_some());
        }
        assert_eq!(idx.intern("example.com/one-too-many"), None);
        let mut r = resources(250, 0);
        r.insert("nvidia.com/gpu".into(), 2);
        let d = idx.demand(&r).unwrap();
        assert_eq!(
            d.dims.as_slice(),
            &[(CPU_DIM, 250), (PODS_DIM, 1), (gpu, 2)]
        );
        assert_eq!(d.get(MEMORY_DIM), 0);
        r.insert("example.com/fpga".into(), 1);
        assert_eq!(idx.demand(&r), Err("example.com/fpga".to_owned()));
    }
}
