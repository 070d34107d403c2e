//! Sparse reads of JSON documents: the few fields a selector or a watcher looks at, found by
//! skipping over everything else. Watches test every stored object against their selectors
//! and agents read a pod's node and phase on every change; parsing a 2 KiB pod to read
//! `spec.nodeName` costs many times more than stepping over the bytes around it.
//!
//! The scanner steps over values structurally (strings, brackets) without decoding them, and
//! decodes with serde only the values asked for. It is meant for well-formed documents
//! (stored objects, API responses); on bytes that are not, it reports [`Malformed`] when it
//! notices, and callers fall back to a full parse.

use serde_json::{Map, Value};

/// The document is not well-formed JSON where the scanner looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed JSON")
    }
}

impl std::error::Error for Malformed {}

type Scan<T> = Result<T, Malformed>;

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Bits set at the bytes of `x` equal to `b`; the lowest set bit is always a true match.
fn bytes_equal(x: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let y = x ^ (ONES * u64::from(b));
    y.wrapping_sub(ONES) & !y & (ONES << 7)
}

/// From the opening quote at `i`, the index just past the closing quote. Eight bytes at a
/// time are checked for a quote or a backslash.
fn skip_string(json: &[u8], i: usize) -> Scan<usize> {
    let mut j = i + 1;
    loop {
        if let Some(word) = json.get(j..j + 8) {
            let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let hits = bytes_equal(x, b'"') | bytes_equal(x, b'\\');
            if hits == 0 {
                j += 8;
                continue;
            }
            j += (hits.trailing_zeros() / 8) as usize;
        }
        match json.get(j).ok_or(Malformed)? {
            b'"' => return Ok(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// From the first byte of a value at `i`, the index just past it.
fn skip_value(json: &[u8], i: usize) -> Scan<usize> {
    match json.get(i).ok_or(Malformed)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j).ok_or(Malformed)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            // A number, true, false or null: up to the next delimiter.
            let end = json[i..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .map_or(json.len(), |p| i + p);
            if end == i { Err(Malformed) } else { Ok(end) }
        }
    }
}

/// Whether the key whose string (with quotes) spans `raw` equals `want`.
fn key_is(raw: &[u8], want: &str) -> bool {
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains(&b'\\') {
        return inner == want.as_bytes();
    }
    serde_json::from_slice::<String>(raw).is_ok_and(|k| k == want)
}

/// Walks the object starting at `i`, recording in `out` the byte range of the value at each
/// path in `active` (indices into `paths`, whose first `depth` keys led here); values no
/// path continues into are stepped over. Returns the index just past the object.
fn visit(
    json: &[u8],
    i: usize,
    depth: usize,
    paths: &[&[&str]],
    active: &[usize],
    out: &mut [Option<(usize, usize)>],
) -> Scan<usize> {
    let mut j = skip_ws(json, i + 1);
    if json.get(j) == Some(&b'}') {
        return Ok(j + 1);
    }
    let mut here = Vec::new();
    loop {
        if json.get(j) != Some(&b'"') {
            return Err(Malformed);
        }
        let key_end = skip_string(json, j)?;
        let key = &json[j..key_end];
        here.clear();
        here.extend(
            active
                .iter()
                .copied()
                .filter(|&p| key_is(key, paths[p][depth])),
        );
        let colon = skip_ws(json, key_end);
        if json.get(colon) != Some(&b':') {
            return Err(Malformed);
        }
        let start = skip_ws(json, colon + 1);
        let deeper: Vec<usize> = here
            .iter()
            .copied()
            .filter(|&p| paths[p].len() > depth + 1)
            .collect();
        let end = if !deeper.is_empty() && json.get(start) == Some(&b'{') {
            visit(json, start, depth + 1, paths, &deeper, out)?
        } else {
            skip_value(json, start)?
        };
        for &p in &here {
            if paths[p].len() == depth + 1 {
                out[p] = Some((start, end));
            }
        }
        j = skip_ws(json, end);
        match json.get(j) {
            Some(b',') => j = skip_ws(json, j + 1),
            Some(b'}') => return Ok(j + 1),
            _ => return Err(Malformed),
        }
    }
}

/// The byte range of the value at each of `paths`; see [`find_all`].
fn ranges(json: &[u8], paths: &[&[&str]]) -> Scan<Vec<Option<(usize, usize)>>> {
    let at = skip_ws(json, 0);
    if json.get(at) != Some(&b'{') {
        return Err(Malformed);
    }
    let mut out = vec![None; paths.len()];
    let active: Vec<usize> = (0..paths.len()).filter(|&p| !paths[p].is_empty()).collect();
    let end = visit(json, at, 0, paths, &active, &mut out)?;
    for (p, path) in paths.iter().enumerate() {
        if path.is_empty() {
            out[p] = Some((at, end));
        }
    }
    Ok(out)
}

/// The bytes of the value at each of `paths` (object keys from the root; an empty path is
/// the whole document), found in one pass over the document, whose top level must be an
/// object. A path through something other than an object finds nothing; of duplicate keys,
/// the last counts, as in a full parse.
pub fn find_all<'a>(json: &'a [u8], paths: &[&[&str]]) -> Scan<Vec<Option<&'a [u8]>>> {
    Ok(ranges(json, paths)?
        .into_iter()
        .map(|r| r.map(|(a, b)| &json[a..b]))
        .collect())
}

