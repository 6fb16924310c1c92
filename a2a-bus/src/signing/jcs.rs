//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a JSON value that a
//! signature covers.
//!
//! A verifier rebuilds the signed bytes from the JSON it received, so signer and verifier must
//! agree byte for byte whatever their JSON libraries do: members sorted by their names' UTF-16
//! code units (not by UTF-8 bytes or code points, which disagree above U+FFFF), strings with
//! only the mandatory escapes, numbers written as ECMAScript's `Number.prototype.toString`
//! writes them (so `3`, `3.0` and `3e0` are one number), no whitespace.
//!
//! Values parsed by serde_json are at most 128 levels deep (its recursion limit), which bounds
//! the recursion here too.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// The canonical form of `value`. It is text; RFC 8785 signs its UTF-8 bytes.
pub fn canonicalize(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => write_object(members, out),
    }
}

fn write_object(members: &Map<String, Value>, out: &mut String) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| utf16_order(a, b));
    out.push('{');
    for (index, (name, value)) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(name, out);
        out.push(':');
        write_value(value, out);
    }
    out.push('}');
}

/// RFC 8785 §3.2.3: names compare as sequences of UTF-16 code units.
fn utf16_order(a: &str, b: &str) -> Ordering {
    // Within the Basic Multilingual Plane, byte order of UTF-8 is code unit order; only a
    // character above it (a surrogate pair, 0xD800..) can order differently from U+E000..U+FFFF.
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// RFC 8785 §3.2.2.2: escape `"`, `\` and the C0 controls (with the short forms where JSON has
/// them, else `\u00xx` in lowercase); everything else is written as itself.
fn write_string(text: &str, out: &mut String) {
    out.push('"');
    let mut plain_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\x08' => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\x0c' => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain_from..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain_from = index + 1;
    }
    out.push_str(&text[plain_from..]);
    out.push('"');
}

/// The largest integer below which every integer is exactly a double (2^53).
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// RFC 8785 §3.2.2.3: a JSON number is an IEEE 754 double written the ECMAScript way. Integers
/// a double holds exactly are written directly; others go through the double, as a JavaScript
/// verifier would read them.
fn write_number(number: &Number, out: &mut String) {
    if let Some(n) = number.as_u64().filter(|n| *n <= EXACT_INTEGER_LIMIT) {
        let _ = write!(out, "{n}");
    } else if let Some(n) = number
        .as_i64()
        .filter(|n| n.unsigned_abs() <= EXACT_INTEGER_LIMIT)
    {
        let _ = write!(out, "{n}");
    } else if let Some(n) = number.as_f64() {
        write_double(n, out);
    }
}

/// ECMA-262 `Number::toString(x)` (radix 10) for a finite double.
///
/// The digits are the shortest that read back as `x`, the nearest to `x` among those, and the
/// even one when two are equally near. Rust's `{:e}` gives the first two; it rounds such ties
/// up, so `ecmascript_digits` checks for one.
pub(crate) fn write_double(x: f64, out: &mut String) {
    if x == 0.0 {
        // Also -0, which ECMAScript writes as "0".
        out.push('0');
        return;
    }
    if !x.is_finite() {
        // serde_json cannot hold NaN or infinities; JSON has no form for them.
        out.push_str("null");
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    let (digits, n) = ecmascript_digits(x.abs());
    // With k digits d1..dk, x = 0.d1..dk × 10^n (ECMA-262's n).
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{}", (n - 1).abs());
    }
}

