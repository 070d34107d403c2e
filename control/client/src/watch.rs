//! Decoding a watch: newline-delimited JSON events out of arbitrary chunks.

use anyhow::{Context, Result, anyhow};
use bytes::{Buf, Bytes, BytesMut};
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

/// One watch event. For `Error`, `object` failed to decode as `T`; `error` holds the Status
/// message (a 410 Gone means: list again).
#[derive(Debug)]
pub struct Event<T> {
    pub kind: EventType,
    pub object: Option<T>,
    pub error: Option<(u16, String)>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: EventType,
    object: Box<serde_json::value::RawValue>,
}

/// Splits chunks into lines.
#[derive(Debug, Default)]
pub struct Lines {
    buf: BytesMut,
}

impl Lines {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    pub fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let nl = self.buf.iter().position(|&b| b == b'\n')?;
            let line = self.buf.split_to(nl).freeze();
            self.buf.advance(1);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some(line);
            }
        }
    }
}

fn decode_line<T: DeserializeOwned>(line: &[u8]) -> Result<Event<T>> {
    let raw: Raw = serde_json::from_slice(line).context("decoding a watch event")?;
    if raw.kind == EventType::Error {
        let v: serde_json::Value = serde_json::from_str(raw.object.get())?;
        let code = v.get("code").and_then(|c| c.as_u64()).unwrap_or(500) as u16;
        let msg = v
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        return Ok(Event {
            kind: raw.kind,
            object: None,
            error: Some((code, msg)),
        });
    }
    let object = serde_json::from_str(raw.object.get())
        .map_err(|e| anyhow!("decoding a watched object: {e}"))?;
    Ok(Event {
        kind: raw.kind,
        object: Some(object),
        error: None,
    })
}

pub fn decode<T: DeserializeOwned>(
    chunks: BoxStream<'static, Result<Bytes>>,
) -> impl Stream<Item = Result<Event<T>>> + Send + use<T> {
    futures::stream::unfold(
        (chunks, Lines::default(), false),
        |(mut chunks, mut lines, mut done)| async move {
            loop {
                if let Some(line) = lines.next_line() {
                    return Some((decode_line(&line), (chunks, lines, done)));
                }
                if done {
                    return None;
                }
                match chunks.next().await {
                    Some(Ok(c)) => lines.push(&c),
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
            l.push(&text[..split]);
            let mut got = Vec::new();
            while let Some(x) = l.next_line() {
                got.push(x);
            }
            l.push(&text[split..]);
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
            br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}"#,
        )
        .unwrap();
        assert_eq!(e.kind, EventType::Error);
        assert_eq!(e.error, Some((410, "too old resource version".into())));
    }
}
