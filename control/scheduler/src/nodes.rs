//! The nodes, grouped into classes, with their capacity and the search trees over it.
//!
//! A **class** is a set of nodes that every node-level filter treats alike: same labels apart
//! from `kubernetes.io/hostname`, same taints, same `unschedulable`. Whether a pod may run on
//! a class (taints, node selector, node affinity) is decided once per class instead of once per
//! node, and each class has a [`HintTree`] to find a node with room in O(log n). Inside a class
//! nodes are ordered largest first, so first-fit fills big nodes before small ones.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::capacity::Capacity;
use crate::hint_tree::{EMPTY, HintTree};
use crate::model::{HOSTNAME_LABEL, Labels, Node, Taint};
use crate::resources::{CPU_DIM, MEMORY_DIM, ResourceIndex};

pub type NodeId = u32;
pub type ClassId = u32;

/// A node and where it lives in the scheduler's structures.
#[derive(Debug)]
pub struct NodeInfo {
    pub node: Node,
    pub name: Arc<str>,
    pub class: ClassId,
    /// Position in the class's tree (valid once the class is rebuilt).
    pub slot: usize,
    /// The placed pods (indexes into the pod table); changed only between parallel phases.
    pub pods: Vec<u32>,
    /// The placed pods by priority, ascending.
    pub levels: Vec<crate::state::PriorityLevel>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClassKey {
    labels: Labels,
    taints: Vec<Taint>,
    unschedulable: bool,
}

impl ClassKey {
    fn of(node: &Node) -> Self {
        let mut labels = node.labels.clone();
        labels.remove(HOSTNAME_LABEL);
        let mut taints = node.taints.clone();
        taints.sort();
        ClassKey {
            labels,
            taints,
            unschedulable: node.unschedulable,
        }
    }
}

#[derive(Debug)]
pub struct Class {
    /// Labels shared by every member (all but the hostname).
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    /// Members not yet in the tree; the tree is rebuilt before the next placement.
    pending: Vec<NodeId>,
    pub tree: HintTree,
    pub live: usize,
}

impl Class {
    /// The nodes of the class in search order (`EMPTY` for vacated leaves).
    pub fn slots(&self) -> &[NodeId] {
        self.tree.slots()
    }

    pub fn is_dirty(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Nodes {
    pub resources: ResourceIndex,
    pub capacity: Capacity,
    infos: Vec<Option<NodeInfo>>,
    by_name: FxHashMap<Arc<str>, NodeId>,
    pub classes: Vec<Class>,
    class_ids: FxHashMap<ClassKey, ClassId>,
    free_ids: Vec<NodeId>,
    /// Changes whenever a class is created or changes members, or dimensions are added.
    pub generation: u64,
}

/// What changed when a node was set.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added(NodeId),
    /// Same class, maybe new capacity.
    Updated(NodeId),
    /// Labels, taints or `unschedulable` changed: the node moved to another class.
    Reclassified(NodeId),
}

impl Nodes {
    pub fn new() -> Self {
        let resources = ResourceIndex::default();
        Nodes {
            capacity: Capacity::new(resources.len()),
            resources,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Upper bound of node ids (for sizing per-node arrays).
    pub fn id_bound(&self) -> usize {
        self.infos.len()
    }

    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    pub fn info(&self, id: NodeId) -> &NodeInfo {
        self.infos[id as usize].as_ref().expect("live node id")
    }

    pub fn info_mut(&mut self, id: NodeId) -> &mut NodeInfo {
        self.infos[id as usize].as_mut().expect("live node id")
    }

    pub fn get(&self, id: NodeId) -> Option<&NodeInfo> {
        self.infos.get(id as usize).and_then(Option::as_ref)
    }

    /// Every live node id, in id order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.infos
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_some())
            .map(|(id, _)| id as NodeId)
    }

    pub fn class(&self, id: ClassId) -> &Class {
        &self.classes[id as usize]
    }

