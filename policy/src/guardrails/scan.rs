//! The scanning machinery shared by every detector: compiled pattern sets, hits, and the
//! *horizon* that tells a stream how much of its text is final.
//!
//! A scan looks at `hay[from..]`; `hay[..from]` is context only (look-behind for `\b` and for
//! checks). It reports hits whose raw match (the *extent*) starts at or after `from`, and a
//! horizon: every match that starts before the horizon is decided by `hay` alone, whatever text
//! follows. Two shapes of pattern make that cheap to know:
//!
//! - patterns that can never match whitespace (keys, emails, IP addresses): a match that starts
//!   before the last whitespace of `hay` has ended before it, so the horizon is the start of
//!   the trailing run of non-whitespace;
//! - patterns that can (phone numbers with spaces, context words): their matches have a
//!   bounded length, so the horizon is that length (plus a margin for look-ahead) before the
//!   end.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet, RegexSetBuilder};
use regex_syntax::hir::{Capture, Class, Hir, HirKind, Repetition};

use super::{Action, DetectorType, Encoding, Kind, Stage, Stages, injection};
use crate::when::{RequestFacts, When};

/// Extra bytes held back beyond a pattern's maximum length: `\b` and checks look at a few
/// characters after a match.
pub(crate) const MARGIN: usize = 16;

/// The longest match a pattern that can contain whitespace may have.
pub(crate) const MAX_WINDOW: usize = 1024;

/// A check on a regex match: `(hay, whole match, span)`; it may narrow `span` (the part that
/// is reported and redacted) and returns whether the match is a finding.
pub(crate) type Check = fn(&str, Range<usize>, &mut Range<usize>) -> bool;

/// One pattern as written.
pub(crate) struct Spec {
    kind: Kind,
    pattern: Cow<'static, str>,
    group: usize,
    check: Option<Check>,
}

impl Spec {
    pub(crate) const fn new(kind: Kind, pattern: &'static str) -> Self {
        Self {
            kind,
            pattern: Cow::Borrowed(pattern),
            group: 0,
            check: None,
        }
    }

    pub(crate) fn owned(kind: Kind, pattern: String) -> Self {
        Self {
            kind,
            pattern: Cow::Owned(pattern),
            group: 0,
            check: None,
        }
    }

    /// Reports capture group `group` instead of the whole match.
    pub(crate) const fn group(mut self, group: usize) -> Self {
        self.group = group;
        self
    }

    pub(crate) const fn check(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    kind: Kind,
    regex: Regex,
    group: usize,
    check: Option<Check>,
    shape: Shape,
}

/// How far a pattern's matches can reach, which is what a stream must hold back for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// It can match whitespace; its matches are at most this long.
    Window(usize),
    /// It never matches whitespace; its matches are at most this long, if bounded.
    NoSpace(Option<usize>),
}

/// Patterns compiled once, searched together.
#[derive(Debug, Clone)]
pub(crate) struct PatternSet {
    set: Option<RegexSet>,
    patterns: Vec<Pattern>,
}

impl PatternSet {
    /// Compiles built-in patterns: `\b` is the ASCII word boundary, which keeps the fast
    /// engines usable on any text.
    pub(crate) fn builtin(specs: Vec<Spec>) -> Self {
        let specs: Vec<Spec> = specs
            .into_iter()
            .map(|s| Spec {
                pattern: Cow::Owned(s.pattern.replace(r"\b", r"(?-u:\b)")),
                ..s
            })
            .collect();
        for spec in &specs {
            if let Err(e) = Self::new(vec![Spec::owned(spec.kind, spec.pattern.to_string())]) {
                panic!("built-in guardrail pattern {}: {e}", spec.pattern);
            }
        }
        match Self::new(specs) {
            Ok(set) => set,
            Err(e) => panic!("built-in guardrail patterns: {e}"),
        }
    }

