//! The log's on-disk encoding, and the reading of one segment that recovery relies on:
//! which damage an interrupted write can leave (a torn tail, cut off) and which it cannot
//! (corruption, reported with its offset). Pure: bytes in, decisions out.
//!
//! A segment is a header and then write groups: the frames the syncer writes with one
//! `write` and one `fdatasync`, followed by a trailer.
//!
//! ```text
//! segment header (32 bytes): "SKIFFWAL" | version u32 | seq u64 | base revision i64 | crc u32
//! frame header   (36 bytes): payload len u32 | payload crc u32 | revision i64
//!                            | group start u64 | group len u64 | header crc u32
//! frame payload:             records (codec.rs)
//! group trailer  (20 bytes): group start u64 | group len u64 | crc u32
//! ```
//!
//! All integers are little-endian; every crc is CRC-32C of the bytes before it in the same
//! header or trailer (the payload crc covers the payload). A frame's revision is the store
//! revision after its records. A group's start is the segment offset of its first byte and
//! its length includes the trailer; every frame header and the trailer name the group, so
//! recovery knows the extent of a write even when some of it is unreadable.
//!
//! A crash can damage only the last write, which was never acknowledged: any of its bytes
//! may be missing, zero or garbage, and the file may end anywhere inside it. So damage is
//! *torn* exactly when it is in the newest segment, inside the last write group, and nothing
//! after that group was ever written: no intact header or trailer of another group follows,
//! and the file does not extend past the group's end. The whole torn group is dropped;
//! everything else is corruption.

use std::ops::Range;

/// The log format version this code writes and reads.
pub(crate) const VERSION: u32 = 2;
pub(crate) const MAGIC: &[u8; 8] = b"SKIFFWAL";
pub(crate) const SEGMENT_HEADER_LEN: usize = 32;
pub(crate) const FRAME_HEADER_LEN: usize = 36;
pub(crate) const TRAILER_LEN: usize = 20;

pub(crate) fn segment_header(seq: u64, base_revision: i64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&seq.to_le_bytes());
    h[20..28].copy_from_slice(&base_revision.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub seq: u64,
    /// The store revision before the segment's first frame.
    pub base_revision: i64,
}

/// Why a segment header cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The file ends inside the header (it was being created).
    Short,
    /// Damaged, or not a log segment at all.
    Bad(String),
    /// A log segment of another format version.
    Version(u32),
}

pub(crate) fn read_segment_header(data: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let prefix = &data[..data.len().min(MAGIC.len())];
    if prefix != &MAGIC[..prefix.len()] {
        return Err(HeaderError::Bad(
            "not a skiff log segment (bad magic)".into(),
        ));
    }
    if data.len() >= 12 {
        let version = u32_at(data, 8);
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
    }
    if data.len() < SEGMENT_HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if crc32c::crc32c(&data[..28]) != u32_at(data, 28) {
        return Err(HeaderError::Bad("segment header checksum mismatch".into()));
    }
    Ok(SegmentHeader {
        seq: u64_at(data, 12),
        base_revision: i64_at(data, 20),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub payload_len: u32,
    pub payload_crc: u32,
    /// The store revision after this frame's records.
    pub revision: i64,
    /// Offset (in the segment) of the first byte of the write group holding this frame.
    pub group_start: u64,
    /// Bytes written by that group's one write, its trailer included.
    pub group_len: u64,
}

impl FrameHeader {
    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.payload_len.to_le_bytes());
        out[4..8].copy_from_slice(&self.payload_crc.to_le_bytes());
        out[8..16].copy_from_slice(&self.revision.to_le_bytes());
        out[16..24].copy_from_slice(&self.group_start.to_le_bytes());
        out[24..32].copy_from_slice(&self.group_len.to_le_bytes());
        let crc = crc32c::crc32c(&out[..32]);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
    }

    /// The header at `data[pos..]` if its checksum holds and its fields are possible there.
    /// Says nothing about the payload.
    fn decode(data: &[u8], pos: usize) -> Option<FrameHeader> {
        let h = data.get(pos..pos.checked_add(FRAME_HEADER_LEN)?)?;
        let header = FrameHeader {
            payload_len: u32_at(h, 0),
            payload_crc: u32_at(h, 4),
            revision: i64_at(h, 8),
            group_start: u64_at(h, 16),
            group_len: u64_at(h, 24),
        };
        // Cheap plausibility first: recovery scans damaged regions byte by byte.
        let end = (pos as u64).checked_add(header.frame_len() + TRAILER_LEN as u64)?;
        let plausible = header.payload_len > 0
            && header.group_start >= SEGMENT_HEADER_LEN as u64
            && header.group_start <= pos as u64
            && header
                .group_start
                .checked_add(header.group_len)
                .is_some_and(|group_end| end <= group_end);
        (plausible && crc32c::crc32c(&h[..32]) == u32_at(h, 32)).then_some(header)
    }

    fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    fn group(&self) -> Range<u64> {
        self.group_start..self.group_start + self.group_len
    }
}

