//! `kubectl get` tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns
//! users expect per kind, wide-only columns at priority 1.

mod core;
mod workloads;

use jiff::Timestamp;
use serde_json::{Value, json};

/// A column: its header, cell type and whether it shows only with `-o wide`.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub wide: bool,
    pub description: &'static str,
}

const fn col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        wide: false,
        description,
    }
}

const fn int(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "integer",
        wide: false,
        description,
    }
}

const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        wide: true,
        description,
    }
}

const NAME: Column = col("Name", "Name must be unique within a namespace.");
const AGE: Column = col(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// Columns of `kind`'s table, then the function filling a row.
type RowFn = fn(&Value, Timestamp) -> Vec<Value>;

fn layout(kind: &str) -> (&'static [Column], RowFn) {
    core::layout(kind)
        .or_else(|| workloads::layout(kind))
        .unwrap_or((&[NAME, AGE], |o, now| vec![name(o), age(o, now)]))
}

/// The `columnDefinitions` of a table of `kind`.
pub fn column_definitions(kind: &str) -> Value {
    let (columns, _) = layout(kind);
    Value::Array(
        columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": if c.name == "Name" { "name" } else { "" },
                    "description": c.description,
                    "priority": if c.wide { 1 } else { 0 },
                })
            })
            .collect(),
    )
}

/// What a row carries as its object (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// One table row for `obj`.
pub fn row(kind: &str, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let (_, cells) = layout(kind);
    let mut row = json!({ "cells": cells(obj, now) });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
        }
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A whole table.
pub fn table(kind: &str, rows: Vec<Value>, metadata: Value) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(kind),
        "rows": rows,
    })
}

// Cell helpers shared by the layouts.

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn text(obj: &Value, ptr: &str) -> Option<String> {
    match obj.pointer(ptr)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn or_none(v: Option<String>) -> Value {
    s(v.unwrap_or_else(|| "<none>".into()))
}

fn num(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn name(obj: &Value) -> Value {
    s(text(obj, "/metadata/name").unwrap_or_default())
}

fn age(obj: &Value, now: Timestamp) -> Value {
    s(crate::time::age(
        obj.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now,
    ))
}

fn list<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `k=v,k2=v2` of a string map, or `<none>`.
fn map_text(obj: &Value, ptr: &str) -> Value {
    let pairs: Vec<String> = obj
        .pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    or_none((!pairs.is_empty()).then(|| pairs.join(",")))
}

/// Containers and images of a pod template at `spec_ptr`.
fn containers_images(obj: &Value, spec_ptr: &str) -> (Value, Value) {
    let containers = list(obj, &format!("{spec_ptr}/containers"));
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (s(names.join(",")), s(images.join(",")))
}

/// A label selector object as query text.
fn selector_text(obj: &Value, ptr: &str) -> Value {
    match obj.pointer(ptr) {
        Some(sel) => match crate::selector::Selector::from_label_selector(sel) {
            Ok(s) if !s.is_empty() => Value::String(s.to_query()),
            _ => s("<none>"),
        },
        None => s("<none>"),
    }
}

#[cfg(test)]
mod tests;
