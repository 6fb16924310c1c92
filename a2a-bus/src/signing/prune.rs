//! Empty values removed before canonicalization, so that a JSON document and its round trip
//! through protobuf (which writes no empty field) have one canonical form.
//!
//! Two rules, because the two signed things have two references:
//! - messages (agenthub's format): every object member whose value is `null`, `""`, `[]` or `{}`
//!   (after its own pruning) goes; array elements always stay, in order, since a protobuf
//!   repeated field keeps its empty elements too.
//! - agent cards (A2A card signatures, as the official a2a-sdk computes them): the same, and
//!   array elements that are `null` or empty (after pruning) go as well.

use serde_json::Value;

/// Removes, recursively, every object member whose value is `null`, `""`, `[]` or `{}` once its
/// own empty members are gone. Array elements are kept even when empty.
pub fn remove_empty_members(value: &mut Value) {
    match value {
        Value::Object(members) => members.retain(|_, member| {
            remove_empty_members(member);
            !is_empty(member)
        }),
        Value::Array(items) => items.iter_mut().for_each(remove_empty_members),
        _ => {}
    }
}

/// Removes, recursively, every `null`, `""`, `[]` and `{}` (once pruned itself), whether an
/// object member or an array element: a2a-sdk's rule for the canonical form of agent cards.
pub fn remove_empty_values(value: &mut Value) {
    match value {
        Value::Object(members) => members.retain(|_, member| {
            remove_empty_values(member);
            !is_empty(member)
        }),
        Value::Array(items) => items.retain_mut(|item| {
            remove_empty_values(item);
            !is_empty(item)
        }),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(members) => members.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "keep": "x",
            "zero": 0,
            "no": false,
            "null": null,
            "blank": "",
            "list": [],
            "object": {},
            "nested": {"inner": {"deeper": {"gone": null}}, "kept": 1},
            "items": ["", null, {}, [], {"gone": ""}, "a", [[]]]
        })
    }

    #[test]
    fn message_rule_removes_members_and_keeps_array_elements() {
        let mut value = sample();
        remove_empty_members(&mut value);
        assert_eq!(
            value,
            json!({
                "keep": "x",
                "zero": 0,
                "no": false,
                "nested": {"kept": 1},
                "items": ["", null, {}, [], {}, "a", [[]]]
            })
        );
    }

    #[test]
    fn card_rule_also_removes_empty_array_elements() {
        let mut value = sample();
        remove_empty_values(&mut value);
        assert_eq!(
            value,
            json!({"keep": "x", "zero": 0, "no": false, "nested": {"kept": 1}, "items": ["a"]})
        );
    }

    #[test]
    fn a_document_that_is_all_empty_prunes_to_an_empty_object() {
        let mut value = json!({"a": {"b": [""]}});
        remove_empty_values(&mut value);
        assert_eq!(value, json!({}));
        let mut value = json!({"a": {"b": {}}});
        remove_empty_members(&mut value);
        assert_eq!(value, json!({}));
    }
}
