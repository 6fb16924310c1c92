//! Small tools for rewriting A2A JSON in place: the conversions move and rename fields inside
//! the `Value` they were given instead of building new documents, so a relayed message costs
//! a few map operations, not a deep copy. Errors carry the JSON path of the offending field,
//! built only when something is wrong.

use std::fmt;

use serde_json::{Map, Value};

pub(crate) type Object = Map<String, Value>;

/// What is wrong with a document and where (`message.parts[2].kind`); the path is empty for
/// the document itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            message: message.into(),
        }
    }

    /// The same problem seen from the parent: `field` (or `[i]`) goes in front of the path.
    pub(crate) fn at(mut self, segment: impl fmt::Display) -> Self {
        let segment = segment.to_string();
        self.path = if self.path.is_empty() {
            segment
        } else if self.path.starts_with('[') {
            segment + self.path.as_str()
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn object_mut(value: &mut Value) -> Result<&mut Object, Invalid> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(Invalid::new(format!(
            "expected an object, found {}",
            type_name(other)
        ))),
    }
}

/// Removes `key`, treating an explicit `null` as absent (v0.3 writers emit both).
pub(crate) fn take(object: &mut Object, key: &str) -> Option<Value> {
    object.remove(key).filter(|value| !value.is_null())
}

/// Moves `from` to `to` when present; an existing `to` is overwritten.
pub(crate) fn rename(object: &mut Object, from: &str, to: &str) {
    if let Some(value) = take(object, from) {
        object.insert(to.to_owned(), value);
    }
}

/// Applies `f` to the value at `key`, if present and not null; errors are reported under `key`.
pub(crate) fn with_field(
    object: &mut Object,
    key: &str,
    f: impl FnOnce(&mut Value) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    match object.get_mut(key) {
        Some(value) if !value.is_null() => f(value).map_err(|e| e.at(key)),
        _ => Ok(()),
    }
}

/// Applies `f` to every element of the array at `key`, if present; errors name the element.
pub(crate) fn with_each(
    object: &mut Object,
    key: &str,
    mut f: impl FnMut(&mut Value) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    match object.get_mut(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                f(item).map_err(|e| e.at(format!("[{i}]")).at(key))?;
            }
            Ok(())
        }
        Some(other) => {
            Err(Invalid::new(format!("expected an array, found {}", type_name(other))).at(key))
        }
    }
}

/// The string at `key`, if it is one.
pub(crate) fn str_at<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// Replaces `value` with `{key: value}` without copying it.
pub(crate) fn wrap(value: &mut Value, key: &str) {
    let inner = value.take();
    let mut object = Object::new();
    object.insert(key.to_owned(), inner);
    *value = Value::Object(object);
}

/// The only member of a one-field object (a protobuf `oneof` wrapper such as
/// `{"task": {...}}`), taken out with its key; `None` if the object has another shape.
pub(crate) fn unwrap_single(
    value: &mut Value,
    keys: &[&'static str],
) -> Option<(&'static str, Value)> {
    let object = value.as_object_mut()?;
    let key = keys.iter().find(|key| object.contains_key(**key))?;
    let inner = object.remove(*key)?;
    Some((key, inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_from_the_root() {
        let e = Invalid::new("bad")
            .at("kind")
            .at("[2]")
            .at("parts")
            .at("message");
        assert_eq!(e.path, "message.parts[2].kind");
        assert_eq!(e.to_string(), "message.parts[2].kind: bad");
    }

    #[test]
    fn each_reports_the_element() {
        let mut object = json!({"parts": [1, "x"]}).as_object().cloned().unwrap();
        let e = with_each(&mut object, "parts", |v| {
            if v.is_string() {
                Err(Invalid::new("no strings"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e.path, "parts[1]");
    }
}
