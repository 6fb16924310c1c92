//! An OpenAPI document's operations as MCP tools, and what calling each means.
//!
//! Every path × method (get, put, post, delete, patch, head, options) is one tool:
//!
//! - its name is the `operationId` in MCP's tool-name alphabet (other characters become `_`),
//!   else `<method>_<path segments>` (`get_pets_petId`); operations that would share a name
//!   are all left out, since which one the name should call cannot be known;
//! - its description is the operation's `summary`, else its `description`;
//! - its input schema is an object with one property per parameter (`in: path`, `query` or
//!   `header`; path-level parameters overridden by the operation's of the same name and
//!   location) and `body` for a JSON request body. Path parameters are always required. A
//!   property name is taken by the first parameter that wants it, path before query before
//!   header; a later one of the same name is `<in>_<name>` (`query_id`). `body` is the request
//!   body's whenever the operation has one: a parameter named `body` is then `<in>_body`;
//! - GET, HEAD and OPTIONS are annotated read-only, DELETE destructive.
//!
//! An operation that cannot be called as described (a required request body that is not JSON,
//! a malformed parameter, a reference that does not resolve) is left out with its reason: the
//! registry logs them and serves the rest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::Method;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::schema::{Dialect, Resolver};

/// The methods an OpenAPI path item may describe, in the order they are read.
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// The input property of the request body.
pub const BODY: &str = "body";

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum In {
    Path,
    Query,
    Header,
}

impl In {
    fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
        }
    }
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its property in the tool's input schema.
    pub argument: String,
    /// Its name on the wire.
    pub name: String,
    pub location: In,
    /// Arrays (and objects) as separate values rather than one comma-separated value.
    pub explode: bool,
    /// A query object as `name[key]=value` pairs.
    pub deep_object: bool,
    /// Declared with `content` rather than `schema`: sent as JSON text.
    pub json: bool,
}

/// What calling a tool sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    /// The path template: `/pets/{petId}`.
    pub path: String,
    pub parameters: Vec<Parameter>,
    /// The media type the `body` argument is sent as, if the operation takes one.
    pub body: Option<String>,
}

impl Operation {
    /// `GET /pets/{petId}`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A document's tools.
#[derive(Debug, Default)]
pub struct Converted {
    /// By name.
    pub tools: Vec<Tool>,
    pub operations: HashMap<String, Operation>,
    /// The operations left out, each with why.
    pub skipped: Vec<String>,
}

/// Turns every operation of `document` into a tool.
pub fn convert(document: &Value, dialect: Dialect) -> Converted {
    let resolver = Resolver::new(document, dialect);
    let mut converted = Converted::default();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return converted;
    };
    // Sorted, so that the outcome never depends on how the document's maps were ordered.
    let paths: BTreeMap<&String, &Value> = paths.iter().collect();
    let mut candidates: BTreeMap<String, Vec<(Tool, Operation)>> = BTreeMap::new();
    for (path, item) in paths {
        let item = match resolver.follow(item) {
            Ok(item) if item.is_object() => item,
            Ok(_) => {
                converted
                    .skipped
                    .push(format!("{path}: the path item is not an object"));
                continue;
            }
            Err(error) => {
                converted.skipped.push(format!("{path}: {error}"));
                continue;
            }
        };
        for method in METHODS {
            let Some(operation) = item.get(method).filter(|o| o.is_object()) else {
                continue;
            };
            let label = format!("{} {path}", method.to_ascii_uppercase());
            match tool(&resolver, path, method, item, operation) {
                Ok((tool, operation)) => candidates
                    .entry(tool.name.to_string())
                    .or_default()
                    .push((tool, operation)),
                Err(reason) => converted.skipped.push(format!("{label}: {reason}")),
            }
        }
    }
    for (name, mut same) in candidates {
        if same.len() > 1 {
            let labels: Vec<String> = same.iter().map(|(_, o)| o.label()).collect();
            converted.skipped.push(format!(
                "{}: would all be the tool \"{name}\"; give them distinct operationIds",
                labels.join(", ")
            ));
            continue;
        }
        if let Some((tool, operation)) = same.pop() {
            converted.operations.insert(name, operation);
            converted.tools.push(tool);
        }
    }
    converted
}