fn encode_trailer(group: &Range<u64>, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&group.start.to_le_bytes());
    out.extend_from_slice(&(group.end - group.start).to_le_bytes());
    let crc = crc32c::crc32c(&out[at..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The group named by an intact trailer at `data[pos..]`.
fn decode_trailer(data: &[u8], pos: usize) -> Option<Range<u64>> {
    let t = data.get(pos..pos.checked_add(TRAILER_LEN)?)?;
    let (start, len) = (u64_at(t, 0), u64_at(t, 8));
    let end = (pos + TRAILER_LEN) as u64;
    let plausible = start >= SEGMENT_HEADER_LEN as u64 && start.checked_add(len) == Some(end);
    (plausible && crc32c::crc32c(&t[..16]) == u32_at(t, 16)).then_some(start..end)
}

/// Writes the header fields of `frame` (a header's room, then the payload) that depend only
/// on the payload: its length and checksum, and the `revision` the frame leaves the store
/// at. The group fields and the header checksum are written by [`seal_group`], when the
/// syncer knows where the frame goes.
pub(crate) fn set_payload(frame: &mut [u8], revision: i64) {
    let payload = &frame[FRAME_HEADER_LEN..];
    // Payloads are bounded by the batch limits, far below u32::MAX.
    let payload_len = payload.len() as u32;
    let payload_crc = crc32c::crc32c(payload);
    frame[0..4].copy_from_slice(&payload_len.to_le_bytes());
    frame[4..8].copy_from_slice(&payload_crc.to_le_bytes());
    frame[8..16].copy_from_slice(&revision.to_le_bytes());
}

/// Appends `frames` (prepared by [`set_payload`]) to `buf` as one write group that will start
/// at segment offset `group_start`: seals each frame's header and adds the trailer. Appends
/// nothing when there are no frames.
pub(crate) fn seal_group<'a>(
    frames: impl Iterator<Item = &'a [u8]> + Clone,
    group_start: u64,
    buf: &mut Vec<u8>,
) {
    let frames_len: u64 = frames.clone().map(|f| f.len() as u64).sum();
    if frames_len == 0 {
        return;
    }
    let group = group_start..group_start + frames_len + TRAILER_LEN as u64;
    for frame in frames {
        let at = buf.len();
        buf.extend_from_slice(frame);
        let h = &mut buf[at..at + FRAME_HEADER_LEN];
        FrameHeader {
            payload_len: u32_at(h, 0),
            payload_crc: u32_at(h, 4),
            revision: i64_at(h, 8),
            group_start,
            group_len: group.end - group.start,
        }
        .encode(h);
    }
    encode_trailer(&group, buf);
}

/// A frame read back from a segment.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub offset: usize,
    pub header: FrameHeader,
    pub payload: &'a [u8],
}

/// The end of a newest segment that an interrupted write left, and that recovery cuts off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Torn {
    /// Where the last write group began: the segment is cut back to here.
    pub group_start: u64,
    /// Where the first missing or damaged part of it is.
    pub damage_at: u64,
    /// The length of the file as found.
    pub len: u64,
    /// Frames of the torn group that were intact (dropped with it: never acknowledged).
    pub intact_frames: usize,
    /// Whether parts of the write were unreadable, rather than only its end missing.
    pub damaged: bool,
}

/// A segment's readable content.
#[derive(Debug)]
pub(crate) struct Segment<'a> {
    /// Frames of complete write groups, in order.
    pub frames: Vec<Frame<'a>>,
    /// The length of the part to keep; appends continue here.
    pub end: u64,
    pub torn: Option<Torn>,
}

/// Damage that is not a torn tail: the data at `offset` was written before (and synced).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Corruption {
    pub offset: u64,
    pub detail: String,
}

fn corruption(offset: usize, detail: impl Into<String>) -> Corruption {
    Corruption {
        offset: offset as u64,
        detail: detail.into(),
    }
}