    pub(crate) fn new(specs: Vec<Spec>) -> Result<Self, String> {
        assert!(specs.len() <= 64, "at most 64 patterns per set");
        let mut patterns = Vec::with_capacity(specs.len());
        for spec in &specs {
            let regex = regex::RegexBuilder::new(&spec.pattern)
                .size_limit(16 << 20)
                .dfa_size_limit(16 << 20)
                .build()
                .map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))?;
            let hir = regex_syntax::Parser::new()
                .parse(&spec.pattern)
                .map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))?;
            let props = hir.properties();
            if props.minimum_len() == Some(0) {
                return Err("the pattern can match empty text".into());
            }
            if spec.group >= regex.captures_len() {
                return Err(format!("no capture group {}", spec.group));
            }
            let max = props.maximum_len();
            let shape = if may_match_whitespace(&hir) {
                match max {
                    Some(max) if max <= MAX_WINDOW => Shape::Window(max),
                    _ => {
                        return Err(format!(
                            "the pattern can match more than {MAX_WINDOW} bytes including \
                             whitespace; bound its repetitions (e.g. {{1,64}} instead of + or *) \
                             or exclude whitespace (\\S instead of .)"
                        ));
                    }
                }
            } else {
                Shape::NoSpace(max)
            };
            patterns.push(Pattern {
                kind: spec.kind,
                regex,
                group: spec.group,
                check: spec.check,
                shape,
            });
        }
        let set = if specs.len() > 1 {
            Some(
                RegexSetBuilder::new(specs.iter().map(|s| s.pattern.as_ref()))
                    .size_limit(64 << 20)
                    .dfa_size_limit(64 << 20)
                    .build()
                    .map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))?,
            )
        } else {
            None
        };
        Ok(Self { set, patterns })
    }

    /// Reports the matches that start at or after `from` of the patterns whose kind is in
    /// `mask`.
    pub(crate) fn scan(&self, hay: &str, from: usize, mask: u64, sink: &mut Sink) {
        self.scan_with(hay, from, mask, sink, None);
    }

    /// Like [`PatternSet::scan`], reporting hits with `encoding`.
    pub(crate) fn scan_with(
        &self,
        hay: &str,
        from: usize,
        mask: u64,
        sink: &mut Sink,
        encoding: Option<Encoding>,
    ) {
        if from >= hay.len() {
            return;
        }
        let mut which = [false; 64];
        let which = &mut which[..self.patterns.len()];
        match &self.set {
            None => which[0] = true,
            Some(set) => {
                // Most text matches nothing: one leftmost pass (the fast loop) says so before
                // the overlapping pass, which is several times slower per byte.
                if !set.is_match_at(hay, from) || !set.matches_read_at(which, hay, from) {
                    return;
                }
            }
        }
        for (pattern, _) in self
            .patterns
            .iter()
            .zip(which.iter())
            .filter(|(p, hit)| **hit && p.kind.bit() & mask != 0)
        {
            pattern.scan(hay, from, sink, encoding);
        }
    }

    /// Where the scan of `hay` by the patterns whose kind is in `mask` stops being final (see
    /// the module docs).
    pub(crate) fn horizon(&self, hay: &str, eof: bool, mask: u64) -> usize {
        if eof {
            return hay.len();
        }
        let mut horizon = hay.len();
        let mut run = None;
        for pattern in self.patterns.iter().filter(|p| p.kind.bit() & mask != 0) {
            let bound = match pattern.shape {
                Shape::Window(max) => hay.len().saturating_sub(max + MARGIN),
                Shape::NoSpace(max) => {
                    let run = *run.get_or_insert_with(|| trailing_run_start(hay));
                    match max {
                        Some(max) => run.max(hay.len().saturating_sub(max + MARGIN)),
                        None => run,
                    }
                }
            };
            horizon = horizon.min(bound);
        }
        floor_char_boundary(hay, horizon)
    }

    /// Each pattern as compiled, for sets that combine several.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.regex.as_str())
    }

    /// The longest match of the patterns that can contain whitespace.
    pub(crate) fn window(&self) -> usize {
        self.patterns
            .iter()
            .map(|p| match p.shape {
                Shape::Window(max) => max,
                Shape::NoSpace(_) => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Each pattern's kind and shape, for tests.
    #[cfg(test)]
    pub(crate) fn shapes(&self) -> Vec<(Kind, Shape)> {
        self.patterns.iter().map(|p| (p.kind, p.shape)).collect()
    }
}

impl Pattern {
    fn scan(&self, hay: &str, from: usize, sink: &mut Sink, encoding: Option<Encoding>) {
        let mut at = from;
        if self.group == 0 {
            while let Some(m) = self.regex.find_at(hay, at) {
                let extent = m.range();
                self.report(hay, extent.clone(), extent.clone(), sink, encoding);
                at = next_start(hay, &extent);
                if at > hay.len() {
                    break;
                }
            }
        } else {
            let mut locations = self.regex.capture_locations();
            while let Some(m) = self.regex.captures_read_at(&mut locations, hay, at) {
                let extent = m.range();
                if let Some((start, end)) = locations.get(self.group) {
                    self.report(hay, extent.clone(), start..end, sink, encoding);
                } else {
                    sink.extent(extent.clone());
                }
                at = next_start(hay, &extent);
                if at > hay.len() {
                    break;
                }
            }
        }
    }

    fn report(
        &self,
        hay: &str,
        extent: Range<usize>,
        mut span: Range<usize>,
        sink: &mut Sink,
        encoding: Option<Encoding>,
    ) {
        sink.extent(extent.clone());
        if self
            .check
            .is_none_or(|check| check(hay, extent.clone(), &mut span))
            && !span.is_empty()
        {
            sink.hit(self.kind, span, extent, encoding);
        }
    }
}

fn next_start(hay: &str, m: &Range<usize>) -> usize {
    if m.end > m.start {
        m.end
    } else {
        m.end + hay[m.end..].chars().next().map_or(1, char::len_utf8)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a pattern can match any whitespace character.
fn may_match_whitespace(hir: &Hir) -> bool {
    // Every character with the White_Space property (what `char::is_whitespace` accepts).
    const WHITESPACE: [(char, char); 10] = [
        ('\t', '\r'),
        (' ', ' '),
        ('\u{85}', '\u{85}'),
        ('\u{a0}', '\u{a0}'),
        ('\u{1680}', '\u{1680}'),
        ('\u{2000}', '\u{200a}'),
        ('\u{2028}', '\u{2029}'),
        ('\u{202f}', '\u{202f}'),
        ('\u{205f}', '\u{205f}'),
        ('\u{3000}', '\u{3000}'),
    ];
    let overlaps = |lo: char, hi: char| WHITESPACE.iter().any(|&(a, b)| lo <= b && a <= hi);
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => String::from_utf8_lossy(&lit.0)
            .chars()
            .any(|c| overlaps(c, c)),
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().any(|r| overlaps(r.start(), r.end()))
        }
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .any(|r| r.end() >= 0x80 || overlaps(char::from(r.start()), char::from(r.end()))),
        HirKind::Repetition(rep) => may_match_whitespace(&rep.sub),
        HirKind::Capture(cap) => may_match_whitespace(&cap.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(may_match_whitespace),
    }
}

/// The start of the text's trailing run of non-whitespace characters.
pub(crate) fn trailing_run_start(hay: &str) -> usize {
    hay.char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8())
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One finding before it is tied to its rule's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: u32,
    pub kind: Kind,
    /// What is reported and redacted.
    pub span: Range<usize>,
    /// The raw match, context included; a stream never cuts inside it.
    pub extent: Range<usize>,
    pub encoding: Option<Encoding>,
}

/// Where scans put what they find.
pub(crate) struct Sink {
    pub rule: u32,
    pub hits: Vec<Hit>,
    /// Every raw match, found or rejected by its check, with its rule (streams only).
    pub extents: Option<Vec<(u32, Range<usize>)>>,
}

impl Sink {
    pub(crate) fn new(streaming: bool) -> Self {
        Self {
            rule: 0,
            hits: Vec::new(),
            extents: streaming.then(Vec::new),
        }
    }

    pub(crate) fn extent(&mut self, extent: Range<usize>) {
        if let Some(extents) = &mut self.extents {
            extents.push((self.rule, extent));
        }
    }

    pub(crate) fn hit(
        &mut self,
        kind: Kind,
        span: Range<usize>,
        extent: Range<usize>,
        encoding: Option<Encoding>,
    ) {
        self.hits.push(Hit {
            rule: self.rule,
            kind,
            span,
            extent,
            encoding,
        });
    }
}

/// Text order, then rule order; exact duplicates (two patterns of one rule finding the same
/// thing) are dropped.
pub(crate) fn sort_hits(hits: &mut Vec<Hit>) {
    hits.sort_by(|a, b| {
        (a.span.start, a.rule, a.span.end, a.kind).cmp(&(b.span.start, b.rule, b.span.end, b.kind))
    });
    hits.dedup_by(|b, a| a.rule == b.rule && a.span == b.span && a.kind == b.kind);
}

/// How a rule finds things.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// A built-in pattern set; `true` adds the private-key block scanner.
    Builtin(&'static PatternSet, bool),
    Injection {
        decode: bool,
    },
    Own(PatternSet),
}

impl Matcher {
    pub(crate) fn is_builtin(&self) -> bool {
        matches!(self, Self::Builtin(..))
    }
}

/// Every built-in pattern (PII, secrets, a private key's header) in one set. Text it does not
/// match holds nothing for any built-in rule, whatever kinds the rule reports: one leftmost
/// pass clears it for all of them, where each rule would make a pass of its own.
static BUILTIN_UNION: LazyLock<RegexSet> = LazyLock::new(|| {
    let sources = super::pii::patterns()
        .sources()
        .chain(super::secrets::patterns().sources())
        .chain([super::secrets::PEM_BEGIN.as_str()]);
    let sources = sources.map(widened);
    match RegexSetBuilder::new(sources)
        .size_limit(64 << 20)
        .dfa_size_limit(64 << 20)
        .build()
    {
        Ok(set) => set,
        Err(e) => panic!("built-in guardrail patterns together: {e}"),
    }
});

/// `pattern` with every upper bound of a repetition dropped (`{0,63}` becomes `*`): it matches
/// all that `pattern` matches — each part's language only grows — and its automaton needs no
/// state per count, so a scan of ordinary text touches far fewer states (a third less time
/// per chat call's bodies with cold caches, `cargo bench -p agenthub-policy --bench guardrails`).
fn widened(pattern: &str) -> String {
    fn widen(hir: &Hir) -> Hir {
        match hir.kind() {
            HirKind::Repetition(rep) => Hir::repetition(Repetition {
                min: rep.min,
                max: rep.max.filter(|&max| max <= 1),
                greedy: rep.greedy,
                sub: Box::new(widen(&rep.sub)),
            }),
            HirKind::Capture(cap) => Hir::capture(Capture {
                index: cap.index,
                name: cap.name.clone(),
                sub: Box::new(widen(&cap.sub)),
            }),
            HirKind::Concat(subs) => Hir::concat(subs.iter().map(widen).collect()),
            HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(widen).collect()),
            HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {
                hir.clone()
            }
        }
    }
    match regex_syntax::Parser::new().parse(pattern) {
        Ok(hir) => widen(&hir).to_string(),
        Err(e) => panic!("built-in guardrail pattern {pattern}: {e}"),
    }
}

/// Whether a built-in rule could find anything in `hay` (false: none can).
pub(crate) fn builtin_may_match(hay: &str) -> bool {
    BUILTIN_UNION.is_match(hay)
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: String,
    pub detector: DetectorType,
    pub action: Action,
    pub stages: Stages,
    pub when: When,
    pub message: Option<String>,
    /// The placeholder label of `banned_terms` and `regex` rules.
    pub label: String,
    /// The kinds this rule reports.
    pub mask: u64,
    pub allow: Vec<String>,
    pub matcher: Matcher,
}

impl Rule {
    pub(crate) fn applies(&self, stage: Stage, facts: &RequestFacts<'_>) -> bool {
        self.stages.includes(stage) && self.when.matches(facts)
    }

    pub(crate) fn placeholder(&self, kind: Kind) -> &str {
        match kind {
            Kind::Custom | Kind::BannedTerm => &self.label,
            kind => kind.label(),
        }
    }

    /// Scans `hay[from..]` as rule number `index`; returns the horizon.
    pub(crate) fn scan(
        &self,
        index: usize,
        hay: &str,
        from: usize,
        eof: bool,
        sink: &mut Sink,
    ) -> usize {
        sink.rule = index as u32;
        let first = sink.hits.len();
        let horizon = match &self.matcher {
            Matcher::Builtin(set, private_keys) => {
                set.scan(hay, from, self.mask, sink);
                let mut horizon = set.horizon(hay, eof, self.mask);
                if *private_keys && self.mask & Kind::PrivateKey.bit() != 0 {
                    horizon = horizon.min(super::secrets::scan_private_keys(hay, from, eof, sink));
                }
                horizon
            }
            Matcher::Injection { decode } => {
                injection::get().scan(hay, from, eof, *decode, self.mask, sink)
            }
            Matcher::Own(set) => {
                set.scan(hay, from, u64::MAX, sink);
                set.horizon(hay, eof, u64::MAX)
            }
        };
        if !self.allow.is_empty() {
            let mut kept = first;
            for i in first..sink.hits.len() {
                let value = &hay[sink.hits[i].span.clone()];
                if !self.allow.iter().any(|a| a.eq_ignore_ascii_case(value)) {
                    sink.hits.swap(kept, i);
                    kept += 1;
                }
            }
            sink.hits.truncate(kept);
        }
        horizon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each built-in pattern makes a stream hold back: whitespace-free patterns only their
    /// trailing word, the others their longest match.
    #[test]
    fn built_in_windows_are_modest() {
        let sets = [
            ("pii", super::super::pii::patterns()),
            ("secrets", super::super::secrets::patterns()),
        ];
        for (name, set) in sets {
            for (kind, shape) in set.shapes() {
                println!("{name:<8} {kind:<16} {shape:?}");
                if let Shape::Window(max) = shape {
                    assert!(max <= 256, "{kind}: {max}");
                }
            }
        }
        let shapes: Vec<Shape> = super::super::pii::patterns()
            .shapes()
            .into_iter()
            .filter(|(k, _)| *k == Kind::Email)
            .map(|(_, s)| s)
            .collect();
        assert!(matches!(shapes[0], Shape::NoSpace(None)));
        assert!(matches!(shapes[1], Shape::Window(_)));
    }

    /// The union drops upper bounds and nothing else: what a pattern matches, its widened form
    /// matches, and lower bounds still hold.
    #[test]
    fn widening_drops_upper_bounds_only() {
        let widened = Regex::new(&widened(r"\b[a-z]{2,4}-[0-9]{3}x?\b")).unwrap();
        for text in ["ab-123", "abcd-123x", "abcdefgh-123", "ab-1234567"] {
            assert!(widened.is_match(text), "{text}");
        }
        for text in ["a-123", "ab-12", "ab-123xx"] {
            assert!(!widened.is_match(text), "{text}");
        }
    }

    /// Ordinary text — a chat call's two bodies, prose — clears the union in its one pass, so
    /// recording bodies redacted costs no more than that pass.
    #[test]
    fn an_ordinary_chat_call_clears_the_union() {
        let request = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32,"temperature":0.2}"#;
        let answer = r#"{"id":"chatcmpl-9xYz","object":"chat.completion","created":1795809045,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20},"system_fingerprint":"fp_0ba0d124f1"}"#;
        let prose = "The quarterly report shows revenue growth in the northern region, driven \
            by renewals of the enterprise plan; summarise the main drivers at a high level.";
        for text in [request, answer, prose] {
            assert!(!builtin_may_match(text), "{text}");
        }
    }

    #[test]
    fn horizons() {
        let set = PatternSet::new(vec![
            Spec::new(Kind::Custom, r"ab+"),
            Spec::new(Kind::BannedTerm, r"x y"),
        ])
        .unwrap();
        let all = u64::MAX;
        // A whitespace-free pattern holds back the trailing word only.
        assert_eq!(set.horizon("hello abbb", false, Kind::Custom.bit()), 6);
        assert_eq!(set.horizon("hello abbb ", false, Kind::Custom.bit()), 11);
        // A pattern with whitespace holds back its longest match plus a margin.
        let long = "z".repeat(40);
        assert_eq!(
            set.horizon(&long, false, Kind::BannedTerm.bit()),
            40 - 3 - MARGIN
        );
        assert_eq!(set.horizon(&long, false, all), 0);
        assert_eq!(set.horizon(&long, true, all), 40);
        assert_eq!(trailing_run_start("a b\u{3000}cd"), 6);
        assert_eq!(floor_char_boundary("aé", 2), 1);
    }
}
