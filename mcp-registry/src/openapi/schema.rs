//! An OpenAPI document's schemas made self-contained, as tool input schemas must be: local
//! `$ref`s (`#/components/…`) inlined, within a depth and an expansion budget, cycles cut; and
//! OpenAPI 3.0's dialect (`nullable`, boolean `exclusiveMinimum`) turned into the JSON Schema
//! the hub validates arguments with. Properties marked `readOnly` are left out: they are the
//! server's to set, and a client cannot send them.

use serde_json::{Map, Value, json};

/// How many `$ref`s may be followed inside one another.
const MAX_DEPTH: usize = 16;
/// How many `$ref`s one schema may expand in all: a document's references can fan out
/// exponentially without ever forming a cycle.
const MAX_EXPANSIONS: usize = 400;
/// How deeply values may nest in a schema once inlined: beyond, the stack is at risk.
const MAX_NESTING: usize = 256;

/// Keywords whose values are data, not schemas: a `$ref` in them is not a reference.
const DATA_KEYWORDS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// The JSON types a schema's `type` may name.
const JSON_TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// Which schema dialect the document writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAPI 3.0: an extended subset of JSON Schema draft 4.
    V30,
    /// OpenAPI 3.1 and later: JSON Schema 2020-12.
    V31,
}

/// Resolves references in one document.
pub struct Resolver<'a> {
    document: &'a Value,
    dialect: Dialect,
}

impl<'a> Resolver<'a> {
    pub fn new(document: &'a Value, dialect: Dialect) -> Self {
        Self { document, dialect }
    }

    /// Follows a chain of `$ref`s to a non-schema object (a path item, a parameter, a request
    /// body).
    pub fn follow(&self, mut value: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..MAX_DEPTH {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            value = self
                .lookup(reference)
                .ok_or_else(|| format!("cannot resolve $ref \"{reference}\""))?;
        }
        Err(format!("more than {MAX_DEPTH} $refs in a chain (a cycle?)"))
    }

    /// `schema` with every reference inlined, in JSON Schema. A reference that cannot be
    /// resolved (another file, a missing component) accepts anything: the API still checks
    /// what it receives.
    pub fn schema(&self, schema: &Value) -> Value {
        let mut budget = MAX_EXPANSIONS;
        self.inline(schema, &mut Vec::new(), &mut budget, 0)
    }