/// The document with the value at `path` (a non-empty list of object keys) set to `value`,
/// which must be one well-formed JSON value: replaced where it exists, otherwise added as
/// the last member of its parent object. Everything else is copied byte for byte. `None`
/// when the parent is missing or is not an object.
pub fn set(json: &[u8], path: &[&str], value: &[u8]) -> Scan<Option<Vec<u8>>> {
    let (key, parent) = path.split_last().expect("a path to set names a key");
    let found = ranges(json, &[path, parent])?;
    let mut out = Vec::with_capacity(json.len() + key.len() + value.len() + 4);
    match (found[0], found[1]) {
        (Some((start, end)), _) => {
            out.extend_from_slice(&json[..start]);
            out.extend_from_slice(value);
            out.extend_from_slice(&json[end..]);
        }
        (None, Some((start, end))) if json[start] == b'{' => {
            let close = end - 1;
            out.extend_from_slice(&json[..close]);
            if !json[start + 1..close].iter().all(u8::is_ascii_whitespace) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key).expect("a string encodes");
            out.push(b':');
            out.extend_from_slice(value);
            out.extend_from_slice(&json[close..]);
        }
        _ => return Ok(None),
    }
    Ok(Some(out))
}

/// The bytes of the value at `path`; see [`find_all`].
pub fn find<'a>(json: &'a [u8], path: &[&str]) -> Scan<Option<&'a [u8]>> {
    Ok(find_all(json, &[path])?.pop().flatten())
}

/// A string value's text (`null` and other types count as absent).
pub fn string(value: Option<&[u8]>) -> Scan<Option<String>> {
    match value {
        Some(v) if v.first() == Some(&b'"') => serde_json::from_slice(v).map_err(|_| Malformed),
        _ => Ok(None),
    }
}

/// The string at `path`, if there is one; see [`string`].
pub fn find_str(json: &[u8], path: &[&str]) -> Scan<Option<String>> {
    string(find(json, path)?)
}

