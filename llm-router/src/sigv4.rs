//! AWS Signature Version 4 for request headers, as AWS documents it ("Create a signed AWS API
//! request") and as its published test suite checks it: canonical request, string to sign,
//! derived signing key, `Authorization` header. Pure: the caller gives the time.
//!
//! The path is the one sent on the wire (already percent-encoded where it must be) and is
//! encoded once more for the canonical request, as every service but S3 expects: a Bedrock
//! model id `…-v1:0` travels as `…-v1%3A0` and is signed as `…-v1%253A0`. Paths are not
//! normalized (no `.`/`..` segments, no repeated slashes): callers build them without those.
//! The payload hash is not sent as `x-amz-content-sha256` (only S3 needs that header), unless
//! asked.

use std::time::SystemTime;

use ring::{digest, hmac};

/// AWS credentials. Never logged.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

/// The parts of an HTTP request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The `host` header as the HTTP client sends it (`bedrock-runtime.us-east-1.amazonaws.com`,
    /// with `:port` only for a non-default port).
    pub host: &'a str,
    /// The path as sent on the wire, percent-encoded (`/model/a%3A0/converse`).
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Further headers to sign (`host`, `x-amz-date` and `x-amz-security-token` always are).
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Where the signature is valid.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    /// The signing name: `bedrock` for Bedrock Runtime.
    pub service: &'a str,
}

/// A signature and the headers that carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Headers to add to the request: `x-amz-date`, `x-amz-security-token` with temporary
    /// credentials, `x-amz-content-sha256` if asked, and `authorization`.
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    /// Lowercase hex.
    pub signature: String,
}

/// Signs `request` at `time`. With `content_sha256_header`, the payload hash is also sent (and
/// signed) as `x-amz-content-sha256`.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    scope: &Scope<'_>,
    time: SystemTime,
    content_sha256_header: bool,
) -> Signature {
    let (date, timestamp) = amz_date(time);
    let payload_hash = hex(digest::digest(&digest::SHA256, request.payload).as_ref());

    let mut added: Vec<(String, String)> = vec![("x-amz-date".to_owned(), timestamp.clone())];
    if let Some(token) = credentials.session_token {
        added.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    if content_sha256_header {
        added.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
    }
    let mut headers: Vec<(String, String)> = vec![("host".to_owned(), request.host.to_owned())];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    headers.extend(added.iter().cloned());
    let (canonical_headers, signed_headers) = canonical_headers(&headers);

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{timestamp}\n{credential_scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );

    let key = signing_key(credentials.secret_access_key, &date, scope);
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    added.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, \
             Signature={signature}",
            credentials.access_key_id
        ),
    ));
    Signature {
        headers: added,
        canonical_request,
        string_to_sign,
        signature,
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, scope: &Scope<'_>) -> hmac::Key {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, scope.region, scope.service, "aws4_request"] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes());
        key = tag.as_ref().to_vec();
    }
    hmac::Key::new(hmac::HMAC_SHA256, &key)
}

/// Lowercase names, values trimmed with inner runs of spaces collapsed, sorted by name, values
/// of a repeated name joined by commas. Returns the block and the signed-headers list.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut sorted: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    // Stable: values of a repeated header keep their order.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut block = String::new();
    let mut names: Vec<&str> = Vec::new();
    for (name, value) in &sorted {
        if names.last() == Some(&name.as_str()) {
            block.pop();
            block.push(',');
        } else {
            names.push(name);
            block.push_str(name);
            block.push(':');
        }
        block.push_str(value);
        block.push('\n');
    }
    (block, names.join(";"))
}

/// The wire path encoded once more (every byte but unreserved characters and `/`).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len() + 8);
    for &byte in path.as_bytes() {
        if byte == b'/' {
            out.push('/');
        } else {
            encode_byte(byte, &mut out);
        }
    }
    out
}

