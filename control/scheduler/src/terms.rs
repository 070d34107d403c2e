//! Pod (anti-)affinity and spread terms, with per-topology-domain counts of the pods that
//! match them, so a constraint is checked with a few counter reads instead of a scan of pods.
//!
//! A term is (label selector, namespaces, topology key). For each term the scheduler keeps two
//! counters per **unit**: per class when the topology key is a class label (any label except
//! the hostname, so every node of a class is in the same domain), per node for the hostname.
//! A domain's count is the sum over its units.
//!
//! - `matchers`: placed pods the term's selector matches.
//! - `carriers`: placed pods that carry the term as a *required anti-affinity* term (for the
//!   symmetric check: an incoming pod must not land next to a pod that repels it).
//!
//! Each counter has a `pending` value (placed plus in-flight placements) and a `committed`
//! value (placements that passed validation, never rolled back). A placement increments
//! `pending` first, then validates against the counters, then either commits or rolls back:
//! of two conflicting concurrent placements the later increment always sees the earlier one.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::filter::{namespace_matches, optional_selector_matches};
use crate::model::{HOSTNAME_LABEL, LabelSelector, Labels, Namespaces};
use crate::nodes::{ClassId, NodeId, Nodes};
use crate::sync::{AtomicU32, AtomicU64, SC};

pub type TermId = u32;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TermKey {
    pub selector: Option<LabelSelector>,
    pub namespaces: Namespaces,
    pub topology_key: String,
    /// Further (selector, namespaces) conditions a pod must also match. kube counts a pod
    /// toward a pod's required affinity only if it matches *all* of its required affinity
    /// terms, so each such term carries the others here.
    pub also: Vec<(Option<LabelSelector>, Namespaces)>,
}

/// Whether a term's domains are classes or single nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Class,
    Node,
}

impl Level {
    pub fn of(topology_key: &str) -> Level {
        if topology_key == HOSTNAME_LABEL {
            Level::Node
        } else {
            Level::Class
        }
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pending: Vec<AtomicU32>,
    committed: Vec<AtomicU32>,
}

impl Counters {
    /// Counters for `units` topology units, all zero.
    #[cfg(skiff_loom)]
    pub fn with_units(units: usize) -> Self {
        let mut c = Counters::default();
        c.ensure(units);
        c
    }

    fn ensure(&mut self, units: usize) {
        while self.pending.len() < units {
            self.pending.push(AtomicU32::new(0));
            self.committed.push(AtomicU32::new(0));
        }
    }

    pub fn pending(&self, unit: u32) -> u32 {
        self.pending[unit as usize].load(SC)
    }

    pub fn committed(&self, unit: u32) -> u32 {
        self.committed[unit as usize].load(SC)
    }

    /// Step one of a placement.
    pub fn reserve(&self, unit: u32) {
        self.pending[unit as usize].fetch_add(1, SC);
    }

    /// Undoes `reserve` of a placement that failed validation.
    pub fn cancel(&self, unit: u32) {
        self.pending[unit as usize].fetch_sub(1, SC);
    }

    /// Makes a validated reservation count for everyone.
    pub fn commit(&self, unit: u32) {
        self.committed[unit as usize].fetch_add(1, SC);
    }

    /// A placed pod left.
    pub fn remove(&self, unit: u32) {
        self.pending[unit as usize].fetch_sub(1, SC);
        self.committed[unit as usize].fetch_sub(1, SC);
    }

    /// Accounts a pod placed outside a placement (start-up, pods bound by others).
    pub fn add(&self, unit: u32) {
        self.pending[unit as usize].fetch_add(1, SC);
        self.committed[unit as usize].fetch_add(1, SC);
    }