/// The decimal digits of a positive finite `x` (no trailing zeros) and ECMA-262's `n`, so that
/// x ≈ 0.digits × 10^n.
fn ecmascript_digits(x: f64) -> (String, i32) {
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("the LowerExp form of a finite double has an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = exponent + 1;
    // Ties need as many digits as a double can need (a 15-digit decimal is never halfway
    // between two doubles' shortest forms), so shorter outputs skip the check.
    if digits.len() < 15 {
        return (digits, n);
    }
    let value: u64 = digits.parse().expect("at most 17 digits");
    // x ≈ value × 10^scale.
    let scale = n - digits.len() as i32;
    for neighbour in [value - 1, value + 1] {
        let halfway_up = neighbour > value;
        let midpoint = if halfway_up {
            10 * value + 5
        } else {
            10 * value - 5
        };
        if value % 2 == 1
            && neighbour.to_string().len() == digits.len()
            && is_exactly(x, midpoint, scale - 1)
            && format!("{neighbour}e{scale}").parse::<f64>() == Ok(x)
        {
            let even = neighbour.to_string();
            return (even.trim_end_matches('0').to_owned(), n);
        }
    }
    (digits, n)
}

/// Whether `x` is exactly `m × 10^p`, for an odd `m` (a midpoint ends in 5).
fn is_exactly(x: f64, m: u64, p: i32) -> bool {
    // x = odd × 2^twos exactly.
    let bits = x.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (significand, binary_exponent) = if exponent_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent_bits - 1075)
    };
    let zeros = significand.trailing_zeros();
    let odd = u128::from(significand >> zeros);
    let twos = binary_exponent + zeros as i32;
    // m × 10^p = (m × 5^p) × 2^p; m is odd, so the odd parts and the powers of two must match.
    if twos != p {
        return false;
    }
    let fives = |count: u32| 5_u128.checked_pow(count);
    if p >= 0 {
        fives(p as u32)
            .and_then(|power| power.checked_mul(u128::from(m)))
            .is_some_and(|product| product == odd)
    } else {
        fives(p.unsigned_abs())
            .is_some_and(|power| u128::from(m) % power == 0 && u128::from(m) / power == odd)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn number(text: &str) -> String {
        canonicalize(&serde_json::from_str(text).expect("a JSON number"))
    }

    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        // RFC 8785 §3.2.2.3 and Appendix B, and the cases every JCS port trips on.
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1", "1"),
            ("3.0", "3"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1E30", "1e+30"),
            ("1e-7", "1e-7"),
            ("1e-6", "0.000001"),
            ("333333333.33333329", "333333333.3333333"),
            ("1e+30", "1e+30"),
            ("-1.5e-10", "-1.5e-10"),
            ("123456789012345680000", "123456789012345680000"),
            ("9007199254740992", "9007199254740992"),
            ("9007199254740993", "9007199254740992"),
            ("-9007199254740993", "-9007199254740992"),
            ("18446744073709551615", "18446744073709552000"),
            ("5e-324", "5e-324"),
            ("-5e-324", "-5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("2.2250738585072014e-308", "2.2250738585072014e-308"),
            ("0.000001234", "0.000001234"),
            ("0.0000001234", "1.234e-7"),
            ("295147905179352830000", "295147905179352830000"),
        ];
        for (input, expected) in cases {
            assert_eq!(number(input), expected, "the number {input}");
        }
    }

    #[test]
    fn rfc_8785_bit_patterns() {
        // RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
        let cases = [
            (0x0000_0000_0000_0000_u64, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            let mut out = String::new();
            write_double(f64::from_bits(bits), &mut out);
            assert_eq!(out, expected, "the double {bits:#018x}");
        }
    }

    #[test]
    fn doubles_are_written_as_node_writes_them() {
        // tests/data/jcs-numbers.txt: bit patterns and Node's String(x) for them (random ones
        // and the kinds where the shortest digits tie), made by make-jcs-numbers.js.
        let cases = include_str!("../../tests/data/jcs-numbers.txt");
        let mut checked = 0;
        for line in cases.lines().filter(|line| !line.is_empty()) {
            let (bits, expected) = line.split_once(' ').expect("bits and text");
            let bits = u64::from_str_radix(bits, 16).expect("hex bits");
            let mut out = String::new();
            write_double(f64::from_bits(bits), &mut out);
            assert_eq!(out, expected, "the double {bits:#018x}");
            checked += 1;
        }
        assert!(checked > 1_000);
    }

    #[test]
    fn the_rfc_8785_example_object() {
        // RFC 8785 §3.2.3's input (with its numbers and escapes) and its canonical form.
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).expect("the example parses");
        assert_eq!(
            canonicalize(&value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn member_names_sort_by_utf16_code_units() {
        // RFC 8785 §3.2.3's sorting example: U+1F600 (a surrogate pair, 0xD83D…) sorts before
        // U+FB33, although its code point is larger.
        let value = json!({
            "\u{20ac}": "Euro Sign",
            "\r": "Carriage Return",
            "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\u{1f600}": "Emoji: Grinning Face",
            "\u{0080}": "Control",
            "\u{00f6}": "Latin Small Letter O With Diaeresis"
        });
        assert_eq!(
            canonicalize(&value),
            concat!(
                "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",",
                "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",",
                "\"\u{1f600}\":\"Emoji: Grinning Face\",",
                "\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
            )
        );
    }

    #[test]
    fn strings_escape_only_what_rfc_8785_requires() {
        let value = json!("tab\there \u{1} \u{1f} \u{7f} é \u{2028} </script>");
        assert_eq!(
            canonicalize(&value),
            "\"tab\\there \\u0001 \\u001f \u{7f} é \u{2028} </script>\""
        );
    }

    #[test]
    fn nesting_and_whitespace() {
        let value: Value =
            serde_json::from_str(r#" { "b" : [ 1 , { "d" : 2.0 , "c" : [ ] } ] , "a" : { } } "#)
                .expect("parses");
        assert_eq!(canonicalize(&value), r#"{"a":{},"b":[1,{"c":[],"d":2}]}"#);
    }
}
