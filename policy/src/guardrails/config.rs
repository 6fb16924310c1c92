//! The rule configuration: typed, strict (`deny_unknown_fields`), checked as a whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scan::{Matcher, PatternSet, Rule, Spec};
use super::{Kind, Stage, pii, secrets};
use crate::when::When;

/// Which detector a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorType {
    /// Personal data: email addresses, phone numbers, payment cards, SSNs, IBANs, IP addresses.
    Pii,
    /// Credentials: cloud and API keys, tokens, private keys, passwords in URLs.
    Secrets,
    /// Instruction overrides, role hijacking, system prompt exfiltration, also encoded.
    PromptInjection,
    /// The rule's `terms`, as whole words, case-insensitive.
    BannedTerms,
    /// The rule's `pattern`.
    Regex,
}

impl DetectorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pii => "pii",
            Self::Secrets => "secrets",
            Self::PromptInjection => "prompt_injection",
            Self::BannedTerms => "banned_terms",
            Self::Regex => "regex",
        }
    }
}

/// What happens when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reject the request (input) or cut the response (output).
    Block,
    /// Replace the match with `[REDACTED:<LABEL>]` and let the text through.
    Redact,
    /// Let the text through unchanged and record the finding.
    Flag,
}

/// Which texts a rule inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stages {
    /// What callers send: prompts, tool arguments, messages to agents.
    Input,
    /// What comes back: completions, tool results, agents' replies.
    Output,
    #[default]
    Both,
}

impl Stages {
    pub fn includes(self, stage: Stage) -> bool {
        matches!(
            (self, stage),
            (Self::Both, _) | (Self::Input, Stage::Input) | (Self::Output, Stage::Output)
        )
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// One guardrail rule as configured.
///
/// The fields after `when` configure the detector; each applies to the types it names, and
/// setting it on another type is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name of the rule, shown in findings, block reasons and the audit log. Letters,
    /// digits, `-`, `_` and `.`.
    pub id: String,
    /// The detector: `pii`, `secrets`, `prompt_injection`, `banned_terms` or `regex`.
    #[serde(rename = "type")]
    pub detector: DetectorType,
    /// `block`, `redact` or `flag`.
    pub action: Action,
    /// `input`, `output` or `both` (the default).
    #[serde(default)]
    pub stage: Stages,
    /// Which requests the rule applies to (default: all). See [`When`].
    #[serde(default, skip_serializing_if = "is_default_when")]
    pub when: When,
    /// `pii`, `secrets`, `prompt_injection`: the kinds to detect; empty means all of the
    /// type's kinds. PII: `email`, `phone`, `credit_card`, `ssn`, `iban`, `ip_address`.
    /// Secrets: `aws_access_key`, `aws_secret_key`, `gcp_api_key`, `github_token`,
    /// `slack_token`, `slack_webhook`, `stripe_key`, `openai_key`, `anthropic_key`,
    /// `private_key`, `jwt`, `agenthub_key`, `password_in_url`, `basic_auth`,
    /// `generic_secret`. Prompt injection: `instruction_override`, `role_hijack`,
    /// `prompt_exfiltration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Kind>,
    /// `banned_terms`: the terms, matched as whole words, case-insensitive; spaces inside a
    /// term match any short run of whitespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// `regex`: the pattern, in Rust `regex` syntax. It must not match empty text, and a match
    /// that can contain whitespace must have a bounded length (at most 1024 bytes), so that
    /// streams know how much text to hold back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `banned_terms`, `regex`: the placeholder label, `[REDACTED:<label>]`; upper-case
    /// letters, digits and `_`. Default: `BANNED_TERM`, or the rule id in upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `prompt_injection`: decode base64, hex, URL-encoded, unicode-escaped and HTML-entity
    /// text and scan it again (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub decode: bool,
    /// Matched values that are never reported (compared ignoring ASCII case), e.g. your own
    /// support address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// What a blocked caller is told (default: the rule id and what was found, never the
    /// matched text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_default_when(when: &When) -> bool {
    *when == When::default()
}

impl RuleConfig {
    /// A rule with the detector's defaults: every kind, both stages, every request.
    pub fn new(id: impl Into<String>, detector: DetectorType, action: Action) -> Self {
        Self {
            id: id.into(),
            detector,
            action,
            stage: Stages::Both,
            when: When::default(),
            kinds: Vec::new(),
            terms: Vec::new(),
            pattern: None,
            label: None,
            decode: true,
            allow: Vec::new(),
            message: None,
        }
    }

    /// Checks this rule alone; `path` is its position, e.g. `guardrails[2]`.
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        self.compile(path, &mut problems);
        problems
    }

