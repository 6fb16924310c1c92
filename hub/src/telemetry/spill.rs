//! Where records wait while the store cannot take them: append-only JSON Lines segments in a
//! directory (or, without one, a bounded queue in memory), read back oldest first.
//!
//! A segment is removed only after every record in it is stored; stores skip records they
//! already hold, so a segment replayed twice (a crash between storing and removing it) stores
//! nothing twice. Segments may hold logged bodies: the directory is the hub's alone (0700, files
//! 0600), and its size is bounded — past the bound request records are dropped (counted),
//! audit entries still kept.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::Record;

/// A segment is closed and a new one begun past this size.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Request records kept in memory without a spill directory; past it the oldest go.
const MEMORY_RECORDS: usize = 100_000;

/// Records read back from the spill, to be released once stored.
pub struct Chunk {
    pub records: Vec<Record>,
    taken: Taken,
}

enum Taken {
    Segment(PathBuf, u64),
    /// Records of the memory queue, by id: others may have been added or evicted meanwhile.
    Records(Vec<String>),
}

pub enum Spill {
    Disk(DiskSpill),
    Memory(VecDeque<Record>),
}

pub struct DiskSpill {
    dir: PathBuf,
    /// The segment being appended to: its number, file and size.
    current: Option<(u64, File, u64)>,
    next_number: u64,
    /// Bytes in all segments, and the most they may hold.
    total: u64,
    max_total: u64,
}

/// The outcome of appending: how many request records had to go (memory full).
pub type Dropped = u64;

impl Spill {
    /// A spill in `dir` (created, private to the hub) holding at most `max_bytes`, or in
    /// memory.
    pub fn open(dir: Option<&Path>, max_bytes: u64) -> io::Result<Self> {
        let Some(dir) = dir else {
            return Ok(Self::Memory(VecDeque::new()));
        };
        fs::create_dir_all(dir)?;
        private(dir, 0o700)?;
        let found = segments(dir)?;
        let next_number = found.last().map_or(1, |(number, _)| number + 1);
        let mut total = 0;
        for (_, path) in &found {
            total += fs::metadata(path)?.len();
        }
        Ok(Self::Disk(DiskSpill {
            dir: dir.to_owned(),
            current: None,
            next_number,
            total,
            max_total: max_bytes,
        }))
    }

    /// Whether records are waiting.
    #[cfg(test)]
    pub fn is_pending(&self) -> io::Result<bool> {
        match self {
            Self::Memory(queue) => Ok(!queue.is_empty()),
            Self::Disk(disk) => Ok(!segments(&disk.dir)?.is_empty()),
        }
    }

    /// Appends `records` durably (the data is on disk when this returns); returns how many
    /// request records had to be dropped for room.
    pub fn append(&mut self, records: &[Record]) -> io::Result<Dropped> {
        match self {
            Self::Memory(queue) => {
                queue.extend(records.iter().cloned());
                let mut dropped = 0;
                while queue.len() > MEMORY_RECORDS {
                    // Audit records are never the ones to go.
                    match queue
                        .iter()
                        .position(|record| matches!(record, Record::Request(_)))
                    {
                        Some(at) => {
                            queue.remove(at);
                            dropped += 1;
                        }
                        None => break,
                    }
                }
                Ok(dropped)
            }
            Self::Disk(disk) => disk.append(records),
        }
    }

    /// The oldest waiting records.
    pub fn oldest(&mut self) -> io::Result<Option<Chunk>> {
        match self {
            Self::Memory(queue) => {
                let records: Vec<Record> = queue.iter().take(1024).cloned().collect();
                Ok((!records.is_empty()).then(|| Chunk {
                    taken: Taken::Records(records.iter().map(|r| r.id().to_owned()).collect()),
                    records,
                }))
            }
            Self::Disk(disk) => disk.oldest(),
        }
    }