/// The parts of `json` at `paths` (each a list of object keys from the root), as a `Value`
/// that holds exactly those parts where they exist: `project(j, p).pointer(x)` equals
/// `parse(j).pointer(x)` for every `x` along a path in `p`, for documents without duplicate
/// keys. Only the values at the ends of the paths are decoded.
pub fn project(json: &[u8], paths: &[&[&str]]) -> Result<Value, Malformed> {
    let mut out = Value::Object(Map::new());
    for (path, found) in paths.iter().zip(find_all(json, paths)?) {
        let Some(bytes) = found else {
            continue;
        };
        let value: Value = serde_json::from_slice(bytes).map_err(|_| Malformed)?;
        let mut at = &mut out;
        for (n, key) in path.iter().enumerate() {
            let Value::Object(map) = at else { break };
            if n + 1 == path.len() {
                map.insert((*key).to_owned(), value);
                break;
            }
            at = map
                .entry((*key).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"web","labels":{"app":"web","tier":"fe"},"annotations":{"a":"b}\"{"}},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx","args":["[","{"]}],"hostNetwork":true,"n":-1.5e3},
        "status":{"phase":"Running","conditions":[{"type":"Ready"}],"empty":{},"none":[]}}"#;

    #[test]
    fn keeps_exactly_the_named_parts() {
        let v = project(
            POD.as_bytes(),
            &[
                &["metadata", "labels"],
                &["spec", "nodeName"],
                &["status", "phase"],
            ],
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"app": "web", "tier": "fe"}},
                   "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
        );
    }

    #[test]
    fn agrees_with_a_full_parse_on_every_path() {
        let full: Value = serde_json::from_str(POD).unwrap();
        let paths: [&[&str]; 10] = [
            &["metadata", "name"],
            &["metadata", "annotations", "a"],
            &["spec", "hostNetwork"],
            &["spec", "n"],
            &["spec", "containers", "name"],
            &["status", "missing"],
            &["status", "empty"],
            &["status", "none"],
            &["kind"],
            &["nothing", "here"],
        ];
        let v = project(POD.as_bytes(), &paths).unwrap();
        for p in paths {
            let ptr: String = p.iter().map(|s| format!("/{s}")).collect();
            assert_eq!(v.pointer(&ptr), full.pointer(&ptr), "{ptr}");
        }
        assert_eq!(
            find_str(POD.as_bytes(), &["status", "phase"]).unwrap(),
            Some("Running".into())
        );
        assert_eq!(
            find_str(POD.as_bytes(), &["spec", "hostNetwork"]).unwrap(),
            None
        );
    }

    #[test]
    fn escaped_keys_and_empty_paths() {
        let v = project(br#"{"a\"b":{"c":1},"x":2}"#, &[&["a\"b"]]).unwrap();
        assert_eq!(v, json!({"a\"b": {"c": 1}}));
        assert_eq!(project(br#"{"x":2}"#, &[]).unwrap(), json!({}));
        assert_eq!(find(b" { } ", &["a"]).unwrap(), None);
        // The last of duplicate keys counts, as in serde_json.
        assert_eq!(find(br#"{"a":1,"a":2}"#, &["a"]).unwrap(), Some(&b"2"[..]));
        let all = find_all(
            POD.as_bytes(),
            &[&["spec", "nodeName"], &[], &["spec"], &["status", "phase"]],
        )
        .unwrap();
        assert_eq!(all[0], Some(&br#""n1""#[..]));
        assert_eq!(all[1].map(<[u8]>::len), Some(POD.len()));
        assert!(all[2].unwrap().starts_with(b"{\"nodeName\""));
        assert_eq!(all[3], Some(&br#""Running""#[..]));
    }

    #[test]
    fn strings_end_at_their_closing_quote_wherever_it_falls() {
        for len in 0..40 {
            for escape_at in [None, Some(0), Some(len / 2)] {
                let mut body = "x".repeat(len);
                if let Some(at) = escape_at.filter(|&a| a < len) {
                    body.replace_range(at..at + 1, "\\\"");
                }
                let doc = format!(r#"{{"k":"{body}","after":1}}"#);
                let parsed: Value = serde_json::from_str(&doc).unwrap();
                assert_eq!(
                    find(doc.as_bytes(), &["after"]).unwrap(),
                    Some(&b"1"[..]),
                    "{doc}"
                );
                let k = find_str(doc.as_bytes(), &["k"]).unwrap().unwrap();
                assert_eq!(Some(k.as_str()), parsed["k"].as_str(), "{doc}");
            }
        }
    }

    #[test]
    fn malformed_json_is_reported() {
        assert_eq!(
            find(br#"{"metadata":{"labels":"#, &["metadata", "labels"]),
            Err(Malformed)
        );
        assert_eq!(find(br#"{"a" 1}"#, &["b"]), Err(Malformed));
        assert_eq!(find(br#"{"a":1 "b":2}"#, &["b"]), Err(Malformed));
        assert_eq!(find(br#"[1,2]"#, &["a"]), Err(Malformed));
        assert_eq!(find(br#"{"a":"unterminated}"#, &["b"]), Err(Malformed));
        assert!(project(br#"{"a":[1,}"#, &[&["a"]]).is_err());
    }

    #[test]
    fn set_replaces_or_adds_one_value_and_keeps_the_rest() {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
        let full = parse(POD.as_bytes());
        let cases: [(&[&str], &str); 5] = [
            (&["spec", "nodeName"], r#""n2""#),
            (&["spec", "schedulerName"], r#""s""#),
            (&["status"], r#"{"phase":"Pending"}"#),
            (&["status", "empty", "x"], "[1,{}]"),
            (&["brandNew"], "null"),
        ];
        for (path, value) in cases {
            let out = set(POD.as_bytes(), path, value.as_bytes())
                .unwrap()
                .unwrap();
            let mut want = full.clone();
            let ptr: String = path.iter().map(|s| format!("/{s}")).collect();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut want
            } else {
                want.pointer_mut(parent).unwrap()
            };
            parent[key] = parse(value.as_bytes());
            assert_eq!(parse(&out), want, "{ptr}");
        }
        assert_eq!(
            set(br#"{ }"#, &["a"], b"1").unwrap().unwrap(),
            br#"{ "a":1}"#
        );
        // No parent object: nothing to add to.
        assert_eq!(set(POD.as_bytes(), &["missing", "x"], b"1").unwrap(), None);
        assert_eq!(set(POD.as_bytes(), &["kind", "x"], b"1").unwrap(), None);
        assert!(set(br#"{"a":"#, &["a"], b"1").is_err());
    }
}