    fn clear(&mut self, unit: u32) {
        if let Some(p) = self.pending.get_mut(unit as usize) {
            *p = AtomicU32::new(0);
            self.committed[unit as usize] = AtomicU32::new(0);
        }
    }
}

#[derive(Debug)]
pub struct Term {
    pub key: TermKey,
    pub level: Level,
    pub matchers: Counters,
    pub carriers: Counters,
    /// Committed matchers over all domains (the "first pod of a group" rule of affinity).
    pub total_matchers: AtomicU64,
    /// Some pod carries this term as a required anti-affinity term.
    pub repels: bool,
    /// Node-level terms: per class, where the last placement of a matching pod happened, so
    /// the next search starts there instead of skipping every node that already has one.
    pub cursors: Vec<AtomicU32>,
}

impl Term {
    pub fn matches(&self, namespace: &str, labels: &Labels, ns_labels: Option<&Labels>) -> bool {
        let one = |selector: Option<&LabelSelector>, namespaces: &Namespaces| {
            namespace_matches(namespaces, namespace, ns_labels)
                && optional_selector_matches(selector, labels)
        };
        one(self.key.selector.as_ref(), &self.key.namespaces)
            && self.key.also.iter().all(|(s, n)| one(s.as_ref(), n))
    }

    /// Whether the term's namespaces depend on namespace labels.
    pub fn uses_namespace_selector(&self) -> bool {
        std::iter::once(&self.key.namespaces)
            .chain(self.key.also.iter().map(|(_, n)| n))
            .any(|n| {
                matches!(
                    n,
                    Namespaces::Some {
                        selector: Some(_),
                        ..
                    }
                )
            })
    }

    pub fn cursor(&self, class: ClassId) -> usize {
        self.cursors
            .get(class as usize)
            .map_or(0, |c| c.load(SC) as usize)
    }

    pub fn advance_cursor(&self, class: ClassId, slot: usize) {
        if let Some(c) = self.cursors.get(class as usize) {
            c.fetch_max(slot as u32, SC);
        }
    }

    /// Moves the search start back (capacity was freed at `slot`).
    pub fn rewind_cursor(&self, class: ClassId, slot: usize) {
        if let Some(c) = self.cursors.get(class as usize) {
            c.fetch_min(slot as u32, SC);
        }
    }
}

/// Per topology key, the domain (label value) of each class and the classes of each domain.
#[derive(Debug, Default)]
pub struct KeyDomains {
    /// Domain index of each class, `None` when the class lacks the label.
    pub of_class: Vec<Option<u32>>,
    /// Classes in each domain.
    pub classes: Vec<Vec<ClassId>>,
}

#[derive(Debug, Default)]
pub struct Terms {
    pub terms: Vec<Term>,
    ids: FxHashMap<TermKey, TermId>,
    /// Class-level topology keys and their domains, rebuilt when classes change.
    pub domains: FxHashMap<String, Arc<KeyDomains>>,
    domains_generation: u64,
    /// Namespace labels, for terms with a namespace selector.
    pub namespace_labels: FxHashMap<String, Labels>,
}

impl Terms {
    pub fn get(&self, id: TermId) -> &Term {
        &self.terms[id as usize]
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn find(&self, key: &TermKey) -> Option<TermId> {
        self.ids.get(key).copied()
    }

    /// Adds a term with zero counts; the caller counts the pods already placed.
    pub fn insert(&mut self, key: TermKey, nodes: &Nodes) -> TermId {
        let id = self.terms.len() as TermId;
        let level = Level::of(&key.topology_key);
        if level == Level::Class && !self.domains.contains_key(&key.topology_key) {
            let d = key_domains(&key.topology_key, nodes);
            self.domains.insert(key.topology_key.clone(), Arc::new(d));
        }
        let mut term = Term {
            key: key.clone(),
            level,
            matchers: Counters::default(),
            carriers: Counters::default(),
            total_matchers: AtomicU64::new(0),
            repels: false,
            cursors: Vec::new(),
        };
        size_term(&mut term, nodes);
        self.terms.push(term);
        self.ids.insert(key, id);
        id
    }

    /// Zeroes a term's counts (before recounting it).
    pub fn reset_counts(&mut self, id: TermId) {
        let term = &mut self.terms[id as usize];
        for u in 0..term.matchers.pending.len() as u32 {
            term.matchers.clear(u);
            term.carriers.clear(u);
        }
        term.total_matchers = AtomicU64::new(0);
    }

    pub fn mark_repels(&mut self, id: TermId) {
        self.terms[id as usize].repels = true;
    }

    /// Grows counters for new classes and nodes and refreshes class domains. Cheap when
    /// nothing changed.
    pub fn refresh(&mut self, nodes: &Nodes) {
        if self.domains_generation == nodes.generation {
            return;
        }
        self.domains_generation = nodes.generation;
        let keys: Vec<String> = self.domains.keys().cloned().collect();
        for key in keys {
            let d = key_domains(&key, nodes);
            self.domains.insert(key, Arc::new(d));
        }
        for term in &mut self.terms {
            size_term(term, nodes);
        }
    }

    /// Zeroes the per-node counters of a node id (the node was removed; the id may be reused).
    pub fn forget_node(&mut self, node: NodeId) {
        for term in &mut self.terms {
            if term.level == Level::Node {
                term.matchers.clear(node);
                term.carriers.clear(node);
            }
        }
    }

    /// The domain index of `class` for a class-level `key`.
    pub fn class_domain(&self, key: &str, class: ClassId) -> Option<u32> {
        self.domains
            .get(key)
            .and_then(|d| d.of_class.get(class as usize).copied().flatten())
    }

    /// The counter unit of `term` on `node` (in `class`), `None` when the node lacks the
    /// topology label (such a node is in no domain of the term).
    pub fn unit(&self, term: &Term, nodes: &Nodes, node: NodeId, class: ClassId) -> Option<u32> {
        match term.level {
            Level::Node => nodes
                .info(node)
                .node
                .labels
                .contains_key(HOSTNAME_LABEL)
                .then_some(node),
            Level::Class => self
                .class_domain(&term.key.topology_key, class)
                .map(|_| class),
        }
    }

    /// The units making up the domain of `unit`: the node itself, or the classes that share
    /// the label value.
    pub fn domain_units<'a>(&'a self, term: &Term, unit: u32) -> DomainUnits<'a> {
        match term.level {
            Level::Node => DomainUnits::One(unit),
            Level::Class => {
                let d = &self.domains[&term.key.topology_key];
                match d.of_class[unit as usize] {
                    Some(domain) => DomainUnits::Many(&d.classes[domain as usize]),
                    None => DomainUnits::Many(&[]),
                }
            }
        }
    }