    /// Forgets a chunk whose records are stored.
    pub fn release(&mut self, chunk: Chunk) -> io::Result<()> {
        match (self, chunk.taken) {
            (Self::Memory(queue), Taken::Records(ids)) => {
                let ids: std::collections::HashSet<String> = ids.into_iter().collect();
                queue.retain(|record| !ids.contains(record.id()));
                Ok(())
            }
            (Self::Disk(disk), Taken::Segment(path, size)) => {
                fs::remove_file(path)?;
                disk.total = disk.total.saturating_sub(size);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Makes `path` accessible to the hub's user only.
pub(crate) fn private(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".jsonl"))
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(number) = number {
            found.push((number, path));
        }
    }
    found.sort();
    Ok(found)
}

impl DiskSpill {
    fn path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number:012}.jsonl"))
    }

    fn append(&mut self, records: &[Record]) -> io::Result<Dropped> {
        let mut text = Vec::with_capacity(records.len() * 512);
        let mut dropped = 0;
        for record in records {
            // Full: only audit entries still go in.
            if self.total + text.len() as u64 >= self.max_total
                && matches!(record, Record::Request(_))
            {
                dropped += 1;
                continue;
            }
            serde_json::to_writer(&mut text, record)?;
            text.push(b'\n');
        }
        if text.is_empty() {
            return Ok(dropped);
        }
        if self
            .current
            .as_ref()
            .is_none_or(|(_, _, size)| *size >= SEGMENT_BYTES)
        {
            let number = self.next_number;
            self.next_number += 1;
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(self.path(number))?;
            // The new name is durable too.
            File::open(&self.dir)?.sync_all()?;
            self.current = Some((number, file, 0));
        }
        let Some((_, file, size)) = self.current.as_mut() else {
            return Ok(dropped);
        };
        let written = file.write_all(&text).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Whatever part of the lines went in is cut off, so the next append starts on a
            // line of its own; the segment is closed.
            let _ = file.set_len(*size);
            self.current = None;
            return Err(e);
        }
        *size += text.len() as u64;
        self.total += text.len() as u64;
        Ok(dropped)
    }

    fn oldest(&mut self) -> io::Result<Option<Chunk>> {
        let Some((number, path)) = segments(&self.dir)?.into_iter().next() else {
            return Ok(None);
        };
        // The segment being appended to is closed first: what is read back is all of it.
        if self
            .current
            .as_ref()
            .is_some_and(|(current, ..)| *current == number)
        {
            self.current = None;
        }
        let size = fs::metadata(&path)?.len();
        let mut records = Vec::new();
        for (index, line) in BufReader::new(File::open(&path)?).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(record) => records.push(record),
                // A line cut short by a crash while it was written: it was never acknowledged.
                Err(e) => tracing::warn!(
                    segment = %path.display(),
                    line = index + 1,
                    error = %e,
                    "skipping an unreadable spilled record"
                ),
            }
        }
        Ok(Some(Chunk {
            records,
            taken: Taken::Segment(path, size),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::audit::AuditEntry;
    use crate::telemetry::event::{Caller, Plane, RequestEvent};

    fn request(n: u64) -> Record {
        let mut event = RequestEvent::new(Plane::Llm, 1, Caller::default(), "m");
        event.id = format!("r{n}");
        Record::Request(crate::telemetry::packed::PackedRequest::pack(&event))
    }

    #[test]
    fn segments_are_read_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::open(Some(dir.path()), u64::MAX).unwrap();
        assert!(!spill.is_pending().unwrap());
        spill.append(&[request(1), request(2)]).unwrap();
        let audit = Record::Audit(Box::new(AuditEntry::new("user:a", "login", "oidc", "ok")));
        spill.append(std::slice::from_ref(&audit)).unwrap();
        // A crash mid-write leaves half a line; a restart opens a new segment after it.
        let first = dir.path().join("000000000001.jsonl");
        OpenOptions::new()
            .append(true)
            .open(&first)
            .unwrap()
            .write_all(b"{\"kind\":\"requ")
            .unwrap();
        let mut spill = Spill::open(Some(dir.path()), u64::MAX).unwrap();
        spill.append(&[request(3)]).unwrap();
        assert!(spill.is_pending().unwrap());

        let chunk = spill.oldest().unwrap().unwrap();
        assert_eq!(chunk.records.len(), 3);
        assert_eq!(chunk.records[2], audit);
        spill.release(chunk).unwrap();
        let chunk = spill.oldest().unwrap().unwrap();
        assert_eq!(chunk.records, vec![request(3)]);
        spill.release(chunk).unwrap();
        assert!(spill.oldest().unwrap().is_none());
        assert!(!spill.is_pending().unwrap());
    }

    #[test]
    fn memory_keeps_audit_records_when_full() {
        let mut spill = Spill::open(None, u64::MAX).unwrap();
        let audit = Record::Audit(Box::new(AuditEntry::new("user:a", "login", "oidc", "ok")));
        spill.append(std::slice::from_ref(&audit)).unwrap();
        let many: Vec<Record> = (0..MEMORY_RECORDS as u64).map(request).collect();
        assert_eq!(spill.append(&many).unwrap(), 1);
        let chunk = spill.oldest().unwrap().unwrap();
        assert_eq!(chunk.records[0], audit, "the audit record stays first");
        assert_eq!(chunk.records[1], request(1), "the oldest request went");
    }

    #[test]
    fn a_full_spill_keeps_audit_entries_only_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let spilled = dir.path().join("spill");
        let mut spill = Spill::open(Some(&spilled), 600).unwrap();
        let audit = Record::Audit(Box::new(AuditEntry::new("user:a", "login", "oidc", "ok")));
        let batch: Vec<Record> = (0..10).map(request).chain([audit.clone()]).collect();
        let dropped = spill.append(&batch).unwrap();
        assert!(dropped > 0 && dropped < 10, "{dropped}");
        let chunk = spill.oldest().unwrap().unwrap();
        assert_eq!(chunk.records.len() as u64, 11 - dropped);
        assert_eq!(chunk.records.last(), Some(&audit));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&spilled), 0o700);
            assert_eq!(mode(&spilled.join("000000000001.jsonl")), 0o600);
        }
        // Released, the room is back.
        spill.release(chunk).unwrap();
        assert_eq!(spill.append(&[request(1)]).unwrap(), 0);
    }
}
