//! Whether a resource template covers a URI: the hub must know which template a read falls
//! under, since permissions are granted on the template's name.
//!
//! Only the part of RFC 6570 that resource templates use in practice is understood, and kept
//! strict so that a read is never authorized by a template that does not cover it:
//!
//! - literal text must match exactly;
//! - `{var}` (simple expansion) matches one or more characters other than '/';
//! - `{+var}` (reserved expansion) matches one or more characters of any kind.
//!
//! A template with any other expression (`{?query}`, `{/path}`, `{#frag}`, `{.ext}`, `{;p}`,
//! `{&q}`, lists such as `{a,b}`, modifiers such as `{var:3}` or `{var*}`) or with an unpaired
//! brace matches nothing.
//!
//! Matching follows every way the expressions can split the URI at once (a set of reachable
//! positions per part), so it takes time linear in the URI per part, never backtracking.

/// One piece of a parsed template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'t> {
    Literal(&'t str),
    /// `{var}`
    Simple,
    /// `{+var}`
    Reserved,
}

/// Whether `template` covers `uri`.
pub fn matches(template: &str, uri: &str) -> bool {
    let Some(parts) = parse(template) else {
        return false;
    };
    let bytes = uri.as_bytes();
    let end = bytes.len();
    // reachable[p]: the parts so far can match exactly uri[..p].
    let mut reachable = vec![false; end + 1];
    reachable[0] = true;
    for part in parts {
        let mut next = vec![false; end + 1];
        match part {
            Part::Literal(literal) => {
                for (at, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
                    if bytes[at..].starts_with(literal.as_bytes()) {
                        next[at + literal.len()] = true;
                    }
                }
            }
            Part::Simple | Part::Reserved => {
                // Whether some reachable start lies before `at` with no '/' (for `{var}`)
                // between it and `at`.
                let mut open = false;
                for at in 0..=end {
                    if at > 0 {
                        if part == Part::Simple && bytes[at - 1] == b'/' {
                            open = false;
                        }
                        next[at] = open && uri.is_char_boundary(at);
                    }
                    open |= reachable[at];
                }
            }
        }
        reachable = next;
    }
    reachable[end]
}

/// The template's parts, or `None` if it uses what [`matches`] does not understand.
fn parse(template: &str) -> Option<Vec<Part<'_>>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                parts.push(Part::Literal(rest));
                break;
            }
            Some(at) => {
                if at > 0 {
                    parts.push(Part::Literal(&rest[..at]));
                }
                // A '}' before any '{' is unpaired.
                let expression = rest[at..].strip_prefix('{')?;
                let close = expression.find('}')?;
                let (reserved, name) = match expression[..close].strip_prefix('+') {
                    Some(name) => (true, name),
                    None => (false, &expression[..close]),
                };
                if !is_variable_name(name) {
                    return None;
                }
                parts.push(if reserved {
                    Part::Reserved
                } else {
                    Part::Simple
                });
                rest = &expression[close + 1..];
            }
        }
    }
    Some(parts)
}

/// RFC 6570's `varname`: letters, digits, '_', '.' (not first) and percent-encoded octets.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_what_they_cover() {
        // (template, uri, matches)
        let cases = [
            (
                "demo://resource/dynamic/text/{resourceId}",
                "demo://resource/dynamic/text/1",
                true,
            ),
            (
                "demo://resource/dynamic/text/{resourceId}",
                "demo://resource/dynamic/text/42",
                true,
            ),
            (
                "demo://resource/dynamic/text/{resourceId}",
                "demo://resource/dynamic/text/",
                false,
            ),
            (
                "demo://resource/dynamic/text/{resourceId}",
                "demo://resource/dynamic/text/1/2",
                false,
            ),
            (
                "demo://resource/dynamic/text/{resourceId}",
                "demo://resource/dynamic/blob/1",
                false,
            ),
            (
                "demo://resource/dynamic/text/{resourceId}",
                "xdemo://resource/dynamic/text/1",
                false,
            ),
            (
                "repo://{owner}/{name}/readme",
                "repo://acme/hub/readme",
                true,
            ),
            (
                "repo://{owner}/{name}/readme",
                "repo://acme/hub/readme/",
                false,
            ),
            ("repo://{owner}/{name}/readme", "repo://acme//readme", false),
            ("repo://{owner}/{name}/readme", "repo://a/b/c/readme", false),
            // Two expressions side by side split the text between them.
            ("x://{a}{b}", "x://ab", true),
            ("x://{a}{b}", "x://a", false),
            ("x://{a}-{b}", "x://a-b-c", true),
            ("file:///{+path}", "file:///srv/shared/a.txt", true),
            ("file:///{+path}", "file:///", false),
            ("file:///{+path}.md", "file:///docs/a/b.md", true),
            ("file:///{+path}.md", "file:///docs/a/b.txt", false),
            ("note://{id}", "note://é", true),
            ("note://{id}", "note://a%2Fb", true),
            ("plain://fixed", "plain://fixed", true),
            ("plain://fixed", "plain://fixed2", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (template, uri, expected) in cases {
            assert_eq!(matches(template, uri), expected, "{template} ~ {uri}");
        }
    }

    #[test]
    fn templates_using_more_than_the_subset_match_nothing() {
        for (template, uri) in [
            ("repo://{owner}{?ref}", "repo://acme?ref=main"),
            ("repo://{owner}{?ref}", "repo://acme"),
            ("x://{/path}", "x:///a"),
            ("x://{#frag}", "x://#a"),
            ("x://{a,b}", "x://1,2"),
            ("x://{a:3}", "x://abc"),
            ("x://{a*}", "x://abc"),
            ("x://{}", "x://a"),
            ("x://{a", "x://{a"),
            ("x://a}", "x://a}"),
            ("x://{.a}", "x://.a"),
        ] {
            assert!(!matches(template, uri), "{template} ~ {uri}");
        }
    }

    #[test]
    fn long_uris_are_matched_without_backtracking() {
        let template = "x://{a}{b}{c}{d}{e}{f}{g}{h}/end";
        let uri = format!("x://{}", "a".repeat(100_000));
        let started = std::time::Instant::now();
        assert!(!matches(template, &uri));
        assert!(matches(template, &format!("{uri}/end")));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
