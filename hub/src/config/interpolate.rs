//! `${VAR}` interpolation in string values, done on the parsed YAML tree so that a variable's
//! value can never change the document's structure.
//!
//! Forms: `${VAR}` (error when unset), `${VAR:-default}` (default when unset or empty) and `$$`
//! for a literal `$`.

use serde_yaml_ng::Value;

use super::ConfigError;

/// Replaces every `${VAR}` in the string scalars of `value`, recording one error per failure.
pub fn interpolate(
    value: &mut Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, env) {
            Ok(expanded) => *s = expanded,
            Err(message) => errors.push(ConfigError::new(display_path(path), message)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, env, errors);
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key_name(key));
                interpolate(item, path, env, errors);
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, env, errors),
        _ => {}
    }
}

pub(super) fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.to_owned()
    }
}

fn expand(input: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated \"${{\" in \"{input}\""))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("invalid environment variable name \"{name}\""));
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!("environment variable {name} is not set"));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_cases() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("postgres://${HOST}/x", Ok("postgres://db.internal/x")),
            ("${MISSING:-fallback}", Ok("fallback")),
            ("${EMPTY:-fallback}", Ok("fallback")),
            ("${EMPTY}", Ok("")),
            ("cost $$5", Ok("cost $5")),
            ("lone $ sign", Ok("lone $ sign")),
            ("${MISSING}", Err("environment variable MISSING is not set")),
            ("${HOST", Err("unterminated")),
            ("${1BAD}", Err("invalid environment variable name")),
        ];
        for (input, expected) in cases {
            match (expand(input, &env), expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{input}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn errors_carry_the_path() {
        let mut value: Value =
            serde_yaml_ng::from_str("store:\n  url: ${NOPE}\nlist: [a, '${ALSO_NOPE}']\n").unwrap();
        let mut errors = Vec::new();
        interpolate(&mut value, &mut String::new(), &env, &mut errors);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["store.url", "list[1]"]);
    }
}
