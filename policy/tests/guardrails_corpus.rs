//! The default guardrails against a labeled corpus of realistic traffic
//! (`data/guardrails_corpus.jsonl`: one `{"text", "pii", "injection", "note"}` per line, written
//! for this project, with near-misses on purpose). Prints precision, recall and false-positive
//! rate per category, and every miss and false alarm, so that detector changes can be judged.

use std::collections::BTreeMap;

use agenthub_policy::guardrails::{DetectorType, Guardrails, Stage};
use agenthub_policy::when::{Plane, RequestFacts};
use agenthub_policy::{GlobalRole, Identity, Scopes, SubjectKind};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    text: String,
    pii: bool,
    injection: bool,
    note: String,
}

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Counts {
    fn add(&mut self, expected: bool, predicted: bool) {
        match (expected, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn fpr(&self) -> f64 {
        self.fp as f64 / (self.fp + self.tn).max(1) as f64
    }
}

#[test]
fn default_detectors_on_the_corpus() {
    let rows: Vec<Row> = include_str!("data/guardrails_corpus.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("corpus line {}: {e}", i + 1))
        })
        .collect();
    let identity = Identity {
        principal_id: None,
        name: "corpus".into(),
        kind: SubjectKind::User,
        key_id: None,
        key_team: None,
        teams: Vec::new(),
        role: GlobalRole::Member,
        scopes: Scopes::default_for_new_key(),
        claims: Default::default(),
    };
    let metadata = BTreeMap::new();
    let facts = RequestFacts {
        identity: &identity,
        plane: Plane::Llm,
        model: Some("gpt-4o"),
        tool: None,
        agent: None,
        metadata: &metadata,
    };
    let guardrails = Guardrails::defaults();

    let (mut pii, mut injection) = (Counts::default(), Counts::default());
    // The same, per batch: rows written before the detectors, then three held-out batches
    // (notes ending in "holdout", "holdout2", "holdout3"), each written after a detector
    // version and first measured before any change made for it.
    let mut batches: BTreeMap<&str, (Counts, Counts)> = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    // Recall by the note's first word (e.g. "pii:email", "inj:encoded").
    let mut by_note: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let verdict = guardrails.inspect(&row.text, Stage::Input, &facts);
        let found = |d: &[DetectorType]| verdict.findings.iter().any(|f| d.contains(&f.detector));
        let got_pii = found(&[DetectorType::Pii, DetectorType::Secrets]);
        let got_injection = found(&[DetectorType::PromptInjection]);
        pii.add(row.pii, got_pii);
        injection.add(row.injection, got_injection);
        let batch = ["holdout3", "holdout2", "holdout"]
            .into_iter()
            .find(|b| row.note.ends_with(b))
            .unwrap_or("dev");
        let counts = batches.entry(batch).or_default();
        counts.0.add(row.pii, got_pii);
        counts.1.add(row.injection, got_injection);
        let group = row.note.split_whitespace().next().unwrap_or("").to_owned();
        let entry = by_note.entry(group).or_default();
        entry.0 += 1;
        if row.pii == got_pii && row.injection == got_injection {
            entry.1 += 1;
        }
        for (category, expected, got) in [
            ("pii", row.pii, got_pii),
            ("injection", row.injection, got_injection),
        ] {
            if expected != got {
                let what = if expected { "MISS" } else { "FALSE ALARM" };
                let kinds: Vec<String> = verdict
                    .findings
                    .iter()
                    .map(|f| format!("{}:{:?}", f.kind, &row.text[f.span.clone()]))
                    .collect();
                errors.push(format!(
                    "  line {:>3} {what:<11} {category:<9} [{}] {:?} {kinds:?}",
                    i + 1,
                    row.note,
                    row.text.chars().take(100).collect::<String>(),
                ));
            }
        }
    }

    println!(
        "corpus: {} rows, {} PII-positive, {} injection-positive",
        rows.len(),
        pii.tp + pii.fn_,
        injection.tp + injection.fn_
    );
    for (name, c) in [("pii", &pii), ("injection", &injection)] {
        println!(
            "{name:<10} precision {:.3}  recall {:.3}  false-positive rate {:.3}  (tp {} fp {} fn {} tn {})",
            c.precision(),
            c.recall(),
            c.fpr(),
            c.tp,
            c.fp,
            c.fn_,
            c.tn
        );
    }
    println!("by batch (recall / false-positive rate):");
    for (batch, (p, i)) in &batches {
        println!(
            "  {batch:<9} pii {:.3} / {:.3} ({} pos)   injection {:.3} / {:.3} ({} pos)",
            p.recall(),
            p.fpr(),
            p.tp + p.fn_,
            i.recall(),
            i.fpr(),
            i.tp + i.fn_
        );
    }
    println!("rows fully right, by note:");
    for (note, (total, right)) in &by_note {
        println!("  {note:<12} {right:>3}/{total:<3}");
    }
    println!("errors:");
    for e in &errors {
        println!("{e}");
    }

    assert!(rows.len() >= 300, "the corpus has {} rows", rows.len());
    assert!(pii.tp + pii.fn_ >= 120 && injection.tp + injection.fn_ >= 80);
    assert!(pii.recall() >= 0.95, "PII recall {:.3}", pii.recall());
    assert!(
        pii.fpr() <= 0.02,
        "PII false-positive rate {:.3}",
        pii.fpr()
    );
    assert!(
        injection.recall() >= 0.85,
        "injection recall {:.3}",
        injection.recall()
    );
    assert!(
        injection.fpr() <= 0.05,
        "injection false-positive rate {:.3}",
        injection.fpr()
    );
}

