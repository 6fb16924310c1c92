//! Guardrails: detectors that look at the text flowing through the hub — prompts, completions,
//! MCP tool arguments and results, A2A message parts — and block it, redact parts of it, or
//! flag it for the audit trail.
//!
//! A [`Guardrails`] value is compiled once from a list of [`RuleConfig`]s (every regular
//! expression is built at that moment, never per request) and is then shared by every request.
//! It answers three questions:
//!
//! - [`Guardrails::inspect`]: one text, one stage → a [`Verdict`] (blocked or not, the redacted
//!   text, every [`Finding`]).
//! - [`Guardrails::inspect_json`]: every string inside a JSON value (MCP tool arguments and
//!   results, A2A parts), redacted in place.
//! - [`Guardrails::stream`]: a [`StreamRedactor`] for streamed completions that redacts across
//!   chunk boundaries, holding back only as much text as could still become a match.
//!
//! # Rules
//!
//! Every rule has an `id`, a detector `type`, an `action` (`block`, `redact` or `flag`), a
//! `stage` (`input`, `output` or `both`, the default) and an optional [`when`](crate::when)
//! condition. The fields that configure the detector depend on its type. One example per type:
//!
//! ```yaml
//! guardrails:
//!   # Personal data. `kinds` narrows the detectors (default: all of them):
//!   # email, phone, credit_card, ssn, iban, ip_address.
//!   - id: pii
//!     type: pii
//!     action: redact            # "[REDACTED:EMAIL]", "[REDACTED:CREDIT_CARD]", ...
//!     allow: [support@example.com]
//!
//!   # Credentials: cloud and API keys, tokens, private keys. `kinds` as above, e.g.
//!   # aws_access_key, github_token, private_key, jwt, agenthub_key (default: all).
//!   - id: secrets
//!     type: secrets
//!     action: block
//!     message: Credentials must not be sent to models; use the secret store.
//!
//!   # Prompt injection: instruction overrides, role hijacking, system prompt exfiltration,
//!   # also when base64/hex/url/unicode-escaped, leetspeak or hidden with invisible characters.
//!   - id: prompt-injection
//!     type: prompt_injection
//!     action: block
//!     stage: input
//!     kinds: [instruction_override, role_hijack, prompt_exfiltration]
//!     decode: true              # decode encoded payloads and scan them again (default)
//!
//!   # Banned terms: whole words, case-insensitive.
//!   - id: codenames
//!     type: banned_terms
//!     terms: [project falcon, bluebird]
//!     action: redact
//!     label: CODENAME           # "[REDACTED:CODENAME]" (default BANNED_TERM)
//!
//!   # Custom regular expression (Rust `regex` syntax).
//!   - id: ticket-numbers
//!     type: regex
//!     pattern: '\bINC-[0-9]{6,10}\b'
//!     label: TICKET             # default: the id in upper case
//!     action: flag
//!     stage: output
//!     when:
//!       tools: ["jira/*"]
//! ```
//!
//! [`Guardrails::from_rules`] checks the whole list and reports every problem with its path,
//! e.g. `guardrails[2].pattern: invalid regex: …`.
//!
//! # Detection
//!
//! Findings carry byte spans into the inspected text. Overlapping redactions are merged into one
//! placeholder (the earliest finding's label). The block verdict names the earliest blocking
//! finding. Detectors are tuned for precision on real traffic: payment cards must pass the Luhn
//! check and carry a card-network prefix, IBANs the mod-97 check and their country's length,
//! SSNs the SSA ranges; loopback, unspecified and netmask IP addresses, network addresses with a
//! prefix length and version-like dotted numbers are not reported; key formats need their exact
//! shape (and context, for AWS secret keys and generic secrets).
//!
//! Prompt-injection patterns run on a normalized copy of the text (lower case, accents,
//! homoglyphs and full-width letters folded, invisible characters dropped, leetspeak and
//! escape sequences decoded, letters spaced out joined) whose offsets map back to the original.

