//! CRUD on objects: get, list, create, update, patch, delete, deletecollection.

mod input;
pub mod patch;
pub mod read;
pub mod status;
pub mod write;

pub use patch::patch;
pub use read::{get, list};
pub use write::{create, delete, delete_collection, update, update_object};