    /// Adds or updates a node. Pods placed on it stay accounted for.
    pub fn set(&mut self, node: Node) -> NodeChange {
        for name in node.allocatable.keys() {
            if let Some((_, true)) = self.resources.intern(name) {
                self.capacity.add_dim();
                self.generation += 1;
                for class in &mut self.classes {
                    // Trees carry one hint per dimension: rebuild them all.
                    class
                        .pending
                        .extend(class.tree.slots().iter().filter(|&&n| n != EMPTY));
                    class.tree = HintTree::default();
                }
            }
        }
        let allocatable = self.resources.dense(&node.allocatable);
        let key = ClassKey::of(&node);
        if let Some(&id) = self.by_name.get(node.name.as_str()) {
            self.capacity.set_allocatable(id as usize, &allocatable);
            let class = self.class_for(key);
            let info = self.info_mut(id);
            let old_class = info.class;
            info.node = node;
            if old_class == class {
                let slot = info.slot;
                let class = &self.classes[class as usize];
                if !class.is_dirty() {
                    class.tree.update(&self.capacity, slot);
                }
                return NodeChange::Updated(id);
            }
            self.leave_class(id);
            self.join_class(id, class);
            return NodeChange::Reclassified(id);
        }
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.capacity.set_allocatable(id as usize, &allocatable);
                id
            }
            None => self.capacity.push(&allocatable) as NodeId,
        };
        let class = self.class_for(key);
        let name: Arc<str> = node.name.as_str().into();
        let info = NodeInfo {
            node,
            name: name.clone(),
            class,
            slot: usize::MAX,
            pods: Vec::new(),
            levels: Vec::new(),
        };
        if id as usize == self.infos.len() {
            self.infos.push(Some(info));
        } else {
            self.infos[id as usize] = Some(info);
        }
        self.by_name.insert(name, id);
        self.join_class(id, class);
        NodeChange::Added(id)
    }

    /// Removes a node and returns its info (with the pods that were on it).
    pub fn remove(&mut self, name: &str) -> Option<(NodeId, NodeInfo)> {
        let id = self.by_name.remove(name)?;
        self.leave_class(id);
        self.capacity.clear(id as usize);
        self.free_ids.push(id);
        let info = self.infos[id as usize].take().expect("live node");
        Some((id, info))
    }

    fn class_for(&mut self, key: ClassKey) -> ClassId {
        if let Some(&c) = self.class_ids.get(&key) {
            return c;
        }
        let id = self.classes.len() as ClassId;
        self.classes.push(Class {
            labels: key.labels.clone(),
            taints: key.taints.clone(),
            unschedulable: key.unschedulable,
            pending: Vec::new(),
            tree: HintTree::default(),
            live: 0,
        });
        self.class_ids.insert(key, id);
        self.generation += 1;
        id
    }

    fn join_class(&mut self, id: NodeId, class: ClassId) {
        self.info_mut(id).class = class;
        let c = &mut self.classes[class as usize];
        c.pending.push(id);
        c.live += 1;
        self.generation += 1;
    }

    fn leave_class(&mut self, id: NodeId) {
        let (class, slot) = {
            let info = self.info(id);
            (info.class, info.slot)
        };
        let c = &mut self.classes[class as usize];
        c.live -= 1;
        if let Some(pos) = c.pending.iter().position(|&n| n == id) {
            c.pending.swap_remove(pos);
        } else if c.tree.slots().get(slot) == Some(&id) {
            c.tree.vacate(slot);
            c.tree.update(&self.capacity, slot);
        }
        self.generation += 1;
    }

    /// Rebuilds the trees of classes with new members. Must run before placing pods.
    pub fn rebuild(&mut self) {
        let dims = self.resources.len();
        for class in 0..self.classes.len() {
            if !self.classes[class].is_dirty() {
                continue;
            }
            let c = &mut self.classes[class];
            let mut members: Vec<NodeId> = c
                .tree
                .slots()
                .iter()
                .copied()
                .filter(|&n| n != EMPTY)
                .chain(c.pending.drain(..))
                .collect();
            let cap = &self.capacity;
            let infos = &self.infos;
            members.sort_by(|&a, &b| {
                let size = |n: NodeId| {
                    (
                        cap.allocatable(n as usize, CPU_DIM),
                        cap.allocatable(n as usize, MEMORY_DIM),
                    )
                };
                let name = |n: NodeId| infos[n as usize].as_ref().map(|i| &i.node.name);
                size(b).cmp(&size(a)).then_with(|| name(a).cmp(&name(b)))
            });
            c.tree = HintTree::build(&members, cap, dims);
            for (slot, &n) in members.iter().enumerate() {
                if let Some(info) = self.infos[n as usize].as_mut() {
                    info.slot = slot;
                }
            }
        }
    }