mod config;
mod injection;
mod json;
mod normalize;
mod pii;
mod scan;
mod secrets;
mod stream;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::when::RequestFacts;

pub use config::{Action, DetectorType, RuleConfig, Stages, default_rules, validate_rules};
pub use json::{JsonFinding, JsonVerdict};
pub use stream::{StreamRedactor, StreamStep};

use scan::{Hit, Rule, Sink};

/// Where in a request's life a text is inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// What the caller sends: a prompt, tool arguments, a message to an agent.
    Input,
    /// What comes back: a completion, a tool result, an agent's reply.
    Output,
}

/// What exactly a detector found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    // PII
    Email,
    Phone,
    CreditCard,
    Ssn,
    Iban,
    IpAddress,
    // Secrets
    AwsAccessKey,
    AwsSecretKey,
    GcpApiKey,
    GithubToken,
    SlackToken,
    SlackWebhook,
    StripeKey,
    OpenaiKey,
    AnthropicKey,
    PrivateKey,
    Jwt,
    AgenthubKey,
    PasswordInUrl,
    BasicAuth,
    GenericSecret,
    // Prompt injection
    InstructionOverride,
    RoleHijack,
    PromptExfiltration,
    // Configured
    BannedTerm,
    Custom,
}

impl Kind {
    pub const ALL: [Kind; 26] = [
        Kind::Email,
        Kind::Phone,
        Kind::CreditCard,
        Kind::Ssn,
        Kind::Iban,
        Kind::IpAddress,
        Kind::AwsAccessKey,
        Kind::AwsSecretKey,
        Kind::GcpApiKey,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::SlackWebhook,
        Kind::StripeKey,
        Kind::OpenaiKey,
        Kind::AnthropicKey,
        Kind::PrivateKey,
        Kind::Jwt,
        Kind::AgenthubKey,
        Kind::PasswordInUrl,
        Kind::BasicAuth,
        Kind::GenericSecret,
        Kind::InstructionOverride,
        Kind::RoleHijack,
        Kind::PromptExfiltration,
        Kind::BannedTerm,
        Kind::Custom,
    ];

    /// The detector type this kind belongs to.
    pub fn detector(self) -> DetectorType {
        use Kind::*;
        match self {
            Email | Phone | CreditCard | Ssn | Iban | IpAddress => DetectorType::Pii,
            AwsAccessKey | AwsSecretKey | GcpApiKey | GithubToken | SlackToken | SlackWebhook
            | StripeKey | OpenaiKey | AnthropicKey | PrivateKey | Jwt | AgenthubKey
            | PasswordInUrl | BasicAuth | GenericSecret => DetectorType::Secrets,
            InstructionOverride | RoleHijack | PromptExfiltration => DetectorType::PromptInjection,
            BannedTerm => DetectorType::BannedTerms,
            Custom => DetectorType::Regex,
        }
    }

