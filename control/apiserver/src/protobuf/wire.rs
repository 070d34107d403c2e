//! Protocol buffers wire format: varints, keys and length-delimited fields.

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// The next field key as (field number, wire type), or `None` at the end.
    pub fn key(&mut self) -> Result<Option<(u32, u8)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some(((k >> 3) as u32, (k & 7) as u8)))
    }

    /// A length-delimited field's bytes.
    pub fn bytes(&mut self, wire_type: u8) -> Result<&'a [u8], String> {
        if wire_type != 2 {
            return Err(format!(
                "expected a length-delimited field, found wire type {wire_type}"
            ));
        }
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    pub fn skip(&mut self, wire_type: u8) -> Result<(), String> {
        match wire_type {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes(2).map(|_| ()),
            5 => self.advance(4),
            w => Err(format!("unsupported wire type {w}")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.pos + n > self.buf.len() {
            return Err("truncated fixed-width field".into());
        }
        self.pos += n;
        Ok(())
    }

    /// All varint fields of a small message (e.g. Time), as (number, value).
    pub fn fields(mut self) -> Result<Vec<(u32, u64)>, String> {
        let mut out = Vec::new();
        while let Some((n, w)) = self.key()? {
            if w == 0 {
                out.push((n, self.varint()?));
            } else {
                self.skip(w)?;
            }
        }
        Ok(out)
    }
}
