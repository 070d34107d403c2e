//! Decoding a watch: newline-delimited JSON events out of arbitrary chunks.
//!
//! Every event is read once. kube-apiserver and skiff write each event as
//! `{"type":"<TYPE>","object":<object>}`, so the object's bytes are found by position and
//! handed to the decoder without parsing the envelope first; anything else (or an object
//! that does not decode that way) takes the general path.

use anyhow::{Context, Result, anyhow};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use futures::stream::{BoxStream, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

impl EventType {
    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"ADDED" => EventType::Added,
            b"MODIFIED" => EventType::Modified,
            b"DELETED" => EventType::Deleted,
            b"BOOKMARK" => EventType::Bookmark,
            b"ERROR" => EventType::Error,
            _ => return None,
        })
    }
}

/// One watch event. For `Error`, `object` is `None` and `error` holds the Status code and
/// message (a 410 Gone means: list again).
#[derive(Debug)]
pub struct Event<T> {
    pub kind: EventType,
    pub object: Option<T>,
    pub error: Option<(u16, String)>,
}

/// Decodes an object from its JSON bytes (a slice of the event line: no copy).
pub type Decoder<T> = fn(Bytes) -> Result<T>;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: EventType,
    object: Box<serde_json::value::RawValue>,
}

/// Splits chunks into lines, copying only lines that straddle chunks.
#[derive(Debug, Default)]
pub struct Lines {
    /// The start of a line whose end has not arrived.
    partial: BytesMut,
    /// The rest of the latest chunk.
    chunk: Bytes,
}

impl Lines {
    pub fn push(&mut self, chunk: Bytes) {
        let rest = std::mem::replace(&mut self.chunk, chunk);
        self.partial.extend_from_slice(&rest);
    }

    pub fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let nl = memchr::memchr(b'\n', &self.chunk)?;
            let mut line = self.chunk.split_to(nl + 1);
            line.truncate(nl);
            if !self.partial.is_empty() {
                self.partial.extend_from_slice(&line);
                line = self.partial.split().freeze();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some(line);
            }
        }
    }
}

/// The event type and object bytes of a line laid out as `{"type":"T","object":...}`.
fn split(line: &Bytes) -> Option<(EventType, Bytes)> {
    const HEAD: &[u8] = b"{\"type\":\"";
    const MID: &[u8] = b"\",\"object\":";
    let rest = line.strip_prefix(HEAD)?;
    let quote = memchr::memchr(b'"', rest)?;
    let kind = EventType::parse(&rest[..quote])?;
    if !rest[quote..].starts_with(MID) {
        return None;
    }
    let start = HEAD.len() + quote + MID.len();
    let end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    (end > start + 1 && line[end - 1] == b'}').then(|| (kind, line.slice(start..end - 1)))
}

fn error_event<T>(object: &[u8]) -> Result<Event<T>> {
    let v: serde_json::Value = serde_json::from_slice(object)?;
    let code = v.get("code").and_then(|c| c.as_u64()).unwrap_or(500) as u16;
    let msg = v
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(Event {
        kind: EventType::Error,
        object: None,
        error: Some((code, msg)),
    })
}

fn decode_line<T>(line: Bytes, decode: Decoder<T>) -> Result<Event<T>> {
    if let Some((kind, object)) = split(&line) {
        if kind == EventType::Error {
            if let Ok(e) = error_event(&object) {
                return Ok(e);
            }
        } else if let Ok(object) = decode(object) {
            return Ok(Event {
                kind,
                object: Some(object),
                error: None,
            });
        }
    }
    // Another layout, or an object that does not decode: parse the envelope for the error.
    let envelope: Envelope = serde_json::from_slice(&line).context("decoding a watch event")?;
    let object = Bytes::copy_from_slice(envelope.object.get().as_bytes());
    if envelope.kind == EventType::Error {
        return error_event(&object);
    }
    let object = decode(object).map_err(|e| anyhow!("decoding a watched object: {e:#}"))?;
    Ok(Event {
        kind: envelope.kind,
        object: Some(object),
        error: None,
    })
}

/// Objects decoded as `T` with serde.
pub fn from_json<T: DeserializeOwned>(json: Bytes) -> Result<T> {
    Ok(serde_json::from_slice(&json)?)
}

pub fn decode<T: Send + 'static>(
    chunks: BoxStream<'static, Result<Bytes>>,
    decode: Decoder<T>,
) -> impl Stream<Item = Result<Event<T>>> + Send + use<T> {
    futures::stream::unfold(
        (chunks, Lines::default(), false),
        move |(mut chunks, mut lines, mut done)| async move {
            loop {
                if let Some(line) = lines.next_line() {
                    return Some((decode_line(line, decode), (chunks, lines, done)));
                }
                if done {
                    return None;
                }
                match chunks.next().await {
                    Some(Ok(c)) => lines.push(c),
                    Some(Err(e)) => {
                        done = true;
                        return Some((Err(e), (chunks, lines, done)));
                    }
                    None => done = true,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_any_chunking() {
        let text = b"{\"a\":1}\n\n{\"b\":2}\n{\"c\"";
        for split in 1..text.len() {
            let mut l = Lines::default();
            l.push(Bytes::copy_from_slice(&text[..split]));
            let mut got = Vec::new();
            while let Some(x) = l.next_line() {
                got.push(x);
            }
            l.push(Bytes::copy_from_slice(&text[split..]));
            while let Some(x) = l.next_line() {
                got.push(x);
            }
            assert_eq!(
                got,
                vec![
                    Bytes::from_static(b"{\"a\":1}"),
                    Bytes::from_static(b"{\"b\":2}")
                ]
            );
        }
    }

    #[test]
    fn error_events_carry_the_status() {
        let e: Event<serde_json::Value> = decode_line(
            Bytes::from_static(
                br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#,
            ),
            from_json,
        )
        .unwrap();
        assert_eq!(e.kind, EventType::Error);
        assert_eq!(e.error, Some((410, "too old resource version".into())));
    }

    #[test]
    fn objects_are_found_in_any_layout() {
        let want = serde_json::json!({"metadata": {"name": "p"}, "x": [1, "}"]});
        for line in [
            r#"{"type":"ADDED","object":{"metadata":{"name":"p"},"x":[1,"}"]}}"#,
            r#"{"type":"ADDED","object":{"metadata":{"name":"p"},"x":[1,"}"]}}  "#,
            r#"{"object":{"metadata":{"name":"p"},"x":[1,"}"]},"type":"ADDED"}"#,
            r#"{"type":"ADDED","object":{"metadata":{"name":"p"},"x":[1,"}"]},"extra":{"a":1}}"#,
            r#"{ "type" : "ADDED", "object" : {"metadata":{"name":"p"},"x":[1,"}"]} }"#,
        ] {
            let e: Event<serde_json::Value> =
                decode_line(Bytes::copy_from_slice(line.as_bytes()), from_json)
                    .unwrap_or_else(|err| panic!("{line}: {err}"));
            assert_eq!(e.kind, EventType::Added, "{line}");
            assert_eq!(e.object.as_ref(), Some(&want), "{line}");
        }
        let split_one = split(&Bytes::from_static(br#"{"type":"MODIFIED","object":{}}"#));
        assert_eq!(
            split_one,
            Some((EventType::Modified, Bytes::from_static(b"{}")))
        );
        assert!(
            decode_line::<serde_json::Value>(Bytes::from_static(b"{\"type\":"), from_json).is_err()
        );
    }
}