/// One operation's tool, and what calling it sends.
fn tool(
    resolver: &Resolver<'_>,
    path: &str,
    method: &str,
    item: &Value,
    operation: &Value,
) -> Result<(Tool, Operation), String> {
    if !path.starts_with('/') {
        return Err("the path does not start with /".to_owned());
    }
    let mut declared = parameters(resolver, item, operation)?;
    // Every `{name}` of the template is a path parameter, declared or not; a declared one the
    // template lacks would be required for nothing.
    let variables = template_variables(path);
    declared.retain(|p| p.location != In::Path || variables.contains(&p.name.as_str()));
    for variable in &variables {
        if !declared
            .iter()
            .any(|p| p.location == In::Path && p.name == *variable)
        {
            declared.push(Declared {
                name: (*variable).to_owned(),
                location: In::Path,
                required: true,
                schema: json!({"type": "string"}),
                explode: false,
                deep_object: false,
                json: false,
            });
        }
    }
    let body = request_body(resolver, operation)?;

    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut parameters = Vec::with_capacity(declared.len());
    declared.sort_by_key(|p| p.location);
    for p in declared {
        let argument = property_name(&properties, &p, body.is_some());
        if p.required || p.location == In::Path {
            required.push(Value::String(argument.clone()));
        }
        properties.insert(argument.clone(), p.schema);
        parameters.push(Parameter {
            argument,
            name: p.name,
            location: p.location,
            explode: p.explode,
            deep_object: p.deep_object,
            json: p.json,
        });
    }
    let body_type = body.map(|body| {
        properties.insert(BODY.to_owned(), body.schema);
        if body.required {
            required.push(Value::String(BODY.to_owned()));
        }
        body.media_type
    });
    let mut input = Map::new();
    input.insert("type".to_owned(), json!("object"));
    input.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        input.insert("required".to_owned(), Value::Array(required));
    }
    // The hub validates arguments with this schema: one it cannot compile would make the tool
    // uncallable.
    if let Err(error) = jsonschema::validator_for(&Value::Object(input.clone())) {
        return Err(format!("its input schema is not usable: {error}"));
    }

    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let mut description = text("summary")
        .or_else(|| text("description"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} {path}", method.to_ascii_uppercase()));
    if operation.get("deprecated") == Some(&Value::Bool(true)) {
        description.insert_str(0, "Deprecated. ");
    }
    let name = tool_name(operation.get("operationId"), method, path);
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("{method} is not an HTTP method"))?;
    let mut tool = Tool::new(name, description, Arc::new(input));
    tool.annotations = match method {
        Method::GET | Method::HEAD | Method::OPTIONS => {
            Some(ToolAnnotations::new().read_only(true))
        }
        Method::DELETE => Some(ToolAnnotations::new().destructive(true)),
        _ => None,
    };
    let operation = Operation {
        method,
        path: path.to_owned(),
        parameters,
        body: body_type,
    };
    Ok((tool, operation))
}

/// A parameter as the document declares it.
struct Declared {
    name: String,
    location: In,
    required: bool,
    /// Its property's schema, description included.
    schema: Value,
    explode: bool,
    deep_object: bool,
    json: bool,
}

/// The path item's parameters overridden by the operation's (by name and location); cookies
/// are not sent, and the headers OpenAPI reserves (`Accept`, `Content-Type`, `Authorization`)
/// are ignored, as the specification says.
fn parameters(
    resolver: &Resolver<'_>,
    item: &Value,
    operation: &Value,
) -> Result<Vec<Declared>, String> {
    let mut merged: Vec<Declared> = Vec::new();
    for list in [item.get("parameters"), operation.get("parameters")] {
        for parameter in list.and_then(Value::as_array).into_iter().flatten() {
            let parameter = resolver.follow(parameter)?;
            let name = parameter
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or("a parameter has no name")?;
            let location = match parameter.get("in").and_then(Value::as_str) {
                Some("path") => In::Path,
                Some("query") => In::Query,
                Some("header") => In::Header,
                Some("cookie") => continue,
                Some(other) => {
                    return Err(format!(
                        "the parameter {name} is in \"{other}\", which OpenAPI 3 does not know"
                    ));
                }
                None => return Err(format!("the parameter {name} says not where it goes")),
            };
            if location == In::Header {
                if ["accept", "content-type", "authorization"]
                    .contains(&name.to_ascii_lowercase().as_str())
                {
                    continue;
                }
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(format!(
                        "the header parameter \"{name}\" is not a header name"
                    ));
                }
            }
            let declared = declared(resolver, parameter, name, location);
            match merged
                .iter_mut()
                .find(|p| p.name == name && p.location == location)
            {
                Some(earlier) => *earlier = declared,
                None => merged.push(declared),
            }
        }
    }
    Ok(merged)
}