/// What is wrong at some offset.
#[derive(Debug)]
enum Problem {
    /// The file ends there.
    Cut(String),
    /// A checksum fails.
    Bad(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Cut(s) | Problem::Bad(s) => f.write_str(s),
        }
    }
}

/// Reads the frames of a segment whose header is valid. In the newest segment (`newest`), a
/// torn last write group is cut off; any other damage is corruption.
pub(crate) fn read_segment(data: &[u8], newest: bool) -> Result<Segment<'_>, Corruption> {
    let mut frames = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    // The write group being read, and how many of `frames` precede it.
    let mut group: Option<(Range<u64>, usize)> = None;
    loop {
        let step = match &group {
            None if pos == data.len() => {
                return Ok(Segment {
                    frames,
                    end: pos as u64,
                    torn: None,
                });
            }
            Some((range, _)) if pos as u64 + TRAILER_LEN as u64 == range.end => {
                read_trailer(data, pos, range)
            }
            _ => intact_frame(data, pos).map(Some),
        };
        let first_frame = group.as_ref().map_or(frames.len(), |(_, first)| *first);
        match step {
            // The trailer closed the group.
            Ok(None) => {
                pos += TRAILER_LEN;
                group = None;
            }
            Ok(Some(frame)) => {
                let h = frame.header;
                let expected = group.as_ref().map(|(r, _)| r.clone());
                if expected
                    .as_ref()
                    .map_or(h.group_start != pos as u64, |r| *r != h.group())
                {
                    return Err(corruption(
                        pos,
                        format!(
                            "frame names write group {:?}, but it is in the group starting at \
                             offset {}",
                            h.group(),
                            expected.map_or(pos as u64, |r| r.start)
                        ),
                    ));
                }
                pos += h.frame_len() as usize;
                frames.push(frame);
                group = Some((h.group(), first_frame));
            }
            Err(problem) => {
                let range = group.map(|(r, _)| r);
                let group_start = range.as_ref().map_or(pos as u64, |r| r.start);
                let intact_later = classify_damage(data, pos, range, newest)
                    .map_err(|why| corruption(pos, format!("{problem}, and {why}")))?;
                let torn = Torn {
                    group_start,
                    damage_at: pos as u64,
                    len: data.len() as u64,
                    intact_frames: frames.len() - first_frame + intact_later,
                    damaged: matches!(problem, Problem::Bad(_)) || intact_later > 0,
                };
                frames.truncate(first_frame);
                return Ok(Segment {
                    frames,
                    end: group_start,
                    torn: Some(torn),
                });
            }
        }
    }
}

/// Checks the trailer of `group` at `pos`: `Ok(None)` when it closes the group.
fn read_trailer<'a>(
    data: &[u8],
    pos: usize,
    group: &Range<u64>,
) -> Result<Option<Frame<'a>>, Problem> {
    if data.len() < pos + TRAILER_LEN {
        return Err(Problem::Cut(format!(
            "the file ends inside the trailer of the write group at offset {}",
            group.start
        )));
    }
    match decode_trailer(data, pos) {
        Some(g) if g == *group => Ok(None),
        _ => Err(Problem::Bad(format!(
            "checksum mismatch in the trailer of the write group at offset {}",
            group.start
        ))),
    }
}

/// The intact frame at `pos`, or what is wrong with it.
fn intact_frame(data: &[u8], pos: usize) -> Result<Frame<'_>, Problem> {
    let rest = data.len() - pos;
    if rest < FRAME_HEADER_LEN {
        return Err(Problem::Cut(format!(
            "the file ends {rest} bytes into a {FRAME_HEADER_LEN}-byte frame header"
        )));
    }
    let Some(header) = FrameHeader::decode(data, pos) else {
        return Err(Problem::Bad("frame header checksum mismatch".into()));
    };
    let end = pos as u64 + header.frame_len();
    if end > data.len() as u64 {
        return Err(Problem::Cut(format!(
            "a frame of {} bytes runs past the end of the file",
            header.frame_len()
        )));
    }
    let payload = &data[pos + FRAME_HEADER_LEN..end as usize];
    if crc32c::crc32c(payload) != header.payload_crc {
        return Err(Problem::Bad(format!(
            "checksum mismatch in a {}-byte frame payload",
            header.payload_len
        )));
    }
    Ok(Frame {
        offset: pos,
        header,
        payload,
    })
}

