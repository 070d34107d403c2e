//! Label selectors: the query syntax (`app=web,tier in (a,b),!canary`) and the
//! `matchLabels`/`matchExpressions` objects workloads use.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::validation::{label_key_error, label_value_error};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &dyn Fn(&str) -> Option<String>) -> bool {
        let value = labels(&self.key);
        match self.op {
            Op::Equals | Op::In => value.is_some_and(|v| self.values.contains(&v)),
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| !self.values.contains(&v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.op == Op::GreaterThan => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

/// A conjunction of requirements. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with these labels matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).cloned();
        self.requirements.iter().all(|r| r.matches(&get))
    }

    /// Whether an object (JSON) matches, by its `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        self.requirements.iter().all(|r| r.matches(&get))
    }

    /// Parses the query syntax of `?labelSelector=` and `kubectl -l`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(input)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Selector { requirements })
    }

    /// Converts a `metav1.LabelSelector` object. `None` (absent) selects nothing, as
    /// workloads treat a missing selector; `{}` selects everything.
    pub fn from_label_selector(sel: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or_default().to_owned();
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::Equals,
                    values: vec![v],
                });
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => Op::In,
                    "NotIn" => Op::NotIn,
                    "Exists" => Op::Exists,
                    "DoesNotExist" => Op::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                requirements.push(Requirement {
                    key: key.to_owned(),
                    op,
                    values,
                });
            }
        }
        Ok(Selector { requirements })
    }

    /// The query syntax for this selector, as kubectl shows it (`app=web,tier in (a,b)`).
    pub fn to_query(&self) -> String {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.op {
                Op::Equals => format!("{}={}", r.key, r.values.join(",")),
                Op::NotEquals => format!("{}!={}", r.key, r.values.join(",")),
                Op::In => format!("{} in ({})", r.key, r.values.join(",")),
                Op::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
                Op::GreaterThan => format!("{}>{}", r.key, r.values.join(",")),
                Op::LessThan => format!("{}<{}", r.key, r.values.join(",")),
            })
            .collect();
        parts.join(",")
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ')' in label selector {input:?}"));
                }
            }
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in label selector {input:?}"));
    }
    parts.push(&input[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = |why: &str| format!("unable to parse requirement {part:?}: {why}");
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key).map_err(|e| bad(&e))?;
        return Ok(Requirement {
            key: key.to_owned(),
            op: Op::DoesNotExist,
            values: vec![],
        });
    }
    for (token, op) in [
        ("==", Op::Equals),
        ("!=", Op::NotEquals),
        ("=", Op::Equals),
        (">", Op::GreaterThan),
        ("<", Op::LessThan),
    ] {
        if let Some((key, value)) = part.split_once(token) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key).map_err(|e| bad(&e))?;
            check_value(value).map_err(|e| bad(&e))?;
            if matches!(op, Op::GreaterThan | Op::LessThan) && value.parse::<i64>().is_err() {
                return Err(bad(
                    "for 'gt', 'lt' operators, the value must be an integer",
                ));
            }
            return Ok(Requirement {
                key: key.to_owned(),
                op,
                values: vec![value.to_owned()],
            });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words.as_slice() {
        let rest = rest.trim();
        let (op, list) = if let Some(l) = rest.strip_prefix("notin") {
            (Op::NotIn, l)
        } else if let Some(l) = rest.strip_prefix("in") {
            (Op::In, l)
        } else {
            return Err(bad("expected one of 'in', 'notin', '=', '==', '!='"));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| bad("expected a parenthesised list of values"))?;
        check_key(key).map_err(|e| bad(&e))?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        for v in &values {
            check_value(v).map_err(|e| bad(&e))?;
        }
        if values.is_empty() {
            return Err(bad(
                "for 'in', 'notin' operators, values set can't be empty",
            ));
        }
        return Ok(Requirement {
            key: (*key).to_owned(),
            op,
            values,
        });
    }
    check_key(part).map_err(|e| bad(&e))?;
    Ok(Requirement {
        key: part.to_owned(),
        op: Op::Exists,
        values: vec![],
    })
}

fn check_key(key: &str) -> Result<(), String> {
    match label_key_error(key) {
        Some(e) => Err(format!("invalid label key {key:?}: {e}")),
        None => Ok(()),
    }
}

fn check_value(value: &str) -> Result<(), String> {
    match label_value_error(value) {
        Some(e) => Err(format!("invalid label value {value:?}: {e}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn check(selector: &str, expect: &[(&[(&str, &str)], bool)]) {
        let s = Selector::parse(selector).unwrap();
        for (l, want) in expect {
            assert_eq!(s.matches(&labels(l)), *want, "{selector} on {l:?}");
        }
    }

    #[test]
    fn equality_and_set_based() {
        check(
            "app=web",
            &[
                (&[("app", "web")], true),
                (&[("app", "db")], false),
                (&[], false),
            ],
        );
        check(
            "app==web,tier!=db",
            &[
                (&[("app", "web")], true),
                (&[("app", "web"), ("tier", "db")], false),
                (&[("app", "web"), ("tier", "fe")], true),
            ],
        );
        check(
            "tier in (fe, be),!canary",
            &[
                (&[("tier", "be")], true),
                (&[("tier", "be"), ("canary", "1")], false),
                (&[("tier", "db")], false),
            ],
        );
        check(
            "env notin (prod),app",
            &[
                (&[("app", "x")], true),
                (&[("app", "x"), ("env", "prod")], false),
                (&[("env", "dev")], false),
            ],
        );
        check(
            "gen>3",
            &[(&[("gen", "4")], true), (&[("gen", "3")], false)],
        );
        check("", &[(&[], true)]);
    }

    #[test]
    fn errors_name_the_requirement() {
        for bad in [
            "app in (a",
            "app in ()",
            "app ~ x",
            "-bad=x",
            "app=-x-",
            "app in a,b",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad} should fail");
        }
        let e = Selector::parse("a b").unwrap_err();
        assert!(e.contains("unable to parse requirement"), "{e}");
    }

    #[test]
    fn label_selector_objects() {
        let s = Selector::from_label_selector(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]
        }))
        .unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert_eq!(s.to_query(), "app=web,tier in (fe)");
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}})));
    }
}
