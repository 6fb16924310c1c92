use super::*;
use crate::telemetry::event::{Caller, Status};
use agenthub_policy::when::Plane;

const T0: Millis = 1_800_000_000_000;

/// Appends `events`, packed as the pipeline hands records over.
fn append(log: &RequestLog, events: &[&RequestEvent], repeat: bool) -> Result<(), Error> {
    append_by(log, events, repeat, None)
}

fn append_by(
    log: &RequestLog,
    events: &[&RequestEvent],
    repeat: bool,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let packed: Vec<PackedRequest> = events.iter().map(|e| PackedRequest::pack(e)).collect();
    log.append_by(packed.iter().collect(), repeat, deadline)
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The records' migrations make the file; the log needs only that it exists.
        Connection::open(dir.path().join("records.db"))
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL;")
            .unwrap();
        Self { dir }
    }

    fn open(&self) -> RequestLog {
        RequestLog::open(&self.dir.path().join("records.db"), false).unwrap()
    }

    fn first_records_file(&self) -> PathBuf {
        self.dir.path().join("records.segments/0000000001.records")
    }

    fn segment_files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path().join("records.segments"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "LOCK")
            .collect();
        names.sort();
        names
    }
}

/// A varied record: caller, team, plane and target cycle with `n`; every third one has bodies.
fn event(n: usize, at: Millis) -> RequestEvent {
    let caller = Caller {
        principal: format!("user:u{}", n % 3),
        team: (!n.is_multiple_of(4)).then(|| format!("team{}", n % 2)),
        key_id: Some(format!("k{}", n % 5)),
        chain: Vec::new(),
    };
    let plane = [Plane::Llm, Plane::Mcp, Plane::A2a][n % 3];
    let mut event = RequestEvent::new(plane, at, caller, format!("target{}", n % 7));
    match plane {
        Plane::Llm => {
            event.model = Some(format!("model{}", n % 2));
            event.provider = Some("openai".into());
        }
        Plane::Mcp => event.tool = Some(format!("srv/tool{}", n % 2)),
        Plane::A2a => event.agent = Some("writer".into()),
    }
    event.trace_id = Some(format!("{:032x}", n / 2));
    if n.is_multiple_of(5) {
        event.fail(Status::Error, "upstream_failed", "boom");
    }
    event.metadata.insert("run".into(), format!("r{}", n % 6));
    if n.is_multiple_of(3) {
        event.bodies = LoggedBodies::from_json(format!(r#"{{"request":{{"n":{n}}}}}"#));
    }
    event
}

/// A log holding two records two minutes apart, so each in a block of its own, both in the
/// first segment.
fn two_blocks(lab: &Lab) -> (RequestLog, RequestEvent, RequestEvent) {
    let log = lab.open();
    let first = event(1, T0);
    let second = event(2, T0 + 120_000);
    append(&log, &[&first], false).unwrap();
    append(&log, &[&second], false).unwrap();
    (log, first, second)
}

/// Records made over ten minutes, stored in batches whose id ranges overlap (slow requests end
/// after faster ones that started later), and some long ones that span more than a block may.
fn stored(log: &RequestLog) -> Vec<RequestEvent> {
    let mut all: Vec<RequestEvent> = (0..600)
        .map(|n| event(n, T0 + (n as Millis) * 1000 + (n as Millis % 7) * 40_000))
        .collect();
    // A long stream's record arrives with a batch of records made minutes later.
    all.push(event(600, T0 - 300_000));
    for batch in all.chunks(97) {
        let refs: Vec<&RequestEvent> = batch.iter().collect();
        append(log, &refs, false).unwrap();
    }
    all.sort_by(|a, b| b.id.cmp(&a.id));
    all
}

fn without_bodies(event: &RequestEvent) -> RequestEvent {
    RequestEvent {
        bodies: None,
        ..event.clone()
    }
}

/// Every page of `filter`, both ways, from the log against the same records filtered in memory.
fn check_pages(log: &RequestLog, all: &[RequestEvent], filter: &RequestFilter) {
    let want: Vec<RequestEvent> = all
        .iter()
        .filter(|e| filter.matches(e))
        .map(without_bodies)
        .collect();
    for limit in [1, 7, 1000] {
        let newest_first = all_pages(log, filter, limit, true);
        assert_eq!(newest_first, want, "newest first by {limit}: {filter:?}");
        let mut oldest_first = all_pages(log, filter, limit, false);
        oldest_first.reverse();
        assert_eq!(oldest_first, want, "oldest first by {limit}: {filter:?}");
    }
}

/// Every record `filter` selects, page after page of `limit`, each page from the last one's
/// cursor.
fn all_pages(
    log: &RequestLog,
    filter: &RequestFilter,
    limit: usize,
    newest_first: bool,
) -> Vec<RequestEvent> {
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = if newest_first {
            Page::NewestBefore(cursor.as_deref())
        } else {
            Page::OldestAfter(cursor.as_deref())
        };
        let page = log.list(filter, page, limit).unwrap();
        assert!(page.len() <= limit);
        cursor = page.last().map(|e| e.id.clone());
        let end = page.len() < limit;
        got.extend(page);
        if end {
            return got;
        }
    }
}

#[test]
fn every_filter_and_page_finds_what_a_scan_would() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    let filters = [
        RequestFilter::default(),
        RequestFilter {
            since: Some(T0 + 100_000),
            until: Some(T0 + 300_000),
            ..Default::default()
        },
        RequestFilter {
            since: Some(T0 + 550_000),
            ..Default::default()
        },
        RequestFilter {
            principal: Some("user:u1".into()),
            ..Default::default()
        },
        RequestFilter {
            team: Some("team0".into()),
            plane: Some("llm".into()),
            ..Default::default()
        },
        RequestFilter {
            key_id: Some("k3".into()),
            status: Some(Status::Error),
            ..Default::default()
        },
        RequestFilter {
            model: Some("model1".into()),
            provider: Some("openai".into()),
            until: Some(T0 + 200_000),
            ..Default::default()
        },
        RequestFilter {
            tool: Some("srv/tool0".into()),
            ..Default::default()
        },
        RequestFilter {
            agent: Some("writer".into()),
            metadata: Some(("run".into(), "r2".into())),
            ..Default::default()
        },
        RequestFilter {
            trace_id: Some(format!("{:032x}", 300 / 2)),
            ..Default::default()
        },
        RequestFilter {
            trace_id: Some(format!("{:032x}", 600 / 2)),
            ..Default::default()
        },
        RequestFilter {
            model: Some("no such model".into()),
            ..Default::default()
        },
    ];
    for filter in &filters {
        check_pages(&log, &all, filter);
    }
}

