//! Personal data: email addresses, phone numbers, payment cards (Luhn), US SSNs (SSA ranges),
//! IBANs (mod 97), IPv4 and IPv6 addresses.

use std::net::Ipv6Addr;
use std::ops::Range;
use std::sync::LazyLock;

use super::Kind;
use super::scan::{PatternSet, Spec};

static PATTERNS: LazyLock<PatternSet> = LazyLock::new(|| {
    PatternSet::builtin(vec![
        Spec::new(
            Kind::Email,
            r"(?i)[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b",
        )
        .check(email),
        // "jane [at] example [dot] com", "jane at example dot com".
        Spec::new(
            Kind::Email,
            r"(?i-u)\b[a-z0-9][a-z0-9._%+\-]{0,40}[ \t]{0,2}(?:\[at\]|\(at\)|\{at\}|<at>|[ \t]at[ \t])[ \t]{0,2}[a-z0-9][a-z0-9\-]{0,40}(?:[ \t]{0,2}(?:\[dot\]|\(dot\)|\{dot\}|<dot>|[ \t]dot[ \t]|\.)[ \t]{0,2}[a-z0-9][a-z0-9\-]{0,40}){0,2}[ \t]{0,2}(?:\[dot\]|\(dot\)|\{dot\}|<dot>|[ \t]dot[ \t]|\.)[ \t]{0,2}(?:[a-z]{2}|com|org|net|edu|gov|info|biz|dev|app|mail|name|tech|online|site|cloud|email|space|store|xyz)\b",
        )
        .check(obfuscated_email),
        // International: +<country> and groups of digits.
        Spec::new(
            Kind::Phone,
            r"\+[1-9][0-9]{0,3}(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,10})){1,7}",
        )
        .check(international_phone),
        // North American: (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199.
        Spec::new(
            Kind::Phone,
            r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|\b[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}\b",
        )
        .check(us_phone),
        // Any national format after a word that says it is a phone number.
        Spec::new(
            Kind::Phone,
            r"(?i-u)\b(?:phone|telephone|tel|mobile|cell|cellphone|fax|whatsapp|sms|text me|call me|ring me|reach me|mobil|handy|telefon|telefono|movil|celular|portable|cellulare)\b(?:[ \t]{1,3}(?:no|number|nr|num|at|on|me at|me on))?[ \t]{0,3}[.:#=]?[ \t]{0,3}(\+?\(?[0-9][0-9 ().\-]{5,18}[0-9])",
        )
        .group(1)
        .check(contextual_phone),
        Spec::new(Kind::CreditCard, r"\b[0-9](?:[ \-]?[0-9]){12,18}\b").check(card),
        Spec::new(
            Kind::Ssn,
            r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|\b[0-9]{3} [0-9]{2} [0-9]{4}\b",
        )
        .check(ssn),
        Spec::new(
            Kind::Ssn,
            r"(?i)\b(?:ssn|social security(?: number| no\.?| #)?|social)\b[^0-9\n]{0,12}?([0-9]{9})\b",
        )
        .group(1)
        .check(ssn),
        Spec::new(
            Kind::Iban,
            r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        )
        .check(iban),
        Spec::new(
            Kind::IpAddress,
            r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
        )
        .check(ipv4),
        Spec::new(
            Kind::IpAddress,
            r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z]{1,15})?",
        )
        .check(ipv6),
    ])
});

pub(crate) fn patterns() -> &'static PatternSet {
    &PATTERNS
}

fn before(hay: &str, at: usize) -> Option<char> {
    hay[..at].chars().next_back()
}

fn after(hay: &str, at: usize) -> Option<char> {
    hay[at..].chars().next()
}

fn email(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let text = &hay[m.clone()];
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    if local.ends_with('.') || local.contains("..") {
        return false;
    }
    let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    // Asset names like logo@2x.png, not addresses.
    const FILE_EXTENSIONS: [&str; 17] = [
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "map", "json", "lock",
        "yml", "yaml", "toml", "txt", "html",
    ];
    if FILE_EXTENSIONS.contains(&tld.as_str()) {
        return false;
    }
    // git@github.com:org/repo.git is an SSH remote.
    !(local.eq_ignore_ascii_case("git") && after(hay, m.end) == Some(':'))
}

fn obfuscated_email(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let text = hay[m].to_ascii_lowercase();
    let bracketed = ["[at]", "(at)", "{at}", "<at>"]
        .iter()
        .any(|t| text.contains(t));
    let spelled_dot = ["[dot]", "(dot)", "{dot}", "<dot>", " dot "]
        .iter()
        .any(|t| text.contains(t));
    // "sign up at example.com" is prose: a spelled-out "at" needs a spelled-out "dot" too.
    bracketed || spelled_dot
}