    /// The configuration name, e.g. `credit_card`.
    pub fn as_str(self) -> &'static str {
        use Kind::*;
        match self {
            Email => "email",
            Phone => "phone",
            CreditCard => "credit_card",
            Ssn => "ssn",
            Iban => "iban",
            IpAddress => "ip_address",
            AwsAccessKey => "aws_access_key",
            AwsSecretKey => "aws_secret_key",
            GcpApiKey => "gcp_api_key",
            GithubToken => "github_token",
            SlackToken => "slack_token",
            SlackWebhook => "slack_webhook",
            StripeKey => "stripe_key",
            OpenaiKey => "openai_key",
            AnthropicKey => "anthropic_key",
            PrivateKey => "private_key",
            Jwt => "jwt",
            AgenthubKey => "agenthub_key",
            PasswordInUrl => "password_in_url",
            BasicAuth => "basic_auth",
            GenericSecret => "generic_secret",
            InstructionOverride => "instruction_override",
            RoleHijack => "role_hijack",
            PromptExfiltration => "prompt_exfiltration",
            BannedTerm => "banned_term",
            Custom => "custom",
        }
    }

    /// The placeholder label, e.g. `CREDIT_CARD` in `[REDACTED:CREDIT_CARD]`.
    pub fn label(self) -> &'static str {
        use Kind::*;
        match self {
            Email => "EMAIL",
            Phone => "PHONE",
            CreditCard => "CREDIT_CARD",
            Ssn => "SSN",
            Iban => "IBAN",
            IpAddress => "IP_ADDRESS",
            AwsAccessKey => "AWS_ACCESS_KEY",
            AwsSecretKey => "AWS_SECRET_KEY",
            GcpApiKey => "GCP_API_KEY",
            GithubToken => "GITHUB_TOKEN",
            SlackToken => "SLACK_TOKEN",
            SlackWebhook => "SLACK_WEBHOOK",
            StripeKey => "STRIPE_KEY",
            OpenaiKey => "OPENAI_KEY",
            AnthropicKey => "ANTHROPIC_KEY",
            PrivateKey => "PRIVATE_KEY",
            Jwt => "JWT",
            AgenthubKey => "AGENTHUB_KEY",
            PasswordInUrl => "PASSWORD",
            BasicAuth => "BASIC_AUTH",
            GenericSecret => "SECRET",
            InstructionOverride => "PROMPT_INJECTION",
            RoleHijack => "PROMPT_INJECTION",
            PromptExfiltration => "PROMPT_INJECTION",
            BannedTerm => "BANNED_TERM",
            Custom => "CUSTOM",
        }
    }

    /// A short description for block reasons and logs. Never contains the matched text.
    pub fn description(self) -> &'static str {
        use Kind::*;
        match self {
            Email => "an email address",
            Phone => "a phone number",
            CreditCard => "a payment card number",
            Ssn => "a US social security number",
            Iban => "an IBAN",
            IpAddress => "an IP address",
            AwsAccessKey => "an AWS access key id",
            AwsSecretKey => "an AWS secret access key",
            GcpApiKey => "a Google API key",
            GithubToken => "a GitHub token",
            SlackToken => "a Slack token",
            SlackWebhook => "a Slack webhook URL",
            StripeKey => "a Stripe secret key",
            OpenaiKey => "an OpenAI API key",
            AnthropicKey => "an Anthropic API key",
            PrivateKey => "a private key",
            Jwt => "a JSON web token",
            AgenthubKey => "an agenthub API key",
            PasswordInUrl => "a password in a URL",
            BasicAuth => "HTTP basic credentials",
            GenericSecret => "a secret value",
            InstructionOverride => "an attempt to override instructions",
            RoleHijack => "an attempt to hijack the assistant's role",
            PromptExfiltration => "an attempt to extract the system prompt",
            BannedTerm => "a banned term",
            Custom => "a match of a custom pattern",
        }
    }

    pub(crate) fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a prompt-injection finding was hidden, when it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Base64,
    Hex,
    UrlEncoding,
    UnicodeEscape,
    HtmlEntity,
    Leetspeak,
    /// Zero-width, soft hyphen, word joiner or Unicode tag characters.
    Invisible,
    /// Look-alike letters from other scripts, or full-width forms.
    Homoglyph,
    /// Letters separated by spaces.
    SpacedLetters,
}

/// One match of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub detector: DetectorType,
    pub kind: Kind,
    pub action: Action,
    /// Byte offsets into the inspected text (for a stream: into everything pushed so far).
    pub span: Range<usize>,
    /// For prompt injection: how the payload was hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

/// Why a text was blocked: the earliest finding of a rule whose action is `block`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub rule_id: String,
    pub detector: DetectorType,
    pub kind: Kind,
    pub span: Range<usize>,
    /// Safe to show the caller: the rule's `message`, or a description that never quotes the
    /// matched text.
    pub reason: String,
}

