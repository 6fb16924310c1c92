//! The GetExtendedAgentCard result between versions. v0.3 → v1.0 is the card module's own
//! normalization ([`AgentCard::from_value`]); v1.0 → v0.3 is written here after a2a-sdk 1.3.0's
//! `to_compat_agent_card`: the interfaces that speak 0.3 become `url`/`preferredTransport`/
//! `protocolVersion`/`additionalInterfaces`, `capabilities.extendedAgentCard` becomes
//! `supportsAuthenticatedExtendedCard`, `securityRequirements` the OpenAPI-style `security`, and
//! the one-of security schemes the `type`-tagged ones. Fields it does not name stay.

use serde_json::{Value, json};

use crate::card::{AgentCard, ProtocolVersion};

use super::super::json::{Invalid, Object, object_mut, rename, take};

pub(crate) fn card_to_v1(card: &mut Value) -> Result<(), Invalid> {
    let parsed = AgentCard::from_value(card.take()).map_err(|e| Invalid {
        path: e.path,
        message: e.message,
    })?;
    *card = serde_json::to_value(parsed).map_err(|e| Invalid::new(e.to_string()))?;
    Ok(())
}

/// Whether an interface speaks v0.3: a version from 0.3 up to 1.0, or none said (a2a-sdk's
/// `is_legacy_version`, with an empty version counted in).
fn speaks_v0_3(interface: &Value) -> bool {
    match interface.get("protocolVersion").and_then(Value::as_str) {
        None | Some("") => true,
        Some(version) => ProtocolVersion::parse(version) == Some(ProtocolVersion::V0_3),
    }
}

pub(crate) fn card_to_v0_3(card: &mut Value) -> Result<(), Invalid> {
    let card = object_mut(card)?;
    let interfaces = match take(card, "supportedInterfaces") {
        Some(Value::Array(interfaces)) => interfaces,
        _ => Vec::new(),
    };
    let mut legacy = interfaces.into_iter().filter(speaks_v0_3);
    let Some(primary) = legacy.next() else {
        return Err(
            Invalid::new("the card has no interface that speaks A2A 0.3").at("supportedInterfaces"),
        );
    };
    let text = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    card.insert("url".into(), text(&primary, "url").into());
    card.insert(
        "preferredTransport".into(),
        text(&primary, "protocolBinding").into(),
    );
    let version = match text(&primary, "protocolVersion") {
        version if version.is_empty() => "0.3".to_owned(),
        version => version,
    };
    card.insert("protocolVersion".into(), version.into());
    let additional: Vec<Value> = legacy
        .map(|interface| json!({"url": text(&interface, "url"), "transport": text(&interface, "protocolBinding")}))
        .collect();
    if !additional.is_empty() {
        card.insert("additionalInterfaces".into(), Value::Array(additional));
    }

    if let Some(Value::Object(capabilities)) = card.get_mut("capabilities")
        && let Some(extended) = take(capabilities, "extendedAgentCard")
    {
        card.insert("supportsAuthenticatedExtendedCard".into(), extended);
    }

    requirements_to_security(card).map_err(|e| e.at("securityRequirements"))?;
    if let Some(Value::Array(skills)) = card.get_mut("skills") {
        for (i, skill) in skills.iter_mut().enumerate() {
            if let Value::Object(skill) = skill {
                requirements_to_security(skill).map_err(|e| {
                    e.at("securityRequirements")
                        .at(format!("[{i}]"))
                        .at("skills")
                })?;
            }
        }
    }
    if let Some(Value::Object(schemes)) = card.get_mut("securitySchemes") {
        for scheme in schemes.values_mut() {
            if let Value::Object(scheme) = scheme {
                untag_scheme(scheme);
            }
        }
    }
    Ok(())
}

/// `securityRequirements: [{"schemes": {"name": {"list": [scopes]}}}]` → `security: [{"name":
/// [scopes]}]`.
fn requirements_to_security(object: &mut Object) -> Result<(), Invalid> {
    let Some(requirements) = take(object, "securityRequirements") else {
        return Ok(());
    };
    let Value::Array(requirements) = requirements else {
        return Err(Invalid::new("expected an array"));
    };
    let mut security = Vec::with_capacity(requirements.len());
    for requirement in requirements {
        let mut flat = Object::new();
        if let Some(Value::Object(schemes)) = requirement.get("schemes") {
            for (name, scopes) in schemes {
                let list = scopes.get("list").cloned().unwrap_or_else(|| json!([]));
                flat.insert(name.clone(), list);
            }
        }
        security.push(Value::Object(flat));
    }
    object.insert("security".into(), Value::Array(security));
    Ok(())
}

/// `{"httpAuthSecurityScheme": {"scheme": "bearer"}}` → `{"type": "http", "scheme": "bearer"}`
/// (the inverse of the card module's `tag_scheme`). v0.3 has no device-code flow; a2a-sdk drops
/// it, and so does this.
fn untag_scheme(scheme: &mut Object) {
    const TAGS: [(&str, &str); 5] = [
        ("apiKeySecurityScheme", "apiKey"),
        ("httpAuthSecurityScheme", "http"),
        ("oauth2SecurityScheme", "oauth2"),
        ("openIdConnectSecurityScheme", "openIdConnect"),
        ("mtlsSecurityScheme", "mutualTLS"),
    ];
    let Some((member, tag)) = TAGS.iter().find(|(member, _)| scheme.contains_key(*member)) else {
        return;
    };
    let Some(Value::Object(mut inner)) = scheme.remove(*member) else {
        return;
    };
    rename(&mut inner, "location", "in");
    if let Some(Value::Object(flows)) = inner.get_mut("flows") {
        flows.remove("deviceCode");
    }
    inner.insert("type".into(), Value::String((*tag).to_owned()));
    for (key, value) in inner {
        scheme.insert(key, value);
    }
}
