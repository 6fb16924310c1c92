//! Redacting a streamed text (an LLM completion) across chunk boundaries.
//!
//! The redactor keeps the text it has not emitted yet. On every chunk it scans that text (with
//! some already-emitted text before it as look-behind context), asks every rule how far its
//! findings are final (the *horizon*: the start of the trailing word for patterns that cannot
//! span whitespace, the longest match before the end for those that can, an open private-key
//! block, …), pulls the cut back so that it never splits a raw match, and emits the redacted
//! text up to the cut. So the concatenation of everything emitted equals the one-shot
//! redaction of the whole text, however it was chunked, and what is held back is bounded by
//! the longest match a rule can have (a word, or a few hundred bytes; a private key block until
//! its end marker).
//!
//! A `block` finding is reported as soon as it is certain — final for its rule, with no blocking
//! rule able to find anything earlier — which is usually as soon as the match is complete,
//! before the text around it is final for redaction. The text before it that is already final
//! is emitted, nothing after, and the redactor emits nothing more.

use std::ops::Deref;

use super::scan::{Hit, Sink, sort_hits};
use super::{Action, Blocked, Finding, Guardrails, Stage};
use crate::when::RequestFacts;

/// How much emitted text is kept as look-behind context: at least this many bytes…
const CONTEXT_BYTES: usize = 256;
/// …and this many letters (so that whitespace or escapes cannot starve the normalizer)…
const CONTEXT_LETTERS: usize = 32;
/// …but never more than this.
const CONTEXT_MAX: usize = 8 * 1024;

/// What one call of [`StreamRedactor::push`] or [`StreamRedactor::finish`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamStep {
    /// Text that is safe to forward now (possibly empty).
    pub text: String,
    /// Set once a `block` rule has matched: forward `text`, then cut the stream.
    pub blocked: Option<Blocked>,
}

/// Redacts one streamed text; see the module documentation. Created by
/// [`Guardrails::stream`].
#[derive(Debug)]
pub struct StreamRedactor<G: Deref<Target = Guardrails>> {
    guardrails: G,
    rules: Vec<usize>,
    /// Emitted context (`..context`) followed by pending text.
    buf: String,
    context: usize,
    /// The stream offset of `buf[0]`.
    base: usize,
    findings: Vec<Finding>,
    blocked: Option<Blocked>,
}

impl<G: Deref<Target = Guardrails>> StreamRedactor<G> {
    pub fn new(guardrails: G, stage: Stage, facts: &RequestFacts<'_>) -> Self {
        let rules = guardrails.active(stage, facts);
        Self {
            guardrails,
            rules,
            buf: String::new(),
            context: 0,
            base: 0,
            findings: Vec::new(),
            blocked: None,
        }
    }

    /// Whether any rule applies; when none does, every chunk passes through unchanged.
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Adds a chunk; returns what can be forwarded now.
    pub fn push(&mut self, chunk: &str) -> StreamStep {
        if self.blocked.is_some() {
            return self.step(String::new());
        }
        if self.rules.is_empty() {
            self.base += chunk.len();
            return self.step(chunk.to_owned());
        }
        self.buf.push_str(chunk);
        self.process(false)
    }

    /// Ends the stream: returns the rest of the text.
    pub fn finish(&mut self) -> StreamStep {
        if self.blocked.is_some() || self.rules.is_empty() {
            return self.step(String::new());
        }
        self.process(true)
    }