/// The outcome of inspecting one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// Set when a `block` rule matched; the caller must not forward the text.
    pub blocked: Option<Blocked>,
    /// The text with every `redact` finding replaced by `[REDACTED:<LABEL>]`; borrowed when
    /// nothing was redacted.
    pub text: Cow<'a, str>,
    /// Every finding of every action, in text order.
    pub findings: Vec<Finding>,
}

impl Verdict<'_> {
    pub fn is_blocked(&self) -> bool {
        self.blocked.is_some()
    }

    /// Whether the text was changed.
    pub fn is_redacted(&self) -> bool {
        matches!(self.text, Cow::Owned(_))
    }

    /// The findings of `flag` rules.
    pub fn flags(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.action == Action::Flag)
    }
}

/// A compiled, immutable set of guardrail rules. Cheap to share (`Arc`) and to clone.
#[derive(Debug, Clone, Default)]
pub struct Guardrails {
    rules: Vec<Rule>,
    /// With two built-in rules or more, text is first cleared for all of them at once.
    clear_builtins_together: bool,
}

impl Guardrails {
    /// Compiles the rules. Every problem is reported with its path, e.g.
    /// `("guardrails[2].pattern", "invalid regex: …")`.
    pub fn from_rules(rules: Vec<RuleConfig>) -> Result<Self, Vec<(String, String)>> {
        Self::from_rules_at(rules, "guardrails")
    }

