//! The Kubernetes object model as skiff serves it. Pure logic, no I/O:
//!
//! - [`resources`]: every served resource type with its discovery metadata;
//! - [`kinds`]: per-kind decoding, defaulting and validation (typed, via k8s-openapi);
//! - [`meta`]: object metadata helpers on JSON values;
//! - [`selector`] and [`fields`]: label and field selectors; [`sparse`]: the fields they read,
//!   straight from stored JSON;
//! - [`patch`]: JSON patch, merge patch and strategic merge patch;
//! - [`table`]: `kubectl get` tables;
//! - [`error`]: API errors as Kubernetes `Status` objects; [`gojson`]: the JSON syntax errors
//!   kube-apiserver quotes, as Go words them.

pub mod cron;
pub mod error;
pub mod fields;
pub mod gojson;
pub mod kinds;
pub mod meta;
pub mod patch;
pub mod quantity;
pub mod resources;
pub mod selector;
pub mod sparse;
pub mod table;
pub mod time;
pub mod validation;

pub use error::{ApiError, Cause};
pub use resources::ResourceType;