    fn inline(
        &self,
        value: &Value,
        stack: &mut Vec<String>,
        budget: &mut usize,
        nesting: usize,
    ) -> Value {
        if nesting >= MAX_NESTING {
            return json!({"description": "(nested too deeply; not expanded)"});
        }
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    return self.inline_reference(reference, map, stack, budget, nesting);
                }
                let mut out = Map::with_capacity(map.len());
                for (key, member) in map {
                    let member = if DATA_KEYWORDS.contains(&key.as_str()) {
                        member.clone()
                    } else {
                        self.inline(member, stack, budget, nesting + 1)
                    };
                    out.insert(key.clone(), member);
                }
                self.normalize(&mut out);
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.inline(item, stack, budget, nesting + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn inline_reference(
        &self,
        reference: &str,
        map: &Map<String, Value>,
        stack: &mut Vec<String>,
        budget: &mut usize,
        nesting: usize,
    ) -> Value {
        let Some(target) = self.lookup(reference) else {
            return json!({"description": format!("{reference} (not resolved)")});
        };
        if stack.iter().any(|r| r == reference) || stack.len() >= MAX_DEPTH || *budget == 0 {
            // Cut here: the type, if the target states one, and what it is.
            let mut cut = Map::new();
            if let Some(kind) = target.get("type") {
                cut.insert("type".to_owned(), kind.clone());
            }
            cut.insert(
                "description".to_owned(),
                Value::String(format!("{} (not expanded further)", short(reference))),
            );
            return Value::Object(cut);
        }
        *budget -= 1;
        stack.push(reference.to_owned());
        let inlined = self.inline(target, stack, budget, nesting + 1);
        stack.pop();
        // 3.0 ignores a reference's siblings; in 3.1 they apply alongside it.
        let siblings: Map<String, Value> = map
            .iter()
            .filter(|(key, _)| *key != "$ref")
            .map(|(key, member)| (key.clone(), member.clone()))
            .collect();
        if self.dialect == Dialect::V30 || siblings.is_empty() {
            return inlined;
        }
        let mut combined = match self.inline(&Value::Object(siblings), stack, budget, nesting) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        combined.insert("allOf".to_owned(), Value::Array(vec![inlined]));
        Value::Object(combined)
    }

    /// Turns one (already inlined) schema object into JSON Schema the validator accepts.
    fn normalize(&self, schema: &mut Map<String, Value>) {
        if self.dialect == Dialect::V30
            && schema.remove("nullable") == Some(Value::Bool(true))
            && let Some(Value::String(kind)) = schema.get("type")
        {
            let kinds = json!([kind, "null"]);
            schema.insert("type".to_owned(), kinds);
        }
        // 3.0's boolean form, also found in 3.1 documents that were not fully converted.
        for (exclusive, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            match schema.get(exclusive) {
                Some(Value::Bool(true)) => {
                    match schema.remove(bound) {
                        Some(limit) => schema.insert(exclusive.to_owned(), limit),
                        None => schema.remove(exclusive),
                    };
                }
                Some(Value::Bool(false)) => {
                    schema.remove(exclusive);
                }
                _ => {}
            }
        }
        // Other mistakes common in real documents that would make the whole schema unusable:
        // Swagger 2's `required: true` on a property, and its `type: file`.
        if schema
            .get("required")
            .is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        {
            schema.remove("required");
        }
        if schema.get("type").is_some_and(|kind| !valid_type(kind)) {
            schema.remove("type");
        }
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            let read_only: Vec<String> = properties
                .iter()
                .filter(|(_, p)| p.get("readOnly") == Some(&Value::Bool(true)))
                .map(|(name, _)| name.clone())
                .collect();
            for name in &read_only {
                properties.remove(name);
            }
            if let Some(Value::Array(required)) = schema.get_mut("required") {
                required.retain(|r| !read_only.iter().any(|name| r == name));
            }
        }
    }

    /// The value a local reference points to: `#/components/schemas/Pet` (a JSON pointer,
    /// percent-encoded in the URI fragment).
    fn lookup(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.document.pointer(&percent_decode(pointer)?)
    }
}

fn valid_type(kind: &Value) -> bool {
    match kind {
        Value::String(kind) => JSON_TYPES.contains(&kind.as_str()),
        Value::Array(kinds) => kinds
            .iter()
            .all(|k| k.as_str().is_some_and(|k| JSON_TYPES.contains(&k))),
        _ => false,
    }
}

