//! Credentials: cloud and API keys, tokens, private keys, passwords in URLs.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::Kind;
use super::normalize::decode_base64;
use super::scan::{MARGIN, PatternSet, Sink, Spec, floor_char_boundary};

static PATTERNS: LazyLock<PatternSet> = LazyLock::new(|| {
    PatternSet::builtin(vec![
        Spec::new(
            Kind::AwsAccessKey,
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",
        ),
        // 40 characters of base64 after a name that says what they are.
        Spec::new(
            Kind::AwsSecretKey,
            r#"(?i-u)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key|aws_secret)["']?(?:[ \t]{0,3}(?:=>|[:=])[ \t]{0,3}|[ \t]{1,3})["']?([A-Za-z0-9/+]{40})"#,
        )
        .group(1)
        .check(aws_secret),
        Spec::new(Kind::GcpApiKey, r"\bAIza[0-9A-Za-z_\-]{35}").check(ends_token),
        Spec::new(Kind::GithubToken, r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}\b"),
        Spec::new(Kind::GithubToken, r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
        Spec::new(Kind::SlackToken, r"\bxox[abprse]-[A-Za-z0-9\-]{10,250}").check(slack_token),
        Spec::new(Kind::SlackToken, r"\bxapp-[0-9]-[A-Za-z0-9\-]{10,250}").check(slack_token),
        Spec::new(
            Kind::SlackWebhook,
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,200}",
        ),
        Spec::new(Kind::StripeKey, r"\b(?:sk|rk)_live_[A-Za-z0-9]{10,247}\b"),
        Spec::new(
            Kind::OpenaiKey,
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,300}",
        )
        .check(openai_key),
        Spec::new(
            Kind::AnthropicKey,
            r"\bsk-ant-(?:api|admin|oat|sid)[0-9]{2}-[A-Za-z0-9_\-]{20,300}",
        )
        .check(ends_token),
        Spec::new(
            Kind::Jwt,
            r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
        )
        .check(jwt),
        Spec::new(Kind::AgenthubKey, r"\bahk_[A-Za-z0-9]{40}\b"),
        Spec::new(
            Kind::PasswordInUrl,
            r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://[^\s/:@]{1,128}:([^\s/@]{1,256})@[^\s/@]",
        )
        .group(1)
        .check(url_password),
        Spec::new(
            Kind::BasicAuth,
            r"(?i-u)\bbasic[ \t]{1,3}([A-Za-z0-9+/]{8,200}={0,2})",
        )
        .group(1)
        .check(basic_auth),
        // "the password for the VPN is Tr0ub4dor&3"
        Spec::new(
            Kind::GenericSecret,
            r#"(?i-u:\b(?:password|passwd|passcode|passphrase|pwd)\b(?:[ \t]{1,3}(?:for|to|of|on)[ \t]{1,3}(?:the[ \t]{1,3}|my[ \t]{1,3}|our[ \t]{1,3})?[A-Za-z0-9_.\-]{1,30})?["']?[ \t]{0,3}(?:is|was|=|:|=>)[ \t]{0,3}["'`]?)([!-~&&[^"'`]]{6,64})"#,
        )
        .group(1)
        .check(password),
        Spec::new(
            Kind::GenericSecret,
            r#"(?i-u)\b(?:api[_\- ]?key|api[_\- ]?secret|access[_\- ]?token|auth[_\- ]?token|secret[_\- ]?key|client[_\- ]?secret|private[_\- ]?token|bearer)["']?[ \t]{0,3}(?:=>|[:=])?[ \t]{0,3}["']?([A-Za-z0-9_\-+/=.~]{16,200})"#,
        )
        .group(1)
        .check(generic_secret),
    ])
});

pub(crate) fn patterns() -> &'static PatternSet {
    &PATTERNS
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The key must not continue: a longer token is something else.
fn ends_token(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    !hay[span.end..].starts_with(token_char)
}

fn classes(s: &str) -> (bool, bool, bool) {
    (
        s.bytes().any(|b| b.is_ascii_lowercase()),
        s.bytes().any(|b| b.is_ascii_uppercase()),
        s.bytes().any(|b| b.is_ascii_digit()),
    )
}

fn aws_secret(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    let key = &hay[span.clone()];
    let (lower, upper, digit) = classes(key);
    !hay[span.end..].starts_with(|c: char| c.is_ascii_alphanumeric() || "/+=".contains(c))
        && [lower, upper, digit].iter().filter(|x| **x).count() >= 2
}

/// Placeholders like xoxb-your-bot-token-here are documentation.
fn slack_token(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    hay[m].bytes().filter(u8::is_ascii_digit).count() >= 8 && ends_token(hay, 0..0, span)
}

fn openai_key(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    let key = &hay[m];
    if key.starts_with("sk-ant-") || !ends_token(hay, 0..0, span) {
        return false;
    }
    let (lower, upper, digit) = classes(&key[3..]);
    lower && upper && digit
}

fn jwt(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let header = hay[m].split('.').next().unwrap_or("");
    decode_base64(header.as_bytes()).is_some_and(|h| {
        let h = String::from_utf8_lossy(&h);
        h.starts_with('{') && (h.contains("\"alg\"") || h.contains("\"typ\""))
    })
}