/// A trace id's key is its FNV-1a hash, stored in the log: it must never change.
#[test]
fn trace_keys_are_fnv1a_and_found_in_sorted_keys() {
    assert_eq!(trace_key(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(trace_key("a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(
        trace_key("4bf92f3577b34da6a3ce929d0e0e4736"),
        trace_key("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let keys: Vec<u8> = [3u64, 9, 27, u64::MAX]
        .iter()
        .flat_map(|k| k.to_le_bytes())
        .collect();
    for (key, held) in [
        (3, true),
        (9, true),
        (27, true),
        (u64::MAX, true),
        (0, false),
        (10, false),
    ] {
        assert_eq!(holds_key(&keys, key), held, "{key}");
    }
    assert!(!holds_key(&[], 3));
}

/// A lookup by trace id decodes only the blocks whose keys hold the trace's.
#[test]
fn a_trace_is_looked_up_in_the_blocks_that_hold_it() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    let blocks: i64 = count_rows(&lab, "SELECT COUNT(*) FROM request_blocks");
    assert!(blocks > 5, "{blocks} blocks");
    assert_eq!(
        count_rows(&lab, "SELECT COUNT(*) FROM request_block_traces"),
        blocks
    );
    assert_eq!(
        count_rows(
            &lab,
            "SELECT COUNT(*) FROM request_terms WHERE term LIKE 'r=%'"
        ),
        0,
        "trace ids are not terms"
    );
    let trace = format!("{:032x}", 300 / 2);
    let filter = RequestFilter {
        trace_id: Some(trace.clone()),
        ..Default::default()
    };
    let before = log.blocks_read.load(std::sync::atomic::Ordering::Relaxed);
    let found = log.list(&filter, Page::NewestBefore(None), 100).unwrap();
    let read = log.blocks_read.load(std::sync::atomic::Ordering::Relaxed) - before;
    let holding: std::collections::HashSet<_> = all
        .iter()
        .filter(|e| e.trace_id.as_deref() == Some(trace.as_str()))
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(found.len(), holding.len());
    assert!((1..=holding.len()).contains(&read), "{read} blocks read");
}

/// Logs written before blocks kept trace keys have `r=` terms instead: still found by them.
#[test]
fn a_trace_is_found_by_the_terms_of_older_logs() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    let connection = Connection::open(lab.dir.path().join("records.db")).unwrap();
    let blocks = select_blocks(
        &connection,
        &format!("SELECT {BLOCK_COLUMNS} FROM request_blocks"),
        [],
    )
    .unwrap();
    connection
        .execute("DELETE FROM request_block_traces", [])
        .unwrap();
    // The terms an older log wrote: its records' trace ids, by the day of its first record.
    for block in &blocks {
        let day = day_of(id_millis(&block.first_id).unwrap());
        for id in read_ids(&log.dir, block).unwrap() {
            let event = all.iter().find(|e| e.id == id).unwrap();
            connection
                .execute(
                    "INSERT OR IGNORE INTO request_terms (day, term, block) VALUES (?1, ?2, ?3)",
                    params![
                        day,
                        format!("r={}", event.trace_id.as_deref().unwrap()),
                        block.id
                    ],
                )
                .unwrap();
        }
    }
    drop(connection);
    for n in [300, 600] {
        let filter = RequestFilter {
            trace_id: Some(format!("{:032x}", n / 2)),
            ..Default::default()
        };
        check_pages(&log, &all, &filter);
    }
}

fn count_rows(lab: &Lab, sql: &str) -> i64 {
    Connection::open(lab.dir.path().join("records.db"))
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

#[test]
fn a_record_comes_back_with_its_bodies() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    for event in all.iter().step_by(37) {
        assert_eq!(log.get(&event.id).unwrap().as_ref(), Some(event));
    }
    let long = all.iter().find(|e| e.at == T0 - 300_000).unwrap();
    assert_eq!(log.get(&long.id).unwrap().as_ref(), Some(long));
    assert_eq!(log.get(&first_id_at(T0)).unwrap(), None);
    assert_eq!(log.get("not an id").unwrap(), None);
}

#[test]
fn a_repeated_batch_stores_only_what_is_new() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    let mut again: Vec<&RequestEvent> = all.iter().step_by(3).collect();
    let new = event(700, T0 + 10);
    again.push(&new);
    append(&log, &again, true).unwrap();
    let listed = log
        .list(&RequestFilter::default(), Page::NewestBefore(None), 10_000)
        .unwrap();
    assert_eq!(listed.len(), all.len() + 1);
    assert!(listed.iter().any(|e| e.id == new.id));
}

#[test]
fn retention_removes_exactly_what_is_older_and_then_the_files() {
    let lab = Lab::new();
    let log = lab.open();
    let all = stored(&log);
    drop(log);
    // A new process starts a new segment.
    let log = lab.open();
    let late = event(800, T0 + 3_600_000);
    append(&log, &[&late], false).unwrap();
    let all: Vec<RequestEvent> = std::iter::once(late.clone()).chain(all).collect();
    assert_eq!(
        lab.segment_files(),
        [
            "0000000001.bodies",
            "0000000001.records",
            "0000000002.bodies",
            "0000000002.records"
        ]
    );

    let cutoffs = Cutoffs {
        bodies: T0 + 250_500,
        events: T0 + 100_500,
        traces: 0,
        audit: 0,
    };
    let removed = log.purge(&cutoffs).unwrap();
    let bodies_gone = all
        .iter()
        .filter(|e| e.at < cutoffs.bodies && e.bodies.is_some())
        .count();
    let records_gone = all.iter().filter(|e| e.at < cutoffs.events).count();
    assert_eq!(removed, (bodies_gone + records_gone) as u64);
    let kept: Vec<RequestEvent> = all
        .iter()
        .filter(|e| e.at >= cutoffs.events)
        .map(without_bodies)
        .collect();
    let listed = log
        .list(&RequestFilter::default(), Page::NewestBefore(None), 10_000)
        .unwrap();
    assert_eq!(listed, kept);
    for event in all.iter().filter(|e| e.at >= cutoffs.events) {
        let got = log.get(&event.id).unwrap().unwrap();
        let want = if event.at < cutoffs.bodies {
            without_bodies(event)
        } else {
            event.clone()
        };
        assert_eq!(got, want);
    }
    assert_eq!(log.purge(&cutoffs).unwrap(), 0, "nothing twice");
    assert_eq!(
        count_rows(&lab, "SELECT COUNT(*) FROM request_block_traces"),
        count_rows(&lab, "SELECT COUNT(*) FROM request_blocks"),
        "a block's trace keys go with it"
    );

    // Everything of the first segment past retention: its files go.
    let removed = log
        .purge(&Cutoffs {
            bodies: T0 + 3_000_000,
            events: T0 + 3_000_000,
            traces: 0,
            audit: 0,
        })
        .unwrap();
    assert!(removed > 0);
    assert_eq!(
        log.list(&RequestFilter::default(), Page::NewestBefore(None), 10)
            .unwrap(),
        [late]
    );
    let files = lab.segment_files();
    assert!(
        !files.contains(&"0000000001.records".to_owned()),
        "{files:?}"
    );
}

#[test]
fn bytes_never_committed_are_never_read() {
    let lab = Lab::new();
    let log = lab.open();
    let first = event(1, T0);
    append(&log, &[&first], false).unwrap();
    // A write whose commit failed left bytes past the segment's committed end.
    let path = lab.first_records_file();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, b"garbage from a failed commit").unwrap();
    let second = event(2, T0 + 1);
    append(&log, &[&second], false).unwrap();
    drop(log);
    let log = lab.open();
    let third = event(3, T0 + 2);
    append(&log, &[&third], false).unwrap();
    let listed = log
        .list(&RequestFilter::default(), Page::NewestBefore(None), 10)
        .unwrap();
    assert_eq!(
        listed,
        [third, second, without_bodies(&first)]
            .iter()
            .map(without_bodies)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_damaged_block_is_skipped_and_the_rest_still_read() {
    let lab = Lab::new();
    let (log, first, second) = two_blocks(&lab);
    let path = lab.first_records_file();
    let mut bytes = fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let listed = log
        .list(&RequestFilter::default(), Page::NewestBefore(None), 10)
        .unwrap();
    assert_eq!(listed, [second]);
    assert_eq!(log.get(&first.id).unwrap(), None);
}

#[test]
fn segments_that_cannot_be_written_are_unavailable() {
    let lab = Lab::new();
    let dir = lab.dir.path().join("records.segments");
    let log = lab.open();
    // Not a directory any more: no new segment can be made there, whoever the hub runs as.
    fs::remove_dir(&dir).unwrap();
    fs::write(&dir, b"").unwrap();
    let error = append(&log, &[&event(1, T0)], false).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    append(&log, &[&event(1, T0)], false).unwrap();
    assert_eq!(
        log.list(&RequestFilter::default(), Page::NewestBefore(None), 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ids_carry_their_time() {
    assert_eq!(id_millis(first_id_at(T0)), Some(T0));
    assert_eq!(
        id_millis(crate::model::time_ordered_id(T0 + 5)),
        Some(T0 + 5)
    );
    assert_eq!(id_millis("z"), None);
    assert_eq!(id_millis("0192aaaa-bbbb"), Some(0x0192_aaaa_bbbb));
    assert_eq!(id_millis("0192aaaa+bbbb-7000"), None);
    assert_eq!(id_millis("0192aaxa-bbbb-7000"), None);
}

#[test]
fn one_process_writes_a_records_file_at_a_time() {
    let lab = Lab::new();
    let first = lab.open();
    append(&first, &[&event(1, T0)], false).unwrap();
    // Another opening of the same file (as another process would): it reads, but may not write.
    let second = lab.open();
    let error = append(&second, &[&event(2, T0 + 1)], false).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.to_string().contains("another process"), "{error}");
    assert_eq!(
        second
            .list(&RequestFilter::default(), Page::NewestBefore(None), 10)
            .unwrap()
            .len(),
        1
    );
    drop(first);
    append(&second, &[&event(2, T0 + 1)], false).unwrap();
}

#[test]
fn a_write_past_its_deadline_is_given_up_unwritten() {
    let lab = Lab::new();
    let log = lab.open();
    let past = Instant::now() - std::time::Duration::from_millis(1);
    let error = append_by(&log, &[&event(1, T0)], false, Some(past)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(
        log.list(&RequestFilter::default(), Page::NewestBefore(None), 10)
            .unwrap()
            .is_empty()
    );
    let later = Instant::now() + std::time::Duration::from_secs(60);
    append_by(&log, &[&event(1, T0)], false, Some(later)).unwrap();
}

#[test]
fn a_segment_that_lost_its_tail_loses_only_those_blocks() {
    let lab = Lab::new();
    let (log, first, second) = two_blocks(&lab);
    // As after a power loss with the summary rows synced and the segment not.
    let path = lab.first_records_file();
    let length = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(length - 10)
        .unwrap();
    let listed = log
        .list(&RequestFilter::default(), Page::NewestBefore(None), 10)
        .unwrap();
    assert_eq!(listed, [without_bodies(&first)]);
    assert_eq!(log.get(&second.id).unwrap(), None);
    // A repeat of the lost record stores it again.
    append(&log, &[&second], true).unwrap();
    assert_eq!(log.get(&second.id).unwrap().as_ref(), Some(&second));
}