    /// Pending count of `term` in the domain of `unit`.
    pub fn pending_in_domain(&self, term: &Term, unit: u32, counters: Which) -> u32 {
        let c = counters.of(term);
        self.domain_units(term, unit)
            .iter()
            .map(|u| c.pending(u))
            .sum()
    }

    /// Committed count of `term` in the domain of `unit`.
    pub fn committed_in_domain(&self, term: &Term, unit: u32, counters: Which) -> u32 {
        let c = counters.of(term);
        self.domain_units(term, unit)
            .iter()
            .map(|u| c.committed(u))
            .sum()
    }
}

/// Which of a term's counters.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Matchers,
    Carriers,
}

impl Which {
    pub fn of(self, term: &Term) -> &Counters {
        match self {
            Which::Matchers => &term.matchers,
            Which::Carriers => &term.carriers,
        }
    }
}

#[derive(Debug)]
pub enum DomainUnits<'a> {
    One(u32),
    Many(&'a [ClassId]),
}

impl DomainUnits<'_> {
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (one, many) = match self {
            DomainUnits::One(u) => (Some(*u), &[][..]),
            DomainUnits::Many(m) => (None, *m),
        };
        one.into_iter().chain(many.iter().copied())
    }
}

fn size_term(term: &mut Term, nodes: &Nodes) {
    let units = match term.level {
        Level::Class => nodes.classes.len(),
        Level::Node => nodes.id_bound(),
    };
    term.matchers.ensure(units);
    term.carriers.ensure(units);
    if term.level == Level::Node {
        while term.cursors.len() < nodes.classes.len() {
            term.cursors.push(AtomicU32::new(0));
        }
    }
}

fn key_domains(key: &str, nodes: &Nodes) -> KeyDomains {
    let mut values: FxHashMap<&str, u32> = FxHashMap::default();
    let mut out = KeyDomains::default();
    for class in &nodes.classes {
        let domain = class.labels.get(key).map(|v| {
            let next = values.len() as u32;
            *values.entry(v.as_str()).or_insert(next)
        });
        if let Some(d) = domain {
            if d as usize == out.classes.len() {
                out.classes.push(Vec::new());
            }
            out.classes[d as usize].push(out.of_class.len() as ClassId);
        }
        out.of_class.push(domain);
    }
    out
}