/// Parameters encoded and sorted by name, then value.
fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 defines it: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`
/// (uppercase hex), `/` included.
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        encode_byte(byte, &mut out);
    }
    out
}

fn encode_byte(byte: u8, out: &mut String) {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
        out.push(byte as char);
    } else {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.push('%');
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
}

/// (`YYYYMMDD`, `YYYYMMDDTHHMMSSZ`) in UTC. Times before 1970 sign as 1970-01-01.
fn amz_date(time: SystemTime) -> (String, String) {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let date = format!("{year:04}{month:02}{day:02}");
    let timestamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    (date, timestamp)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // In range by construction (1..=12, 1..=31).
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    fn suite_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    const SUITE: Credentials<'static> = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: None,
    };

    const SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        service: "service",
    };

    fn request<'a>(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            host: "example.amazonaws.com",
            path,
            query: &[],
            headers: &[],
            payload: b"",
        }
    }

    fn authorization(signature: &Signature) -> &str {
        &signature
            .headers
            .iter()
            .find(|(name, _)| name == "authorization")
            .unwrap()
            .1
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(
            amz_date(suite_time()),
            ("20150830".to_owned(), "20150830T123600Z".to_owned())
        );
        assert_eq!(amz_date(SystemTime::UNIX_EPOCH).1, "19700101T000000Z");
        // A leap day, and the last second of a year.
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(amz_date(leap).1, "20000229T000000Z");
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(amz_date(end).1, "20241231T235959Z");
    }

    // The expected values below are those of AWS's SigV4 test suite (the `v4` cases of
    // awslabs/aws-c-auth `tests/aws-signing-test-suite`, from the retired "Signature Version 4
    // Test Suite" of the AWS General Reference).

    #[test]
    fn get_vanilla() {
        let signed = sign(&request("GET", "/"), &SUITE, &SCOPE, suite_time(), false);
        assert_eq!(
            signed.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signed.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            signed.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            signed.headers[0],
            ("x-amz-date".into(), "20150830T123600Z".into())
        );
    }

    #[test]
    fn post_vanilla() {
        let signed = sign(&request("POST", "/"), &SUITE, &SCOPE, suite_time(), false);
        assert_eq!(
            signed.string_to_sign.rsplit('\n').next(),
            Some("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87")
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn post_vanilla_query() {
        let mut req = request("POST", "/");
        req.query = &[("Param1", "value1")];
        let signed = sign(&req, &SUITE, &SCOPE, suite_time(), false);
        assert!(
            signed
                .canonical_request
                .starts_with("POST\n/\nParam1=value1\n")
        );
        assert_eq!(
            signed.signature,
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        );
    }

    #[test]
    fn session_token_is_sent_and_signed() {
        let credentials = Credentials {
            session_token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            ..SUITE
        };
        let signed = sign(
            &request("GET", "/"),
            &credentials,
            &SCOPE,
            suite_time(),
            false,
        );
        assert_eq!(
            signed.string_to_sign.rsplit('\n').next(),
            Some("067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b")
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
        assert!(signed.headers.contains(&(
            "x-amz-security-token".into(),
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267".into()
        )));
    }

    #[test]
    fn signed_body_with_content_headers() {
        // post-x-www-form-urlencoded, with the payload hash header.
        let req = Request {
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", "13"),
            ],
            payload: b"Param1=value1",
            ..request("POST", "/")
        };
        let signed = sign(&req, &SUITE, &SCOPE, suite_time(), true);
        assert_eq!(
            signed.canonical_request,
            "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert_eq!(
            signed.string_to_sign.rsplit('\n').next(),
            Some("b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb")
        );
        assert_eq!(
            signed.signature,
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        );
    }

    #[test]
    fn paths_are_encoded() {
        // get-utf8: the wire path carries raw UTF-8.
        let signed = sign(&request("GET", "/ሴ"), &SUITE, &SCOPE, suite_time(), false);
        assert!(signed.canonical_request.starts_with("GET\n/%E1%88%B4\n"));
        assert_eq!(
            signed.signature,
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
        // get-space-unnormalized.
        let signed = sign(
            &request("GET", "/example space/"),
            &SUITE,
            &SCOPE,
            suite_time(),
            false,
        );
        assert_eq!(
            signed.signature,
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"
        );
        // A percent-encoded wire path is encoded once more (non-S3 services).
        assert_eq!(
            canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        assert_eq!(uri_encode("a b/c:d~e"), "a%20b%2Fc%3Ad~e");
    }

    #[test]
    fn header_values_are_trimmed_and_repeats_joined() {
        let (block, names) = canonical_headers(&[
            ("My-Header1".into(), "  value1  ".into()),
            ("host".into(), "h".into()),
            ("my-header1".into(), "a   b   c".into()),
        ]);
        assert_eq!(block, "host:h\nmy-header1:value1,a b c\n");
        assert_eq!(names, "host;my-header1");
    }
}