fn digits(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0')
}

fn international_phone(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let n = digits(&hay[m.clone()]).count();
    (8..=15).contains(&n)
        && !before(hay, m.start).is_some_and(|c| c.is_alphanumeric() || c == '+')
        && !after(hay, m.end).is_some_and(|c| c.is_ascii_digit())
}

fn us_phone(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let glued_before =
        before(hay, m.start).is_some_and(|c| c.is_alphanumeric() || "-./_+".contains(c));
    let continues =
        hay[m.end..].starts_with('-') && hay[m.end + 1..].starts_with(|c: char| c.is_ascii_digit());
    !glued_before && !continues
}

fn contextual_phone(hay: &str, _: Range<usize>, span: &mut Range<usize>) -> bool {
    let n = digits(&hay[span.clone()]).count();
    (7..=15).contains(&n)
}

/// The Luhn checksum of a digit sequence.
pub(crate) fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    let mut count = 0;
    for (i, d) in digits.rev().enumerate() {
        let mut d = u32::from(d);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 0 && sum.is_multiple_of(10)
}

/// Whether a digit string starts like a card of a network (Visa, Mastercard, Amex, Discover,
/// Diners, JCB, UnionPay, Maestro).
fn card_prefix(d: &[u8]) -> bool {
    let two = u32::from(d[0]) * 10 + u32::from(d[1]);
    let four = d[..4].iter().fold(0u32, |n, &x| n * 10 + u32::from(x));
    match d[0] {
        2 => (2221..=2720).contains(&four),
        3 => matches!(two, 30 | 34..=39),
        4..=6 => true,
        _ => false,
    }
}

/// A card number: 13 to 19 digits, one kind of separator, a network prefix and the Luhn
/// check. When the raw match runs into neighbouring numbers ("... 5972 04 27"), the longest
/// valid run of whole groups is reported.
fn card(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    if before(hay, m.start).is_some_and(|c| c == '.' || c == '-')
        || (hay[m.end..].starts_with(['.', '-'])
            && hay[m.end + 1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    // The digits of an IBAN ("DE28 5644 1737 ...") are not a card.
    let head = hay[..m.start].trim_end_matches([' ', '-']);
    let head = &head[head.len().saturating_sub(4)..];
    if head.len() == 4
        && head.as_bytes()[..2].iter().all(u8::is_ascii_uppercase)
        && head.as_bytes()[2..].iter().all(u8::is_ascii_digit)
        && head.len() < hay[..m.start].len()
    {
        return false;
    }
    let text = &hay[m.clone()];
    let separators: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if separators.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    // Groups of digits with their offsets in `text`.
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if !b.is_ascii_digit() {
            groups.push(start..i);
            start = i + 1;
        }
    }
    groups.push(start..text.len());
    let mut buf: Vec<u8> = Vec::with_capacity(19);
    for first in 0..groups.len() {
        for last in (first..groups.len()).rev() {
            buf.clear();
            buf.extend(digits(&text[groups[first].start..groups[last].end]));
            if (13..=19).contains(&buf.len()) && card_prefix(&buf) && luhn(buf.iter().copied()) {
                *span = m.start + groups[first].start..m.start + groups[last].end;
                return true;
            }
        }
    }
    false
}

/// The SSA's rules: no area 000, 666 or 900-999, no group 00, no serial 0000.
pub(crate) fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn ssn(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    if before(hay, span.start).is_some_and(|c| c == '-' || c == '.')
        || (hay[span.end..].starts_with(['-', '.'])
            && hay[span.end + 1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    let _ = m;
    let d: Vec<u32> = digits(&hay[span.clone()]).map(u32::from).collect();
    if d.len() != 9 {
        return false;
    }
    let num = |r: Range<usize>| d[r].iter().fold(0, |n, x| n * 10 + x);
    ssn_valid(num(0..3), num(3..5), num(5..9))
}

/// IBAN lengths by country (the SWIFT registry).
const IBAN_LENGTHS: [(&str, usize); 79] = [
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("SD", 18),
];

/// Whether `iban` (no spaces, upper case) has its country's length and passes mod 97.
pub(crate) fn iban_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    let Some(&(_, len)) = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == b.get(..2).unwrap_or(&[]))
    else {
        return false;
    };
    if b.len() != len
        || !b.iter().all(u8::is_ascii_alphanumeric)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Takes as many characters as the country's IBAN has (spaces between groups allowed), so an
/// upper-case word after the IBAN does not spoil it.
fn iban(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    let text = &hay[m.clone()];
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| text.starts_with(c)) else {
        return false;
    };
    let mut compact = String::with_capacity(len);
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' {
            continue;
        }
        compact.push(c);
        end = i + 1;
        if compact.len() == len {
            break;
        }
    }
    if compact.len() != len || !iban_valid(&compact) {
        return false;
    }
    // The IBAN must end at a word boundary.
    if after(hay, m.start + end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    *span = m.start..m.start + end;
    true
}