    /// Like [`Guardrails::from_rules`], with the paths under `path` (e.g. `llm.guardrails`).
    pub fn from_rules_at(
        rules: Vec<RuleConfig>,
        path: &str,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        config::check_ids(&rules, path, &mut problems);
        let compiled: Vec<Rule> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| rule.compile(&format!("{path}[{i}]"), &mut problems))
            .collect();
        if problems.is_empty() {
            let builtins = compiled.iter().filter(|r| r.matcher.is_builtin()).count();
            Ok(Self {
                rules: compiled,
                clear_builtins_together: builtins >= 2,
            })
        } else {
            Err(problems)
        }
    }

    /// The rules of [`default_rules`]: PII and secrets redacted both ways, prompt injection
    /// flagged on input.
    pub fn defaults() -> Self {
        Self::from_rules(default_rules()).expect("the default rules are valid")
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// Whether any rule applies to this stage and request; when none does, callers can skip
    /// inspection (and streams can be forwarded untouched).
    pub fn applies(&self, stage: Stage, facts: &RequestFacts<'_>) -> bool {
        self.rules.iter().any(|r| r.applies(stage, facts))
    }

    /// Inspects one text.
    pub fn inspect<'a>(
        &self,
        text: &'a str,
        stage: Stage,
        facts: &RequestFacts<'_>,
    ) -> Verdict<'a> {
        self.inspect_with(
            text,
            (0..self.rules.len()).filter(|&i| self.rules[i].applies(stage, facts)),
        )
    }

    /// Inspects `text` with the rules numbered `rules`.
    fn inspect_with<'a>(&self, text: &'a str, rules: impl Iterator<Item = usize>) -> Verdict<'a> {
        let mut sink = Sink::new(false);
        let mut builtins_clear = None;
        for i in rules {
            let rule = &self.rules[i];
            if self.clear_builtins_together
                && rule.matcher.is_builtin()
                && *builtins_clear.get_or_insert_with(|| !scan::builtin_may_match(text))
            {
                continue;
            }
            rule.scan(i, text, 0, true, &mut sink);
        }
        self.verdict(text, sink.hits)
    }

    /// The rules that apply to a stage and request.
    fn active(&self, stage: Stage, facts: &RequestFacts<'_>) -> Vec<usize> {
        (0..self.rules.len())
            .filter(|&i| self.rules[i].applies(stage, facts))
            .collect()
    }

    /// Inspects every string in `value` (object keys too), redacting in place.
    pub fn inspect_json(
        &self,
        value: &mut serde_json::Value,
        stage: Stage,
        facts: &RequestFacts<'_>,
    ) -> JsonVerdict {
        json::inspect(self, value, stage, facts)
    }

    /// A redactor for one streamed text (e.g. a completion). `guardrails` may be `&Guardrails`
    /// or an `Arc<Guardrails>`; the rules that apply are chosen now, from `stage` and `facts`.
    pub fn stream<G>(guardrails: G, stage: Stage, facts: &RequestFacts<'_>) -> StreamRedactor<G>
    where
        G: std::ops::Deref<Target = Guardrails>,
    {
        StreamRedactor::new(guardrails, stage, facts)
    }

    fn verdict<'a>(&self, text: &'a str, mut hits: Vec<Hit>) -> Verdict<'a> {
        if hits.is_empty() {
            return Verdict {
                blocked: None,
                text: Cow::Borrowed(text),
                findings: Vec::new(),
            };
        }
        scan::sort_hits(&mut hits);
        let blocked = self.blocked(&hits, 0);
        let redacted = hits
            .iter()
            .any(|h| self.rules[h.rule as usize].action == Action::Redact);
        let text = if redacted {
            let mut out = String::with_capacity(text.len());
            self.redact_into(&mut out, text, 0..text.len(), &hits);
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        };
        let findings = hits.iter().map(|h| self.finding(h, 0)).collect();
        Verdict {
            blocked,
            text,
            findings,
        }
    }

    /// The earliest blocking hit (hits are sorted), with offsets shifted by `base`.
    fn blocked(&self, hits: &[Hit], base: usize) -> Option<Blocked> {
        let hit = hits
            .iter()
            .find(|h| self.rules[h.rule as usize].action == Action::Block)?;
        let rule = &self.rules[hit.rule as usize];
        Some(Blocked {
            rule_id: rule.id.clone(),
            detector: rule.detector,
            kind: hit.kind,
            span: hit.span.start + base..hit.span.end + base,
            reason: rule.message.clone().unwrap_or_else(|| {
                format!(
                    "blocked by guardrail \"{}\": {}",
                    rule.id,
                    hit.kind.description()
                )
            }),
        })
    }

    fn finding(&self, hit: &Hit, base: usize) -> Finding {
        let rule = &self.rules[hit.rule as usize];
        Finding {
            rule_id: rule.id.clone(),
            detector: rule.detector,
            kind: hit.kind,
            action: rule.action,
            span: hit.span.start + base..hit.span.end + base,
            encoding: hit.encoding,
        }
    }

    /// Appends `text[region]` to `out` with the `redact` hits (sorted, inside `region`)
    /// replaced by placeholders; overlapping hits become one placeholder.
    fn redact_into(&self, out: &mut String, text: &str, region: Range<usize>, hits: &[Hit]) {
        let mut at = region.start;
        let mut current: Option<(Range<usize>, &str)> = None;
        let flush = |out: &mut String, at: &mut usize, span: Range<usize>, label: &str| {
            out.push_str(&text[*at..span.start]);
            out.push_str("[REDACTED:");
            out.push_str(label);
            out.push(']');
            *at = span.end;
        };
        for hit in hits {
            let rule = &self.rules[hit.rule as usize];
            if rule.action != Action::Redact {
                continue;
            }
            match &mut current {
                Some((span, _)) if hit.span.start < span.end => {
                    span.end = span.end.max(hit.span.end);
                }
                _ => {
                    if let Some((span, label)) = current.take() {
                        flush(out, &mut at, span, label);
                    }
                    current = Some((hit.span.clone(), rule.placeholder(hit.kind)));
                }
            }
        }
        if let Some((span, label)) = current {
            flush(out, &mut at, span, label);
        }
        out.push_str(&text[at..region.end]);
    }
}

#[cfg(test)]
mod tests;