/// The last part of a reference: `Pet` of `#/components/schemas/Pet`.
fn short(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({
            "components": {
                "schemas": {
                    "Pet": {
                        "type": "object",
                        "required": ["id", "name"],
                        "properties": {
                            "id": {"type": "integer", "readOnly": true},
                            "name": {"type": "string"},
                            "owner": {"$ref": "#/components/schemas/Person"},
                            "tag": {"type": "string", "nullable": true},
                        },
                    },
                    "Person": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "pets": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
                        },
                    },
                    "Age": {"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 30, "exclusiveMaximum": false},
                    "Odd": {"type": "file", "properties": {"a": {"type": "string", "required": true}}},
                    "a/b": {"type": "string"},
                    "Loop": {"$ref": "#/components/schemas/Loop2"},
                    "Loop2": {"$ref": "#/components/schemas/Loop"},
                }
            }
        })
    }

    #[test]
    fn schemas_are_inlined_and_turned_into_json_schema() {
        let document = document();
        // (dialect, schema, expected)
        let cases = [
            (
                Dialect::V30,
                json!({"$ref": "#/components/schemas/Pet"}),
                json!({
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "owner": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "pets": {"type": "array", "items": {
                                    "type": "object",
                                    "description": "Pet (not expanded further)",
                                }},
                            },
                        },
                        "tag": {"type": ["string", "null"]},
                    },
                }),
            ),
            (
                Dialect::V30,
                json!({"$ref": "#/components/schemas/Age"}),
                json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 30}),
            ),
            // 3.1: siblings of $ref apply too.
            (
                Dialect::V31,
                json!({"$ref": "#/components/schemas/Age", "description": "years"}),
                json!({"description": "years", "allOf": [
                    {"type": "integer", "exclusiveMinimum": 0, "maximum": 30},
                ]}),
            ),
            (
                Dialect::V30,
                json!({"$ref": "#/components/schemas/Age", "description": "ignored"}),
                json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 30}),
            ),
            (
                Dialect::V31,
                json!({"$ref": "#/components/schemas/Odd"}),
                json!({"properties": {"a": {"type": "string"}}}),
            ),
            (
                Dialect::V31,
                json!({"$ref": "#/components/schemas/a~1b"}),
                json!({"type": "string"}),
            ),
            (
                Dialect::V31,
                json!({"$ref": "#/components/schemas/a%7E1b"}),
                json!({"type": "string"}),
            ),
            (
                Dialect::V31,
                json!({"$ref": "other.yaml#/Pet"}),
                json!({"description": "other.yaml#/Pet (not resolved)"}),
            ),
            (
                Dialect::V31,
                json!({"enum": [{"$ref": "#/x"}], "default": {"$ref": "#/y"}}),
                json!({"enum": [{"$ref": "#/x"}], "default": {"$ref": "#/y"}}),
            ),
            (
                Dialect::V31,
                json!({"$ref": "#/components/schemas/Loop"}),
                json!({"description": "Loop (not expanded further)"}),
            ),
        ];
        for (dialect, schema, expected) in cases {
            let resolved = Resolver::new(&document, dialect).schema(&schema);
            assert_eq!(resolved, expected, "{dialect:?} {schema}");
            jsonschema::validator_for(&resolved).expect("a usable schema");
        }
    }

    #[test]
    fn references_fanning_out_are_bounded() {
        // Each level refers twice to the next: 2^30 expansions unbounded.
        let mut schemas = Map::new();
        for level in 0..30 {
            let next = format!("#/components/schemas/L{}", level + 1);
            schemas.insert(
                format!("L{level}"),
                json!({"type": "object", "properties": {"a": {"$ref": next}, "b": {"$ref": next}}}),
            );
        }
        schemas.insert("L30".to_owned(), json!({"type": "string"}));
        let document = json!({"components": {"schemas": schemas}});
        let resolved = Resolver::new(&document, Dialect::V31)
            .schema(&json!({"$ref": "#/components/schemas/L0"}));
        let size = resolved.to_string().len();
        assert!(size < 200_000, "{size} bytes");
    }

    #[test]
    fn deep_nesting_is_cut() {
        let mut schema = json!({"type": "string"});
        for _ in 0..250 {
            schema = json!({"type": "array", "items": schema});
        }
        let document = json!({"components": {"schemas": {"Deep": schema}}});
        // Each reference nests the deep schema once more, 16 deep.
        let nested = (0..16).fold(
            json!({"$ref": "#/components/schemas/Deep"}),
            |inner, _| json!({"allOf": [{"$ref": "#/components/schemas/Deep"}, inner]}),
        );
        let resolved = Resolver::new(&document, Dialect::V31).schema(&nested);
        assert!(resolved.to_string().contains("nested too deeply"));
    }

    #[test]
    fn reference_chains_are_followed_and_cycles_refused() {
        let document = json!({"components": {"parameters": {
            "A": {"$ref": "#/components/parameters/B"},
            "B": {"name": "b", "in": "query"},
            "C": {"$ref": "#/components/parameters/C"},
        }}});
        let resolver = Resolver::new(&document, Dialect::V30);
        assert_eq!(
            resolver
                .follow(&json!({"$ref": "#/components/parameters/A"}))
                .unwrap()["name"],
            "b"
        );
        assert!(
            resolver
                .follow(&json!({"$ref": "#/components/parameters/C"}))
                .unwrap_err()
                .contains("cycle")
        );
        assert!(
            resolver
                .follow(&json!({"$ref": "#/components/parameters/Z"}))
                .unwrap_err()
                .contains("cannot resolve")
        );
    }
}
