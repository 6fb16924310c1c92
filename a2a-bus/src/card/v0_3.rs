//! v0.3 cards mapped onto the v1.0 layout, the way the reference client (a2a-python) reads them:
//! `url` + `preferredTransport` + `additionalInterfaces` become `supportedInterfaces` at the
//! card's `protocolVersion`; `supportsAuthenticatedExtendedCard` becomes
//! `capabilities.extendedAgentCard`; `security` (OpenAPI style) becomes `securityRequirements`;
//! schemes tagged by `type` become the v1.0 one-of objects. Type errors in the fields moved here
//! are reported at their v0.3 paths, which the v1.0 model would not know.

use serde_json::{Map, Value, json};

use super::ParseError;

/// Whether the card has the v0.3 layout: no `supportedInterfaces`, but v0.3's own fields.
pub(super) fn is_v0_3(object: &Map<String, Value>) -> bool {
    !object.contains_key("supportedInterfaces")
        && [
            "url",
            "preferredTransport",
            "protocolVersion",
            "additionalInterfaces",
        ]
        .iter()
        .any(|key| object.contains_key(*key))
}

/// Rewrites a v0.3 card into the v1.0 layout in place.
pub(super) fn normalize(card: &mut Map<String, Value>) -> Result<(), ParseError> {
    let url = take_string(card, "url", "url")?.unwrap_or_default();
    let binding =
        take_string(card, "preferredTransport", "preferredTransport")?.unwrap_or("JSONRPC".into());
    // The default a2a-python applies to a card that does not say.
    let version =
        take_string(card, "protocolVersion", "protocolVersion")?.unwrap_or("0.3.0".into());
    // The main interface comes first even without a URL, so that interface i > 0 is always
    // additionalInterfaces[i - 1] (validation names them so).
    let mut interfaces = vec![json!({
        "url": url, "protocolBinding": binding, "protocolVersion": version,
    })];
    match card.remove("additionalInterfaces") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let at = format!("additionalInterfaces[{i}]");
                let Value::Object(mut item) = item else {
                    return Err(type_error(&at, &item, "an object"));
                };
                let url = take_string(&mut item, "url", &format!("{at}.url"))?;
                let transport = take_string(&mut item, "transport", &format!("{at}.transport"))?;
                item.insert("url".into(), url.unwrap_or_default().into());
                item.insert(
                    "protocolBinding".into(),
                    transport.unwrap_or_default().into(),
                );
                item.insert("protocolVersion".into(), version.clone().into());
                interfaces.push(Value::Object(item));
            }
        }
        Some(other) => return Err(type_error("additionalInterfaces", &other, "an array")),
    }
    card.insert("supportedInterfaces".into(), Value::Array(interfaces));

    match card.remove("supportsAuthenticatedExtendedCard") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(extended)) => {
            let capabilities = card
                .entry("capabilities")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(capabilities) = capabilities {
                capabilities
                    .entry("extendedAgentCard")
                    .or_insert(Value::Bool(extended));
            }
        }
        Some(other) => {
            return Err(type_error(
                "supportsAuthenticatedExtendedCard",
                &other,
                "a boolean",
            ));
        }
    }

    move_security(card, "")?;
    if let Some(Value::Array(skills)) = card.get_mut("skills") {
        for (i, skill) in skills.iter_mut().enumerate() {
            if let Value::Object(skill) = skill {
                move_security(skill, &format!("skills[{i}]."))?;
            }
        }
    }

    if let Some(Value::Object(schemes)) = card.get_mut("securitySchemes") {
        for scheme in schemes.values_mut() {
            if let Value::Object(scheme) = scheme {
                tag_scheme(scheme);
            }
        }
    }
    Ok(())
}

/// `security: [{"name": ["scope"]}]` → `securityRequirements: [{"schemes": {"name": {"list":
/// ["scope"]}}}]`, unless the object already has the v1.0 field.
fn move_security(object: &mut Map<String, Value>, prefix: &str) -> Result<(), ParseError> {
    if object.contains_key("securityRequirements") {
        return Ok(());
    }
    let requirements = match object.remove("security") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(requirements)) => requirements,
        Some(other) => return Err(type_error(&format!("{prefix}security"), &other, "an array")),
    };
    let mut converted = Vec::with_capacity(requirements.len());
    for (i, requirement) in requirements.into_iter().enumerate() {
        let at = format!("{prefix}security[{i}]");
        let Value::Object(requirement) = requirement else {
            return Err(type_error(&at, &requirement, "an object"));
        };
        let mut schemes = Map::new();
        for (name, scopes) in requirement {
            let all_strings = matches!(&scopes, Value::Array(s) if s.iter().all(Value::is_string));
            if !all_strings {
                return Err(type_error(
                    &format!("{at}.{name}"),
                    &scopes,
                    "an array of scopes",
                ));
            }
            schemes.insert(name, json!({ "list": scopes }));
        }
        converted.push(json!({ "schemes": schemes }));
    }
    object.insert("securityRequirements".into(), Value::Array(converted));
    Ok(())
}

/// An OpenAPI-style scheme (`{"type": "http", "scheme": "bearer"}`) → the v1.0 one-of
/// (`{"httpAuthSecurityScheme": {"scheme": "bearer"}}`). An unknown `type` is left as it is.
fn tag_scheme(scheme: &mut Map<String, Value>) {
    let kind = match scheme.get("type").and_then(Value::as_str) {
        Some("apiKey") => "apiKeySecurityScheme",
        Some("http") => "httpAuthSecurityScheme",
        Some("oauth2") => "oauth2SecurityScheme",
        Some("openIdConnect") => "openIdConnectSecurityScheme",
        Some("mutualTLS") => "mtlsSecurityScheme",
        _ => return,
    };
    scheme.remove("type");
    if let Some(location) = scheme.remove("in") {
        scheme.insert("location".into(), location);
    }
    let inner = std::mem::take(scheme);
    scheme.insert(kind.into(), Value::Object(inner));
}

fn take_string(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ParseError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(type_error(path, &other, "a string")),
    }
}

fn type_error(path: &str, found: &Value, expected: &str) -> ParseError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ParseError::new(path, format!("invalid type: {found}, expected {expected}"))
}