const PLACEHOLDERS: [&str; 8] = [
    "password", "passwd", "pass", "secret", "changeme", "xxx", "***", "...",
];

fn url_password(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    let password = &hay[span.clone()];
    !(PLACEHOLDERS
        .iter()
        .any(|p| password.eq_ignore_ascii_case(p))
        || password.starts_with(['$', '<', '{', '%'])
        || password.chars().all(|c| c == '*' || c == 'x' || c == 'X'))
}

fn basic_auth(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    decode_base64(hay[span.clone()].as_bytes())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| {
            s.split_once(':').is_some_and(|(user, password)| {
                !user.is_empty() && !password.is_empty() && s.chars().all(|c| !c.is_control())
            })
        })
}

/// A password after words that say so: it must look like one (two kinds of characters, not a
/// placeholder or a masked value).
fn password(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    let value = hay[span.clone()].trim_end_matches(['.', ',', ';', ')']);
    span.end = span.start + value.len();
    let lower = value.to_ascii_lowercase();
    if value.len() < 6
        || PLACEHOLDERS.iter().any(|p| lower == *p)
        || [
            "your", "<", "${", "{{", "***", "xxx", "required", "optional", "string",
        ]
        .iter()
        .any(|p| lower.contains(p))
    {
        return false;
    }
    let (l, u, d) = classes(value);
    let symbol = value.chars().any(|c| !c.is_alphanumeric());
    [l, u, d, symbol].iter().filter(|x| **x).count() >= 2
}

fn generic_secret(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    let value = &hay[span.clone()];
    // Formats with their own detector.
    const KNOWN: [&str; 15] = [
        "eyJ",
        "ghp_",
        "gho_",
        "ghs_",
        "ghu_",
        "ghr_",
        "github_pat_",
        "xox",
        "sk-",
        "sk_live_",
        "rk_live_",
        "AKIA",
        "ASIA",
        "AIza",
        "ahk_",
    ];
    if KNOWN.iter().any(|p| value.starts_with(p)) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    if [
        "your",
        "xxxx",
        "example",
        "placeholder",
        "token",
        "redacted",
        "<",
        "${",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return false;
    }
    let (lower, upper, digit) = classes(value);
    digit && (lower || upper) && value.len() >= 16
}

pub(crate) static PEM_BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----").expect("valid")
});
static PEM_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----").expect("valid")
});
const PEM_HEADER_MAX: usize = 80;
/// How far after its header a private key's end marker is looked for (a 8192-bit RSA key is
/// about 6.5 KB).
const PEM_MAX: usize = 16 * 1024;