    /// Every finding so far; spans are offsets into the whole streamed text.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    pub fn blocked(&self) -> Option<&Blocked> {
        self.blocked.as_ref()
    }

    /// How many bytes are held back, waiting for more text.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.context
    }

    fn step(&self, text: String) -> StreamStep {
        StreamStep {
            text,
            blocked: self.blocked.clone(),
        }
    }

    fn process(&mut self, eof: bool) -> StreamStep {
        let g = &*self.guardrails;
        let from = self.context;
        let mut sink = Sink::new(true);
        // Each rule's horizon; the text is final up to the smallest.
        let mut horizons = Vec::with_capacity(self.rules.len());
        for &i in &self.rules {
            horizons.push((i, g.rules[i].scan(i, &self.buf, from, eof, &mut sink)));
        }
        let extents = sink.extents.take().unwrap_or_default();
        // Never cut inside a raw match (of the given rule, or of any).
        let pull_back = |mut cut: usize, rule: Option<usize>| {
            if eof {
                return cut;
            }
            loop {
                let before = cut;
                for (r, e) in &extents {
                    if rule.is_none_or(|rule| *r as usize == rule) && e.start < cut && e.end > cut {
                        cut = e.start;
                    }
                }
                if cut == before {
                    return cut;
                }
            }
        };
        let global = horizons
            .iter()
            .map(|&(_, h)| h)
            .min()
            .unwrap_or(self.buf.len());
        let cut = pull_back(global.max(from), None);
        let mut hits = sink.hits;
        sort_hits(&mut hits);
        let blocked = self.certain_block(&hits, &horizons, &pull_back);
        let mut end = cut;
        if let Some(hit) = &blocked {
            end = end.min(hit.span.start);
            // Do not emit half of a redaction.
            loop {
                let before = end;
                for h in hits.iter().filter(|h| h.extent.start < cut) {
                    if g.rules[h.rule as usize].action == Action::Redact
                        && h.span.start < end
                        && h.span.end > end
                    {
                        end = h.span.start;
                    }
                }
                if end == before {
                    break;
                }
            }
        }
        let mut text = String::new();
        if end > from {
            let emitted: Vec<Hit> = hits
                .iter()
                .filter(|h| h.extent.start < cut && h.span.end <= end)
                .cloned()
                .collect();
            g.redact_into(&mut text, &self.buf, from..end, &emitted);
        }
        let base = self.base;
        self.findings.extend(
            hits.iter()
                .filter(|h| h.extent.start < cut || Some(*h) == blocked.as_ref())
                .map(|h| g.finding(h, base)),
        );
        if let Some(hit) = &blocked {
            self.blocked = g.blocked(std::slice::from_ref(hit), base);
        }
        if self.blocked.is_some() || eof {
            self.base += self.buf.len();
            self.buf.clear();
            self.context = 0;
        } else {
            let keep = context_start(&self.buf, cut);
            self.buf.drain(..keep);
            self.base += keep;
            self.context = cut - keep;
        }
        self.step(text)
    }

    /// The earliest blocking hit, once it is certain: final for its rule, and no blocking rule
    /// can still find anything that starts earlier. (That can be well before the text around it
    /// is final for redaction.)
    fn certain_block(
        &self,
        hits: &[Hit],
        horizons: &[(usize, usize)],
        pull_back: &dyn Fn(usize, Option<usize>) -> usize,
    ) -> Option<Hit> {
        let g = &*self.guardrails;
        let blocking: Vec<(usize, usize)> = horizons
            .iter()
            .filter(|(r, _)| g.rules[*r].action == Action::Block)
            .map(|&(r, h)| (r, pull_back(h.max(self.context), Some(r))))
            .collect();
        let cut_of = |rule: usize| blocking.iter().find(|(r, _)| *r == rule).map(|(_, c)| *c);
        let first = hits
            .iter()
            .filter(|h| cut_of(h.rule as usize).is_some_and(|cut| h.extent.start < cut))
            .min_by_key(|h| (h.span.start, h.rule))?;
        blocking
            .iter()
            .all(|&(_, cut)| cut > first.span.start)
            .then(|| first.clone())
    }
}

/// Where the look-behind context kept before `cut` starts.
fn context_start(buf: &str, cut: usize) -> usize {
    let mut letters = 0;
    for (i, c) in buf[..cut].char_indices().rev() {
        if c.is_alphabetic() {
            letters += 1;
        }
        let len = cut - i;
        if (len >= CONTEXT_BYTES && letters >= CONTEXT_LETTERS) || len >= CONTEXT_MAX {
            return i;
        }
    }
    0
}

#[cfg(test)]
mod tests;