fn ipv4(hay: &str, m: Range<usize>, _: &mut Range<usize>) -> bool {
    let text = &hay[m.clone()];
    let octets: Vec<u8> = text.split('.').filter_map(|o| o.parse().ok()).collect();
    if octets.len() != 4 {
        return false;
    }
    // 0.0.0.0, 0.x, loopback, netmasks.
    if matches!(octets[0], 0 | 127 | 255) {
        return false;
    }
    if before(hay, m.start).is_some_and(|c| c.is_alphanumeric() || c == '.') {
        return false;
    }
    let rest = &hay[m.end..];
    let next_is =
        |prefix: char, f: fn(char) -> bool| rest.starts_with(prefix) && rest[1..].starts_with(f);
    // Longer dotted numbers (versions, OIDs), 10.0.0.1-beta, alphanumerics.
    if next_is('.', |c| c.is_ascii_digit())
        || next_is('-', |c| c.is_ascii_alphabetic())
        || rest.starts_with(|c: char| c.is_alphanumeric())
    {
        return false;
    }
    // A network, not a host: 10.20.0.0/16.
    if octets[3] == 0 && next_is('/', |c| c.is_ascii_digit()) {
        return false;
    }
    // "version 10.0.0.1", "release 4.2.1.7".
    let lookbehind =
        &hay[super::scan::floor_char_boundary(hay, m.start.saturating_sub(24))..m.start];
    let lookbehind = lookbehind.to_ascii_lowercase();
    !["version", "release", "firmware", "build", "ver.", " v."]
        .iter()
        .any(|w| lookbehind.contains(w))
}

fn ipv6(hay: &str, m: Range<usize>, span: &mut Range<usize>) -> bool {
    let text = &hay[m.clone()];
    let addr_text = text.split('%').next().unwrap_or(text);
    if addr_text.matches(':').count() < 2 || !addr_text.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(addr) = addr_text.parse::<Ipv6Addr>() else {
        return false;
    };
    if addr.is_unspecified() || addr.is_loopback() {
        return false;
    }
    if before(hay, m.start).is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '.') {
        return false;
    }
    let rest = &hay[m.end..];
    if rest.starts_with(|c: char| c.is_alphanumeric() || c == ':')
        || (rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    *span = m;
    true
}

#[cfg(test)]
mod tests {
    use super::super::scan::Sink;
    use super::*;

    /// The kinds and texts the PII patterns find in `text`, after merging duplicates.
    pub(crate) fn found(text: &str) -> Vec<(Kind, String)> {
        let mut sink = Sink::new(false);
        patterns().scan(text, 0, u64::MAX, &mut sink);
        let mut hits = sink.hits;
        super::super::scan::sort_hits(&mut hits);
        let mut out: Vec<(Kind, String)> = Vec::new();
        let mut last_end = 0;
        for h in hits {
            // Nested duplicates of one finding (two phone formats) are listed once.
            if h.span.start < last_end && out.last().is_some_and(|(k, _)| *k == h.kind) {
                continue;
            }
            last_end = h.span.end;
            out.push((h.kind, text[h.span].to_owned()));
        }
        out
    }