    /// Re-propagates the search hints after a node's free capacity changed.
    pub fn capacity_changed(&self, id: NodeId) {
        let info = self.info(id);
        let class = &self.classes[info.class as usize];
        if !class.is_dirty() {
            class.tree.update(&self.capacity, info.slot);
        }
    }
}

#[cfg(all(test, not(skiff_loom)))]
mod tests {
    use super::*;
    use crate::model::{TaintEffect, resources};
    use crate::resources::Demand;

    fn node(name: &str, zone: &str, cpu: u64) -> Node {
        let mut allocatable = resources(cpu, 1 << 34);
        allocatable.insert("pods".into(), 110);
        Node {
            name: name.into(),
            labels: [
                (HOSTNAME_LABEL.to_owned(), name.to_owned()),
                ("zone".to_owned(), zone.to_owned()),
            ]
            .into(),
            taints: vec![],
            unschedulable: false,
            allocatable,
        }
    }

    #[test]
    fn nodes_differing_only_by_hostname_share_a_class_ordered_largest_first() {
        let mut nodes = Nodes::new();
        assert_eq!(nodes.set(node("a", "z1", 2000)), NodeChange::Added(0));
        nodes.set(node("b", "z1", 8000));
        nodes.set(node("c", "z2", 4000));
        nodes.rebuild();
        assert_eq!(nodes.classes.len(), 2);
        let z1 = nodes.info(0).class;
        assert_eq!(nodes.info(1).class, z1);
        assert_eq!(&nodes.class(z1).slots()[..2], &[1, 0], "bigger node first");
        let demand = Demand {
            dims: [(CPU_DIM, 3000)].into_iter().collect(),
        };
        assert_eq!(
            nodes.class(z1).tree.find_first(&nodes.capacity, 0, &demand),
            Some(0)
        );
    }

    #[test]
    fn changing_taints_moves_a_node_and_removal_frees_its_id() {
        let mut nodes = Nodes::new();
        nodes.set(node("a", "z1", 2000));
        nodes.set(node("b", "z1", 2000));
        nodes.rebuild();
        let mut tainted = node("a", "z1", 2000);
        tainted.taints.push(Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: TaintEffect::NoSchedule,
        });
        assert_eq!(nodes.set(tainted), NodeChange::Reclassified(0));
        nodes.rebuild();
        assert_ne!(nodes.info(0).class, nodes.info(1).class);
        assert_eq!(nodes.class(nodes.info(1).class).live, 1);
        let (id, _) = nodes.remove("b").unwrap();
        assert_eq!(nodes.set(node("c", "z1", 2000)), NodeChange::Added(id));
        nodes.rebuild();
        assert!(
            nodes
                .class(nodes.info(id).class)
                .tree
                .is_exact(&nodes.capacity)
        );
    }

    #[test]
    fn a_new_extended_resource_adds_a_dimension_everywhere() {
        let mut nodes = Nodes::new();
        nodes.set(node("a", "z1", 2000));
        nodes.rebuild();
        let mut gpu = node("g", "z1", 2000);
        gpu.allocatable.insert("nvidia.com/gpu".into(), 4);
        nodes.set(gpu);
        nodes.rebuild();
        let d = nodes.resources.dim("nvidia.com/gpu").unwrap();
        let g = nodes.id("g").unwrap();
        assert_eq!(nodes.capacity.free(g as usize, d), 4);
        assert_eq!(nodes.capacity.free(0, d), 0);
        let class = nodes.class(nodes.info(g).class);
        assert!(class.tree.is_exact(&nodes.capacity));
    }
}