/// Private key blocks, from `-----BEGIN … PRIVATE KEY-----` to the matching end marker; a
/// block without one (truncated) runs to the end of its base64 body. Returns the horizon: an
/// open block holds the stream back until its end marker arrives or 16 KB have passed.
pub(crate) fn scan_private_keys(hay: &str, from: usize, eof: bool, sink: &mut Sink) -> usize {
    let mut horizon = if eof {
        hay.len()
    } else {
        floor_char_boundary(hay, hay.len().saturating_sub(PEM_HEADER_MAX + MARGIN))
    };
    let mut at = from;
    while at < hay.len() {
        let Some(begin) = PEM_BEGIN.find_at(hay, at) else {
            break;
        };
        let limit = begin.end() + PEM_MAX;
        let complete = eof || hay.len() >= limit;
        let window = &hay[begin.end()..floor_char_boundary(hay, limit.min(hay.len()))];
        let extent = match PEM_END.find(window) {
            Some(end) => begin.start()..begin.end() + end.end(),
            None if complete => {
                let body = window
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || "+/=".contains(c) || c.is_ascii_whitespace())
                    })
                    .unwrap_or(window.len());
                let body = window[..body].trim_end();
                let chars = body.bytes().filter(|b| !b.is_ascii_whitespace()).count();
                if chars < 32 {
                    // A header quoted in prose.
                    sink.extent(begin.range());
                    at = begin.end();
                    continue;
                }
                begin.start()..begin.end() + body.len()
            }
            None => {
                horizon = horizon.min(begin.start());
                break;
            }
        };
        sink.extent(extent.clone());
        sink.hit(Kind::PrivateKey, extent.clone(), extent.clone(), None);
        at = extent.end;
    }
    horizon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Kind, String)> {
        let mut sink = Sink::new(false);
        patterns().scan(text, 0, u64::MAX, &mut sink);
        scan_private_keys(text, 0, true, &mut sink);
        let mut hits = sink.hits;
        super::super::scan::sort_hits(&mut hits);
        hits.into_iter()
            .map(|h| (h.kind, text[h.span].to_owned()))
            .collect()
    }

    const KEY40: &str = "dbDEBzUSmyx2WkNXv25jdcg3P4seovBtmvlIkliF";

    #[test]
    fn detects_and_rejects() {
        use Kind::*;
        let gh = format!("ghp_{}", "aB3".repeat(12));
        let pat = format!("github_pat_{}", "Zx9_".repeat(20));
        let slack = "xoxb-562008863345-0968103643370-Qs8zEtDeeISuu9U379AvQ8f7";
        let openai = "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";
        let anthropic = format!("sk-ant-api03-{}AA", "gjBoCCSJal1-Fzz347L97M5rJ".repeat(4));
        let ahk = format!("ahk_{}", "49SxLbbsZz".repeat(4));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz";
        let cases: Vec<(String, Vec<(Kind, String)>)> = vec![
            ("id AKIABAPDEJ7RP8RDFJF2 end".into(), vec![(AwsAccessKey, "AKIABAPDEJ7RP8RDFJF2".into())]),
            ("AKIA and 20 chars".into(), vec![]),
            (format!("aws_secret_access_key = {KEY40}"), vec![(AwsSecretKey, KEY40.into())]),
            (format!(r#""SecretAccessKey": "{KEY40}""#), vec![(AwsSecretKey, KEY40.into())]),
            (format!("aws_secret_access_key = {KEY40}X"), vec![]),
            ("aws_secret_access_key = ****************************************".into(), vec![]),
            ("key=AIzalw28d33NIUrqAuqAyODeAtTzmOetHMRcKe2".into(), vec![(GcpApiKey, "AIzalw28d33NIUrqAuqAyODeAtTzmOetHMRcKe2".into())]),
            (format!("token {gh}"), vec![(GithubToken, gh.clone())]),
            (pat.clone(), vec![(GithubToken, pat.clone())]),
            ("your ghp_ token".into(), vec![]),
            (format!("SLACK={slack}"), vec![(SlackToken, slack.into())]),
            ("xoxb-your-bot-token-here".into(), vec![]),
            ("https://hooks.slack.com/services/T0ABCDEFGH/B0ABCDEFGH/abcdefghijklmnopqrstuvwx".into(),
             vec![(SlackWebhook, "https://hooks.slack.com/services/T0ABCDEFGH/B0ABCDEFGH/abcdefghijklmnopqrstuvwx".into())]),
            ("sk_live_O8Hgba22zIzBjGEnU3GPnLqW".into(), vec![(StripeKey, "sk_live_O8Hgba22zIzBjGEnU3GPnLqW".into())]),
            ("pk_live_O8Hgba22zIzBjGEnU3GPnLqW".into(), vec![]),
            (format!("OPENAI_API_KEY={openai}"), vec![(OpenaiKey, openai.into())]),
            ("scikit-learn aka sk-learn, sk-my-very-long-kebab-case-identifier".into(), vec![]),
            (anthropic.clone(), vec![(AnthropicKey, anthropic.clone())]),
            ("the sk-ant- prefix".into(), vec![]),
            (format!("Bearer {jwt}"), vec![(Jwt, jwt.into())]),
            ("eyJhbGciOiJIUzI1NiJ9 alone".into(), vec![]),
            (ahk.clone(), vec![(AgenthubKey, ahk.clone())]),
            ("postgres://billing:Qx7!rT2mZp9w@db.internal:5432/billing".into(), vec![(PasswordInUrl, "Qx7!rT2mZp9w".into())]),
            ("postgres://user:password@localhost/db".into(), vec![]),
            ("Authorization: Basic ZGVwbG95LWJvdDpjb3JyZWN0IGhvcnNl".into(), vec![(BasicAuth, "ZGVwbG95LWJvdDpjb3JyZWN0IGhvcnNl".into())]),
            ("basic authentication is configured".into(), vec![]),
            ("api_key: 9f2c41d07be84a6c93d15e0a7b2f8c11".into(), vec![(GenericSecret, "9f2c41d07be84a6c93d15e0a7b2f8c11".into())]),
            ("api_key: YOUR_API_KEY_GOES_HERE_123".into(), vec![]),
            ("token: string (required)".into(), vec![]),
        ];
        for (text, expected) in cases {
            assert_eq!(found(&text), expected, "in {text:?}");
        }
    }

    #[test]
    fn private_key_blocks() {
        let body = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1BjP5CE/Wm/Rr500P\n";
        let block = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----");
        let text = format!("key:\n{block}\nthanks");
        assert_eq!(found(&text), vec![(Kind::PrivateKey, block.clone())]);
        // Truncated: the body is still a key.
        let cut = format!("-----BEGIN PRIVATE KEY-----\n{body}(truncated)");
        assert_eq!(
            found(&cut),
            vec![(
                Kind::PrivateKey,
                format!("-----BEGIN PRIVATE KEY-----\n{}", body.trim_end())
            )]
        );
        // Public keys and certificates are not secrets; a header quoted in prose is not a key.
        assert!(found("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----").is_empty());
        assert!(found("files start with -----BEGIN PRIVATE KEY----- and then base64").is_empty());
        // A stream waits for the end marker.
        let mut sink = Sink::new(true);
        let open = format!("ok -----BEGIN EC PRIVATE KEY-----\n{}", body.repeat(3));
        assert_eq!(scan_private_keys(&open, 0, false, &mut sink), 3);
        assert!(sink.hits.is_empty());
    }
}