    #[test]
    fn luhn_checksums() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        for (number, valid) in [
            ("4692792516565972", true),
            ("378367642012246", true),
            ("4917763912985884", false),
            ("79927398713", true),
            ("79927398710", false),
            ("0", true),
        ] {
            assert_eq!(luhn(d(number).into_iter()), valid, "{number}");
        }
        assert!(!luhn(std::iter::empty()));
    }

    #[test]
    fn ssn_ranges() {
        for (area, group, serial, valid) in [
            (536, 22, 8147, true),
            (0, 12, 3456, false),
            (666, 24, 1187, false),
            (900, 1, 1, false),
            (999, 99, 9999, false),
            (899, 99, 9999, true),
            (412, 0, 5521, false),
            (519, 31, 0, false),
            (1, 1, 1, true),
        ] {
            assert_eq!(
                ssn_valid(area, group, serial),
                valid,
                "{area}-{group}-{serial}"
            );
        }
    }

    #[test]
    fn iban_checksums() {
        for (iban, valid) in [
            ("DE28564417377541110692", true),
            ("GB70NWBK42514039573566", true),
            ("NO9386011117947", true),
            ("MT84MALT011000012345MTLCAST001S", true),
            ("DE28564417377541110693", false), // checksum
            ("DE2856441737754111069", false),  // length
            ("XX28564417377541110692", false), // country
            ("DEAB564417377541110692", false), // check digits
            ("", false),
        ] {
            assert_eq!(iban_valid(iban), valid, "{iban}");
        }
    }

    #[test]
    fn detects_and_rejects() {
        use Kind::*;
        let cases: &[(&str, &[(Kind, &str)])] = &[
            // email
            (
                "mail ana.b+x@mail.example.org now",
                &[(Email, "ana.b+x@mail.example.org")],
            ),
            ("KEVIN@CONTOSO.COM", &[(Email, "KEVIN@CONTOSO.COM")]),
            (
                "lena [at] birchwood-labs [dot] com",
                &[(Email, "lena [at] birchwood-labs [dot] com")],
            ),
            (
                "hbrandt at posteo dot de",
                &[(Email, "hbrandt at posteo dot de")],
            ),
            ("sign up at example.com today", &[]),
            ("git@github.com:acme/infra.git", &[]),
            ("logo@2x.png", &[]),
            ("lodash@4.17.21 and @alice", &[]),
            ("root@localhost", &[]),
            // phone
            ("call (415) 555-0132 now", &[(Phone, "(415) 555-0132")]),
            ("1-800-555-0199", &[(Phone, "1-800-555-0199")]),
            ("+44 20 7946 0958", &[(Phone, "+44 20 7946 0958")]),
            ("+81-3-5555-0123", &[(Phone, "+81-3-5555-0123")]),
            ("phone: 020 7946 0321", &[(Phone, "020 7946 0321")]),
            ("tel:4155550176", &[(Phone, "4155550176")]),
            ("ISBN 978-0-13-468599-1", &[]),
            ("meeting ID 845 2201 9987", &[]),
            ("+12.5% and +3", &[]),
            ("2024-03-15 14:22:08", &[]),
            ("ZIP 94107-1234", &[]),
            // cards
            (
                "4692 7925 1656 5972, exp 04/27",
                &[(CreditCard, "4692 7925 1656 5972")],
            ),
            (
                "card 4692 7925 1656 5972 04 27",
                &[(CreditCard, "4692 7925 1656 5972")],
            ),
            ("3783 676420 12246", &[(CreditCard, "3783 676420 12246")]),
            (
                "5127-5344-9576-7654",
                &[(CreditCard, "5127-5344-9576-7654")],
            ),
            ("4917763912985884", &[]),    // Luhn
            ("1234567812345670", &[]),    // passes Luhn, no network starts with 1
            ("4692 7925-1656 5972", &[]), // mixed separators
            ("timestamps 1710512528 1710512529", &[]),
            // SSN
            ("SSN 536-22-8147", &[(Ssn, "536-22-8147")]),
            ("ssn 219 09 9999", &[(Ssn, "219 09 9999")]),
            ("social security no. 289472061", &[(Ssn, "289472061")]),
            (
                "000-12-3456 666-24-1187 912-44-8821 412-00-5521 519-31-0000",
                &[],
            ),
            ("id 289472061", &[]),
            // IBAN
            (
                "DE28 5644 1737 7541 1106 92.",
                &[(Iban, "DE28 5644 1737 7541 1106 92")],
            ),
            (
                "DE61186854312189007944 EUR",
                &[(Iban, "DE61186854312189007944")],
            ),
            ("DE28 5644 1737 7541 1106 93", &[]),
            // IP
            ("from 203.0.113.45:443", &[(IpAddress, "203.0.113.45")]),
            (
                "2001:db8:85a3::8a2e:370:7334",
                &[(IpAddress, "2001:db8:85a3::8a2e:370:7334")],
            ),
            (
                "fe80::1ff:fe23:4567:890a%eth0 up",
                &[(IpAddress, "fe80::1ff:fe23:4567:890a%eth0")],
            ),
            (
                "[2606:4700:4700::1111]:443",
                &[(IpAddress, "2606:4700:4700::1111")],
            ),
            ("0.0.0.0 127.0.0.1 ::1 255.255.255.0", &[]),
            ("version 10.0.0.1", &[]),
            ("OID 1.3.6.1.4.1.311.21.8", &[]),
            ("10.20.0.0/16", &[]),
            ("10.0.0.1-beta", &[]),
            ("12:34:56 3c:22:fb:9a:11:4e std::collections::HashMap", &[]),
        ];
        for (text, expected) in cases {
            let got = found(text);
            let expected: Vec<(Kind, String)> = expected
                .iter()
                .map(|(k, s)| (*k, (*s).to_owned()))
                .collect();
            assert_eq!(got, expected, "in {text:?}");
        }
    }
}