/// `cargo test --release -p agenthub-policy --test guardrails_corpus -- --ignored --nocapture`
/// Inspecting a 4 KB prompt with the default rules must take well under a millisecond.
#[test]
#[ignore = "timing; run in release"]
fn inspect_4kb_prompt_timing() {
    use std::time::Instant;
    let paragraph = "Please review the following incident summary and draft a reply to the \
        customer. The outage began at 14:02 UTC when the primary database failed over; requests \
        from the EU region timed out for about eleven minutes. Logs show retries from the API \
        gateway and a spike in 503 responses. Contact the on-call engineer, Priya, at \
        priya.raman@example.com or (415) 555-0132 if anything is unclear. ";
    let mut prompt = String::new();
    while prompt.len() < 4096 {
        prompt.push_str(paragraph);
        prompt.push_str("fn retry(n: u32) -> Result<(), Error> { backoff(n * 2) }\n");
    }
    prompt.truncate(4096);
    let identity = Identity {
        principal_id: None,
        name: "bench".into(),
        kind: SubjectKind::User,
        key_id: None,
        key_team: None,
        teams: Vec::new(),
        role: GlobalRole::Member,
        scopes: Scopes::default_for_new_key(),
        claims: Default::default(),
    };
    let metadata = BTreeMap::new();
    let facts = RequestFacts {
        identity: &identity,
        plane: Plane::Llm,
        model: Some("gpt-4o"),
        tool: None,
        agent: None,
        metadata: &metadata,
    };
    let g = Guardrails::defaults();
    let clean: String = prompt.replace("priya.raman@example.com", "the on-call alias");
    for (name, text) in [("with PII", prompt.as_str()), ("clean", clean.as_str())] {
        for _ in 0..50 {
            std::hint::black_box(g.inspect(text, Stage::Input, &facts));
        }
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(g.inspect(text, Stage::Input, &facts));
        }
        let per_call = start.elapsed() / n;
        println!("4 KB prompt ({name}), default rules: {per_call:?} per inspection");
        for rule in agenthub_policy::guardrails::default_rules() {
            let id = rule.id.clone();
            let one = Guardrails::from_rules(vec![rule]).unwrap();
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(one.inspect(text, Stage::Input, &facts));
            }
            println!("  {id:<18} {:?}", start.elapsed() / n);
        }
        if !cfg!(debug_assertions) {
            assert!(per_call.as_micros() < 1000, "{per_call:?}");
        }
    }
}