    pub(crate) fn compile(&self, path: &str, problems: &mut Vec<(String, String)>) -> Option<Rule> {
        let before = problems.len();
        let mut err = |field: &str, message: String| {
            let at = if field.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{field}")
            };
            problems.push((at, message));
        };
        let ty = self.detector;
        let applies =
            |field: &str, types: &[DetectorType], set: bool, err: &mut dyn FnMut(&str, String)| {
                if set && !types.contains(&ty) {
                    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                    err(
                        field,
                        format!(
                            "does not apply to type {} (only to {})",
                            ty.as_str(),
                            names.join(", ")
                        ),
                    );
                }
            };
        use DetectorType::*;
        applies(
            "kinds",
            &[Pii, Secrets, PromptInjection],
            !self.kinds.is_empty(),
            &mut err,
        );
        applies("terms", &[BannedTerms], !self.terms.is_empty(), &mut err);
        applies("pattern", &[Regex], self.pattern.is_some(), &mut err);
        applies(
            "label",
            &[BannedTerms, Regex],
            self.label.is_some(),
            &mut err,
        );
        applies("decode", &[PromptInjection], !self.decode, &mut err);
        for (i, kind) in self.kinds.iter().enumerate() {
            if matches!(ty, Pii | Secrets | PromptInjection) && kind.detector() != ty {
                err(
                    &format!("kinds[{i}]"),
                    format!("{kind} is not a {} kind", ty.as_str()),
                );
            }
        }
        if let Some(label) = &self.label
            && (label.is_empty()
                || !label
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        {
            err(
                "label",
                format!("\"{label}\" is not a label (upper-case letters, digits and _)"),
            );
        }
        for (i, value) in self.allow.iter().enumerate() {
            if value.trim().is_empty() {
                err(&format!("allow[{i}]"), "must not be empty".into());
            }
        }
        if self.message.as_deref().is_some_and(|m| m.trim().is_empty()) {
            err("message", "must not be empty".into());
        }
        for (field, message) in self.when.validate() {
            err(&format!("when.{field}"), message);
        }
        let matcher = match ty {
            Pii => Some(Matcher::Builtin(pii::patterns(), false)),
            Secrets => Some(Matcher::Builtin(secrets::patterns(), true)),
            PromptInjection => Some(Matcher::Injection {
                decode: self.decode,
            }),
            BannedTerms => {
                if self.terms.is_empty() {
                    err("terms", "must list at least one term".into());
                }
                let mut alternatives = Vec::new();
                for (i, term) in self.terms.iter().enumerate() {
                    match term_pattern(term) {
                        Ok(p) => alternatives.push(p),
                        Err(message) => err(&format!("terms[{i}]"), message),
                    }
                }
                if alternatives.is_empty() {
                    None
                } else {
                    let pattern = format!("(?i:{})", alternatives.join("|"));
                    match PatternSet::new(vec![Spec::owned(Kind::BannedTerm, pattern)]) {
                        Ok(set) => Some(Matcher::Own(set)),
                        Err(message) => {
                            err("terms", message);
                            None
                        }
                    }
                }
            }
            Regex => match &self.pattern {
                None => {
                    err("pattern", "required for type regex".into());
                    None
                }
                Some(pattern) => {
                    match PatternSet::new(vec![Spec::owned(Kind::Custom, pattern.clone())]) {
                        Ok(set) => Some(Matcher::Own(set)),
                        Err(message) => {
                            err("pattern", message);
                            None
                        }
                    }
                }
            },
        };
        if problems.len() > before {
            return None;
        }
        let mask = if self.kinds.is_empty() {
            Kind::ALL
                .iter()
                .filter(|k| k.detector() == ty)
                .fold(0, |m, k| m | k.bit())
        } else {
            self.kinds.iter().fold(0, |m, k| m | k.bit())
        };
        let label = match (&self.label, ty) {
            (Some(label), _) => label.clone(),
            (None, BannedTerms) => "BANNED_TERM".into(),
            (None, _) => self
                .id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect(),
        };
        Some(Rule {
            id: self.id.clone(),
            detector: ty,
            action: self.action,
            stages: self.stage,
            when: self.when.clone(),
            message: self.message.clone(),
            label,
            mask,
            allow: self.allow.clone(),
            matcher: matcher?,
        })
    }
}

/// The regex for one banned term: literal words, flexible whitespace, word boundaries at the
/// ends that are word characters.
fn term_pattern(term: &str) -> Result<String, String> {
    let words: Vec<&str> = term.split_whitespace().collect();
    if words.is_empty() {
        return Err("must not be empty".into());
    }
    if term.len() > 256 {
        return Err("longer than 256 bytes".into());
    }
    let body = words
        .iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join(r"\s{1,8}");
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let start = if is_word(term.trim().chars().next()) {
        r"\b"
    } else {
        ""
    };
    let end = if is_word(term.trim().chars().next_back()) {
        r"\b"
    } else {
        ""
    };
    Ok(format!("{start}{body}{end}"))
}

/// Ids: present, well-formed, unique.
pub(crate) fn check_ids(rules: &[RuleConfig], path: &str, problems: &mut Vec<(String, String)>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let id = rule.id.as_str();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            problems.push((
                format!("{path}[{i}].id"),
                format!("\"{id}\" is not a rule id (letters, digits, -, _ and .)"),
            ));
        } else if let Some(first) = seen.insert(id, i) {
            seen.insert(id, first);
            problems.push((
                format!("{path}[{i}].id"),
                format!("duplicate id \"{id}\" (also {path}[{first}])"),
            ));
        }
    }
}

/// Checks a whole list of rules; every problem comes with its path under `path`.
pub fn validate_rules(rules: &[RuleConfig], path: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    check_ids(rules, path, &mut problems);
    for (i, rule) in rules.iter().enumerate() {
        rule.compile(&format!("{path}[{i}]"), &mut problems);
    }
    problems
}

/// The rules agenthub runs when none are configured: PII and secrets are redacted both ways,
/// prompt injection is flagged on input.
pub fn default_rules() -> Vec<RuleConfig> {
    vec![
        RuleConfig::new("pii", DetectorType::Pii, Action::Redact),
        RuleConfig::new("secrets", DetectorType::Secrets, Action::Redact),
        RuleConfig {
            stage: Stages::Input,
            ..RuleConfig::new(
                "prompt-injection",
                DetectorType::PromptInjection,
                Action::Flag,
            )
        },
    ]
}