fn declared(resolver: &Resolver<'_>, parameter: &Value, name: &str, location: In) -> Declared {
    let (schema, json) = match (parameter.get("schema"), parameter.get("content")) {
        (Some(schema), _) => (resolver.schema(schema), false),
        (None, Some(Value::Object(content))) => (
            content
                .values()
                .next()
                .and_then(|media| media.get("schema"))
                .map(|schema| resolver.schema(schema))
                .unwrap_or_else(|| json!({})),
            true,
        ),
        _ => (json!({"type": "string"}), false),
    };
    // A boolean schema (3.1) or anything odd stands for "anything".
    let mut schema = match schema {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(description) = parameter.get("description").and_then(Value::as_str) {
        schema.insert("description".to_owned(), json!(description));
    }
    if parameter.get("deprecated") == Some(&Value::Bool(true)) {
        schema.insert("deprecated".to_owned(), json!(true));
    }
    let style = parameter.get("style").and_then(Value::as_str);
    let form = style.map_or(location == In::Query, |s| s == "form");
    Declared {
        name: name.to_owned(),
        location,
        required: parameter.get("required") == Some(&Value::Bool(true)),
        schema: Value::Object(schema),
        explode: parameter
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(form),
        deep_object: style == Some("deepObject"),
        json,
    }
}

/// A parameter's property: its own name if still free, else `<in>_<name>`, numbered if even
/// that is taken.
fn property_name(taken: &Map<String, Value>, parameter: &Declared, has_body: bool) -> String {
    let free = |name: &str| !(taken.contains_key(name) || has_body && name == BODY);
    if free(&parameter.name) {
        return parameter.name.clone();
    }
    let qualified = format!("{}_{}", parameter.location.as_str(), parameter.name);
    if free(&qualified) {
        return qualified;
    }
    (2..)
        .map(|n| format!("{qualified}_{n}"))
        .find(|name| free(name))
        .unwrap_or(qualified)
}

/// The request body, if the operation takes a JSON one.
struct Body {
    media_type: String,
    required: bool,
    schema: Value,
}

fn request_body(resolver: &Resolver<'_>, operation: &Value) -> Result<Option<Body>, String> {
    let Some(body) = operation.get("requestBody") else {
        return Ok(None);
    };
    let body = resolver.follow(body)?;
    let required = body.get("required") == Some(&Value::Bool(true));
    let content = body.get("content").and_then(Value::as_object);
    let media_types = || content.into_iter().flatten();
    // application/json first, then any other JSON type, then a body of any type.
    let chosen = media_types()
        .find(|(media, _)| essence(media) == "application/json")
        .or_else(|| media_types().find(|(media, _)| is_json(media)))
        .or_else(|| media_types().find(|(media, _)| essence(media) == "*/*"));
    let Some((media, description)) = chosen else {
        if !required {
            // Callable without its body: the tool leaves it out.
            return Ok(None);
        }
        let types: Vec<&str> = media_types().map(|(media, _)| media.as_str()).collect();
        return Err(format!(
            "its required request body is not JSON ({}), which is not supported",
            if types.is_empty() {
                "no media type".to_owned()
            } else {
                types.join(", ")
            }
        ));
    };
    let mut schema = match description.get("schema").map(|s| resolver.schema(s)) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(text) = body.get("description").and_then(Value::as_str) {
        schema.insert("description".to_owned(), json!(text));
    }
    let media_type = if essence(media) == "*/*" {
        "application/json".to_owned()
    } else {
        media.clone()
    };
    Ok(Some(Body {
        media_type,
        required,
        schema: Value::Object(schema),
    }))
}

/// The media type without parameters, lower-cased.
fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `application/json`, `application/problem+json`, `text/json` …
pub fn is_json(media: &str) -> bool {
    let essence = essence(media);
    essence.ends_with("/json") || essence.ends_with("+json")
}

/// The `{name}`s of a path template, in order.
fn template_variables(path: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        names.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    names
}

/// The tool's name: the operationId, else the method and the path's segments, in MCP's
/// alphabet and length (the rule published names follow).
fn tool_name(operation_id: Option<&Value>, method: &str, path: &str) -> String {
    if let Some(id) = operation_id.and_then(Value::as_str)
        && id.chars().any(|c| c.is_ascii_alphanumeric())
    {
        return crate::names::publish("", "", id);
    }
    let mut name = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        name.push('_');
        name.extend(segment.chars().filter(|c| !matches!(c, '{' | '}')));
    }
    crate::names::publish("", "", &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A petstore in OpenAPI 3.0, with references, parameters of every kind and a required
    /// JSON body.
    fn petstore_30() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Petstore", "version": "1.0.0"},
            "servers": [{"url": "/v1"}],
            "paths": {
                "/pets": {
                    "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                    "get": {
                        "operationId": "listPets",
                        "summary": "List all pets",
                        "description": "Longer words.",
                        "parameters": [
                            {"name": "limit", "in": "query", "description": "How many at most",
                             "schema": {"type": "integer", "format": "int32", "maximum": 100}},
                            {"name": "tags", "in": "query", "explode": true,
                             "schema": {"type": "array", "items": {"type": "string"}}},
                            {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                            {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                        ],
                        "responses": {"200": {"description": "A list of pets."}},
                    },
                    "post": {
                        "operationId": "createPet",
                        "description": "Adds a pet to the store.",
                        "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
                        "responses": {"201": {"description": "Created"}},
                    },
                },
                "/pets/{petId}": {
                    "parameters": [
                        {"name": "petId", "in": "path", "required": true,
                         "description": "The pet's id", "schema": {"type": "string"}},
                    ],
                    "get": {
                        "operationId": "showPetById",
                        "summary": "Info for a specific pet",
                        "responses": {"200": {"description": "ok"}},
                    },
                    "delete": {
                        "operationId": "delete pet!",
                        "deprecated": true,
                        "parameters": [
                            {"name": "petId", "in": "path", "required": true,
                             "schema": {"type": "integer"}},
                            {"name": "petId", "in": "query", "schema": {"type": "boolean"}},
                        ],
                        "responses": {"204": {"description": "gone"}},
                    },
                    "patch": {
                        "parameters": [{"name": "body", "in": "query", "schema": {"type": "string"}}],
                        "requestBody": {"content": {"application/merge-patch+json": {
                            "schema": {"$ref": "#/components/schemas/Pet"}}}},
                        "responses": {"200": {"description": "ok"}},
                    },
                },
                "/pets/{petId}/photo": {
                    "put": {
                        "operationId": "uploadPhoto",
                        "requestBody": {"required": true, "content": {"image/png": {}}},
                        "responses": {"200": {"description": "ok"}},
                    },
                },
                "/stores/{storeId}/pets": {
                    "get": {"operationId": "listPets", "responses": {}},
                },
                "/legacy": {
                    "post": {"parameters": [{"name": "x", "in": "formData"}], "responses": {}},
                    "options": {"responses": {}},
                },
            },
            "components": {
                "parameters": {
                    "RequestId": {"name": "X-Request-Id", "in": "header", "required": true,
                                  "schema": {"type": "string", "format": "uuid"}},
                },
                "requestBodies": {
                    "NewPet": {"required": true, "description": "The pet to add",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                },
                "schemas": {
                    "Pet": {
                        "type": "object",
                        "required": ["id", "name"],
                        "properties": {
                            "id": {"type": "integer", "format": "int64", "readOnly": true},
                            "name": {"type": "string"},
                            "tag": {"type": "string", "nullable": true},
                        },
                    },
                },
            },
        })
    }

    /// The same kind of API in OpenAPI 3.1: JSON Schema 2020-12 types, `$ref` with siblings,
    /// a parameter given as JSON `content`, a style of objects.
    fn petstore_31() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Petstore", "version": "2.0.0"},
            "paths": {
                "/pets/search": {
                    "get": {
                        "operationId": "searchPets",
                        "summary": "Search",
                        "parameters": [
                            {"name": "filter", "in": "query", "style": "deepObject",
                             "schema": {"$ref": "#/components/schemas/Filter", "description": "What to match"}},
                            {"name": "sort", "in": "query",
                             "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}},
                            {"name": "ids", "in": "header", "schema": {"type": "array", "items": {"type": "integer"}}},
                        ],
                        "responses": {"200": {"description": "ok"}},
                    },
                },
                "/": {"head": {"responses": {}}},
            },
            "components": {"schemas": {
                "Filter": {"type": "object", "properties": {"tag": {"type": ["string", "null"]}}},
            }},
        })
    }

    fn by_name(converted: &Converted, name: &str) -> (Value, Option<ToolAnnotations>, String) {
        let tool = converted
            .tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tool {name}"));
        (
            Value::Object(tool.input_schema.as_ref().clone()),
            tool.annotations.clone(),
            tool.description.as_deref().unwrap_or("").to_owned(),
        )
    }

    #[test]
    fn an_openapi_30_document_becomes_tools() {
        let converted = convert(&petstore_30(), Dialect::V30);
        let names: Vec<&str> = converted.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "createPet",
                "delete_pet_",
                "options_legacy",
                "patch_pets_petId",
                "showPetById"
            ]
        );
        let read_only = Some(ToolAnnotations::new().read_only(true));
        let destructive = Some(ToolAnnotations::new().destructive(true));
        let request_id = json!({"type": "string", "format": "uuid"});
        let pet = json!({"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "tag": {"type": ["string", "null"]}}});
        // (tool, input schema, annotations, description)
        let cases = [
            (
                "createPet",
                json!({"type": "object", "properties": {
                    "X-Request-Id": request_id,
                    "body": {"type": "object", "required": ["name"], "description": "The pet to add",
                             "properties": {"name": {"type": "string"}, "tag": {"type": ["string", "null"]}}},
                }, "required": ["X-Request-Id", "body"]}),
                None,
                "Adds a pet to the store.",
            ),
            (
                "showPetById",
                json!({"type": "object", "properties": {
                    "petId": {"type": "string", "description": "The pet's id"},
                }, "required": ["petId"]}),
                read_only.clone(),
                "Info for a specific pet",
            ),
            // The operation's path parameter overrides the path item's; the query one of
            // the same name is qualified.
            (
                "delete_pet_",
                json!({"type": "object", "properties": {
                    "petId": {"type": "integer"},
                    "query_petId": {"type": "boolean"},
                }, "required": ["petId"]}),
                destructive,
                "Deprecated. DELETE /pets/{petId}",
            ),
            // `body` is the request body's; the query parameter of that name is qualified.
            (
                "patch_pets_petId",
                json!({"type": "object", "properties": {
                    "petId": {"type": "string", "description": "The pet's id"},
                    "query_body": {"type": "string"},
                    "body": pet,
                }, "required": ["petId"]}),
                None,
                "PATCH /pets/{petId}",
            ),
            (
                "options_legacy",
                json!({"type": "object", "properties": {}}),
                read_only,
                "OPTIONS /legacy",
            ),
        ];
        for (name, schema, annotations, description) in cases {
            assert_eq!(
                by_name(&converted, name),
                (schema, annotations, description.to_owned()),
                "{name}"
            );
        }
        let patch = &converted.operations["patch_pets_petId"];
        assert_eq!(patch.body.as_deref(), Some("application/merge-patch+json"));
        assert_eq!(
            converted.operations["createPet"].body.as_deref(),
            Some("application/json")
        );
        assert_eq!(converted.operations["showPetById"].body, None);

        // Every operation left out is reported, with why.
        let mut skipped = converted.skipped.clone();
        skipped.sort();
        let expected = [
            "GET /pets, GET /stores/{storeId}/pets: would all be the tool \"listPets\"",
            "POST /legacy: the parameter x is in \"formData\"",
            "PUT /pets/{petId}/photo: its required request body is not JSON (image/png)",
        ];
        assert_eq!(skipped.len(), expected.len(), "{skipped:?}");
        for (reason, words) in skipped.iter().zip(expected) {
            assert!(reason.starts_with(words), "{reason}");
        }
    }

    #[test]
    fn what_a_call_sends_is_described_per_parameter() {
        let converted = convert(&petstore_30(), Dialect::V30);
        let delete = &converted.operations["delete_pet_"];
        assert_eq!(delete.method, Method::DELETE);
        assert_eq!(delete.path, "/pets/{petId}");
        let parameter = |argument: &str, name: &str, location: In, explode: bool| Parameter {
            argument: argument.to_owned(),
            name: name.to_owned(),
            location,
            explode,
            deep_object: false,
            json: false,
        };
        assert_eq!(
            delete.parameters,
            [
                parameter("petId", "petId", In::Path, false),
                parameter("query_petId", "petId", In::Query, true),
            ]
        );
        let create = &converted.operations["createPet"];
        assert_eq!(
            create.parameters,
            [parameter("X-Request-Id", "X-Request-Id", In::Header, false)]
        );
        let converted = convert(&petstore_31(), Dialect::V31);
        let search = &converted.operations["searchPets"];
        let flags: Vec<(&str, In, bool, bool, bool)> = search
            .parameters
            .iter()
            .map(|p| {
                (
                    p.argument.as_str(),
                    p.location,
                    p.explode,
                    p.deep_object,
                    p.json,
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("filter", In::Query, false, true, false),
                ("sort", In::Query, true, false, true),
                ("ids", In::Header, false, false, false),
            ]
        );
    }

    #[test]
    fn an_openapi_31_document_becomes_tools() {
        let converted = convert(&petstore_31(), Dialect::V31);
        assert_eq!(converted.skipped, Vec::<String>::new());
        let (schema, annotations, description) = by_name(&converted, "searchPets");
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {
                "filter": {"description": "What to match", "allOf": [
                    {"type": "object", "properties": {"tag": {"type": ["string", "null"]}}}]},
                "sort": {"type": "array", "items": {"type": "string"}},
                "ids": {"type": "array", "items": {"type": "integer"}},
            }})
        );
        assert_eq!(annotations, Some(ToolAnnotations::new().read_only(true)));
        assert_eq!(description, "Search");
        let (schema, annotations, _) = by_name(&converted, "head");
        assert_eq!(schema, json!({"type": "object", "properties": {}}));
        assert_eq!(annotations, Some(ToolAnnotations::new().read_only(true)));
    }

    #[test]
    fn names_keep_to_the_tool_alphabet() {
        // (operationId, method, path, tool name)
        let cases = [
            (Some("getPet"), "get", "/pets/{id}", "getPet"),
            (
                Some("pets.get-one_v2"),
                "get",
                "/pets/{id}",
                "pets.get-one_v2",
            ),
            (Some("créer un animal"), "post", "/pets", "cr_er_un_animal"),
            (Some("宠物"), "post", "/pets", "post_pets"),
            (Some(""), "get", "/pets/{id}/photos", "get_pets_id_photos"),
            (None, "delete", "/", "delete"),
            (None, "get", "/a b/{c d}", "get_a_b_c_d"),
        ];
        for (id, method, path, expected) in cases {
            let id = id.map(|id| json!(id));
            assert_eq!(tool_name(id.as_ref(), method, path), expected, "{id:?}");
        }
        let long = "x".repeat(200);
        let name = tool_name(Some(&json!(long)), "get", "/");
        assert_eq!(name.len(), crate::names::MAX_NAME);
        assert_eq!(name, tool_name(Some(&json!(long)), "get", "/"));
    }

    #[test]
    fn odd_documents_give_what_can_be_used() {
        let cases = [
            json!({"openapi": "3.0.0"}),
            json!({"openapi": "3.0.0", "paths": []}),
            json!({"openapi": "3.0.0", "paths": {"/a": 7, "/b": {"get": "x"}, "c": {"get": {}}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/nowhere"}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"in": "query"}, 3]}}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query", "schema": {"pattern": "("}}]}}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"name": "bad header", "in": "header"}]}}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"post": {"requestBody": {"content": {"text/plain": {}}}}}}}),
        ];
        let outcomes: Vec<(usize, usize)> = cases
            .iter()
            .map(|document| {
                let converted = convert(document, Dialect::V30);
                (converted.tools.len(), converted.skipped.len())
            })
            .collect();
        // (tools, skipped): an optional non-JSON body is left out, not the operation.
        assert_eq!(
            outcomes,
            [
                (0, 0),
                (0, 0),
                (0, 2),
                (0, 1),
                (0, 1),
                (0, 1),
                (0, 1),
                (1, 0)
            ]
        );
        let converted = convert(&cases[2], Dialect::V30);
        assert!(converted.skipped[0].starts_with("/a: the path item is not an object"));
        assert!(converted.skipped[1].starts_with("GET c: the path does not start with /"));
    }
}