/// Decides whether damage at `pos` is a torn tail. `group` is the write group `pos` lies in
/// when an intact frame before it named it; otherwise a group starts at `pos`. Returns the
/// number of intact frames of the torn group after the damage, or why the damage must have
/// hit data that had been synced.
fn classify_damage(
    data: &[u8],
    pos: usize,
    group: Option<Range<u64>>,
    newest: bool,
) -> Result<usize, String> {
    if !newest {
        return Err("newer segments follow it".into());
    }
    let start = group.as_ref().map_or(pos as u64, |g| g.start);
    let mut end = group.map(|g| g.end);
    // Pages of one write reach the disk in any order, so intact parts of the same group may
    // follow the damage, and the damaged frame's own header may be intact; they give the
    // group's extent. An intact header or trailer of any other group may not follow: that
    // group was written after this one had been synced.
    let mut intact_frames = 0;
    for at in pos..data.len() {
        let (named, what) = if let Some(h) = FrameHeader::decode(data, at) {
            if at > pos && intact_frame(data, at).is_ok() {
                intact_frames += 1;
            }
            (h.group(), "frame header")
        } else if let Some(g) = decode_trailer(data, at) {
            (g, "write group trailer")
        } else {
            continue;
        };
        if named.start != start || end.is_some_and(|e| e != named.end) {
            return Err(format!(
                "an intact {what} of another write follows at offset {at}, so this data had \
                 been synced"
            ));
        }
        end = Some(named.end);
    }
    if let Some(end) = end
        && data.len() as u64 > end
    {
        return Err(format!(
            "the file continues past the end of that write (offset {end}), so a later write \
             followed it"
        ));
    }
    Ok(intact_frames)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload_len: usize, revision: i64) -> Vec<u8> {
        let mut frame = vec![0; FRAME_HEADER_LEN];
        frame.extend((0..payload_len).map(|i| (i % 251) as u8 + 1));
        set_payload(&mut frame, revision);
        frame
    }

    /// A segment with two write groups: one frame, then three frames. Returns the data and
    /// where the second group starts.
    fn two_groups() -> (Vec<u8>, usize) {
        let mut data = segment_header(1, 0).to_vec();
        let first = [frame(700, 1)];
        seal_group(
            first.iter().map(Vec::as_slice),
            data.len() as u64,
            &mut data,
        );
        let second_at = data.len();
        let second = [frame(300, 2), frame(1200, 3), frame(50, 4)];
        seal_group(
            second.iter().map(Vec::as_slice),
            second_at as u64,
            &mut data,
        );
        (data, second_at)
    }

    fn read(data: &[u8], newest: bool) -> Result<Segment<'_>, Corruption> {
        read_segment_header(data).unwrap();
        read_segment(data, newest)
    }

    #[test]
    fn reads_complete_groups() {
        let (data, _) = two_groups();
        let s = read(&data, true).unwrap();
        assert_eq!(s.frames.len(), 4);
        assert_eq!(s.end, data.len() as u64);
        assert!(s.torn.is_none());
        let revisions: Vec<_> = s.frames.iter().map(|f| f.header.revision).collect();
        assert_eq!(revisions, [1, 2, 3, 4]);
    }

    #[test]
    fn every_cut_inside_the_last_write_drops_exactly_that_write() {
        let (data, second_at) = two_groups();
        for cut in second_at..data.len() {
            let s = read(&data[..cut], true).unwrap_or_else(|c| panic!("cut at {cut}: {c:?}"));
            assert_eq!(s.frames.len(), 1, "cut at {cut}");
            assert_eq!(s.end, second_at as u64, "cut at {cut}");
            assert_eq!(s.torn.is_some(), cut > second_at, "cut at {cut}");
            assert!(s.torn.is_none_or(|t| !t.damaged), "cut at {cut}");
        }
    }

    #[test]
    fn any_damage_inside_the_last_write_is_torn() {
        let (data, second_at) = two_groups();
        for at in second_at..data.len() {
            for change in [0xff, 0x01] {
                let mut bad = data.clone();
                bad[at] ^= change;
                let s = read(&bad, true).unwrap_or_else(|c| panic!("byte {at}: {c:?}"));
                assert_eq!(s.end, second_at as u64, "byte {at}");
                assert!(s.torn.as_ref().unwrap().damaged, "byte {at}");
            }
        }
        // Missing sectors in the middle of the write, later frames of it intact: the pages
        // of one write reach the disk in any order.
        let mut bad = data.clone();
        bad[second_at + 100..second_at + 300].fill(0);
        let torn = read(&bad, true).unwrap().torn.unwrap();
        assert_eq!(torn.group_start, second_at as u64);
        assert!(torn.damaged);
        assert_eq!(
            torn.intact_frames, 2,
            "the two frames after the damage were intact"
        );
    }

    #[test]
    fn any_damage_before_the_last_write_is_corruption_at_its_frame() {
        let (data, second_at) = two_groups();
        let trailer_at = second_at - TRAILER_LEN;
        for at in SEGMENT_HEADER_LEN..second_at {
            let mut bad = data.clone();
            bad[at] ^= 0x20;
            let c = read(&bad, true).unwrap_err();
            let damaged_part = if at < trailer_at {
                SEGMENT_HEADER_LEN
            } else {
                trailer_at
            };
            assert_eq!(c.offset, damaged_part as u64, "byte {at}: {c:?}");
            assert!(c.detail.contains("had been synced"), "{c:?}");
        }
    }

    #[test]
    fn a_length_pointing_past_the_end_is_not_taken_for_a_torn_tail() {
        let (mut data, _) = two_groups();
        // The first frame's length now says it runs past the end of the file.
        data[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let c = read(&data, true).unwrap_err();
        assert_eq!(c.offset, SEGMENT_HEADER_LEN as u64);
        assert!(c.detail.contains("header checksum mismatch"), "{c:?}");
    }

    #[test]
    fn an_all_zero_header_is_not_an_empty_frame() {
        let (data, second_at) = two_groups();
        // Zeros where the second group's first frame header was, the rest intact.
        let mut zeroed = data.clone();
        zeroed[second_at..second_at + FRAME_HEADER_LEN].fill(0);
        let torn = read(&zeroed, true).unwrap().torn.unwrap();
        assert_eq!(torn.group_start, second_at as u64);
        // Zeros inserted before a later write: corruption.
        let mut inserted = data[..second_at].to_vec();
        inserted.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        let later = [frame(10, 2)];
        let at = inserted.len() as u64;
        seal_group(later.iter().map(Vec::as_slice), at, &mut inserted);
        let c = read(&inserted, true).unwrap_err();
        assert_eq!(c.offset, second_at as u64, "{c:?}");
    }

    #[test]
    fn bytes_after_the_end_of_the_last_write_make_its_damage_corruption() {
        let (mut data, second_at) = two_groups();
        data[second_at + 40] ^= 1;
        data.extend_from_slice(&[0; 600]);
        let c = read(&data, true).unwrap_err();
        assert!(c.detail.contains("continues past the end"), "{c:?}");
    }

    #[test]
    fn only_the_newest_segment_may_end_torn() {
        let (data, second_at) = two_groups();
        for cut in second_at + 1..data.len() {
            let c = read(&data[..cut], false).unwrap_err();
            assert!(
                (second_at..=cut).contains(&(c.offset as usize)),
                "cut at {cut}: {c:?}"
            );
        }
    }

    #[test]
    fn a_frame_that_disagrees_with_its_group_is_corruption() {
        // An intact frame after a complete group that claims to belong to that group.
        // (The damaged trailer that would follow does not matter: the frame is wrong first.)
        let mut data = segment_header(1, 0).to_vec();
        let first = [frame(10, 1)];
        seal_group(
            first.iter().map(Vec::as_slice),
            data.len() as u64,
            &mut data,
        );
        let at = data.len();
        let mut stray = frame(10, 2);
        FrameHeader {
            payload_len: 10,
            payload_crc: u32_at(&stray, 4),
            revision: 2,
            group_start: SEGMENT_HEADER_LEN as u64,
            group_len: (at - SEGMENT_HEADER_LEN + stray.len() + TRAILER_LEN) as u64,
        }
        .encode(&mut stray[..FRAME_HEADER_LEN]);
        data.extend_from_slice(&stray);
        let c = read(&data, true).unwrap_err();
        assert_eq!(c.offset, at as u64);
        assert!(c.detail.contains("write group"), "{c:?}");
    }

    #[test]
    fn segment_headers_are_checked() {
        let h = segment_header(7, 42);
        assert_eq!(
            read_segment_header(&h),
            Ok(SegmentHeader {
                seq: 7,
                base_revision: 42
            })
        );
        assert_eq!(read_segment_header(&h[..20]), Err(HeaderError::Short));
        let mut bad = h;
        bad[15] ^= 1;
        assert!(matches!(
            read_segment_header(&bad),
            Err(HeaderError::Bad(_))
        ));
        let mut v1 = MAGIC.to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(read_segment_header(&v1), Err(HeaderError::Version(1)));
    }
}
