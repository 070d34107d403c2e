//! Little-endian binary encoding of log records, events and snapshots.
//!
//! Decoding never panics on bad input: every read is bounds-checked and failures come back
//! as a description of what was wrong, which callers turn into [`crate::StoreError::Corrupt`].

use bytes::Bytes;

use super::state::{Entry, Record};
use crate::types::{Event, EventKind, KeyValue};

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_COMPACT: u8 = 3;

#[derive(Default)]
pub(crate) struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        // Entries are bounded by MAX_ENTRY_BYTES, far below u32::MAX.
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }

    pub fn record(&mut self, record: &Record) {
        match record {
            Record::Put {
                revision,
                key,
                value,
            } => {
                self.u8(TAG_PUT);
                self.i64(*revision);
                self.bytes(key.as_bytes());
                self.bytes(value);
            }
            Record::Delete { revision, key } => {
                self.u8(TAG_DELETE);
                self.i64(*revision);
                self.bytes(key.as_bytes());
            }
            Record::Compact { revision } => {
                self.u8(TAG_COMPACT);
                self.i64(*revision);
            }
        }
    }

    pub fn entry(&mut self, key: &str, e: &Entry) {
        self.bytes(key.as_bytes());
        self.bytes(&e.value);
        self.i64(e.create_revision);
        self.i64(e.mod_revision);
        self.i64(e.version);
    }

    fn kv(&mut self, kv: &KeyValue) {
        self.bytes(kv.key.as_bytes());
        self.bytes(&kv.value);
        self.i64(kv.create_revision);
        self.i64(kv.mod_revision);
        self.i64(kv.version);
    }

    pub fn event(&mut self, e: &Event) {
        self.u8(match e.kind {
            EventKind::Put => TAG_PUT,
            EventKind::Delete => TAG_DELETE,
        });
        self.kv(&e.kv);
        match &e.prev {
            Some(prev) => {
                self.u8(1);
                self.kv(prev);
            }
            None => self.u8(0),
        }
    }
}

pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) type DecodeResult<T> = Result<T, String>;

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "truncated: wanted {n} bytes at offset {} of {}",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> DecodeResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> DecodeResult<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(self.u64()? as i64)
    }
    fn slice(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> DecodeResult<String> {
        let at = self.pos;
        String::from_utf8(self.slice()?.to_vec())
            .map_err(|_| format!("key at offset {at} is not UTF-8"))
    }
    fn value(&mut self) -> DecodeResult<Bytes> {
        Ok(Bytes::copy_from_slice(self.slice()?))
    }

    pub fn record(&mut self) -> DecodeResult<Record> {
        let at = self.pos;
        match self.u8()? {
            TAG_PUT => Ok(Record::Put {
                revision: self.i64()?,
                key: self.string()?,
                value: self.value()?,
            }),
            TAG_DELETE => Ok(Record::Delete {
                revision: self.i64()?,
                key: self.string()?,
            }),
            TAG_COMPACT => Ok(Record::Compact {
                revision: self.i64()?,
            }),
            tag => Err(format!("unknown record tag {tag} at offset {at}")),
        }
    }

    pub fn entry(&mut self) -> DecodeResult<(String, Entry)> {
        Ok((
            self.string()?,
            Entry {
                value: self.value()?,
                create_revision: self.i64()?,
                mod_revision: self.i64()?,
                version: self.i64()?,
            },
        ))
    }

    fn kv(&mut self) -> DecodeResult<KeyValue> {
        Ok(KeyValue {
            key: self.string()?,
            value: self.value()?,
            create_revision: self.i64()?,
            mod_revision: self.i64()?,
            version: self.i64()?,
        })
    }

    pub fn event(&mut self) -> DecodeResult<Event> {
        let at = self.pos;
        let kind = match self.u8()? {
            TAG_PUT => EventKind::Put,
            TAG_DELETE => EventKind::Delete,
            tag => return Err(format!("unknown event kind {tag} at offset {at}")),
        };
        let kv = self.kv()?;
        let prev = match self.u8()? {
            0 => None,
            1 => Some(self.kv()?),
            flag => return Err(format!("bad prev flag {flag} at offset {}", self.pos - 1)),
        };
        Ok(Event { kind, kv, prev })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let records = vec![
            Record::Put {
                revision: 7,
                key: "/registry/pods/default/a".into(),
                value: Bytes::from_static(b"{\"x\":1}"),
            },
            Record::Delete {
                revision: 8,
                key: "/k".into(),
            },
            Record::Compact { revision: 5 },
        ];
        let mut enc = Encoder::default();
        for r in &records {
            enc.record(r);
        }
        let mut dec = Decoder::new(&enc.buf);
        let mut back = Vec::new();
        while !dec.is_empty() {
            back.push(dec.record().unwrap());
        }
        assert_eq!(back, records);
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let mut enc = Encoder::default();
        enc.record(&Record::Put {
            revision: 1,
            key: "k".into(),
            value: Bytes::from_static(b"value"),
        });
        for cut in 0..enc.buf.len() {
            assert!(Decoder::new(&enc.buf[..cut]).record().is_err());
        }
        assert!(
            Decoder::new(&[9, 0, 0])
                .record()
                .unwrap_err()
                .contains("unknown record tag 9")
        );
        let huge_len = [TAG_DELETE, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(
            Decoder::new(&huge_len)
                .record()
                .unwrap_err()
                .contains("truncated")
        );
    }
}
