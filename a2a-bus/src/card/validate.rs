//! What makes a parsed card unusable, each problem at its JSON path. Paths name the fields as
//! the card wrote them, so a v0.3 card's problems are reported at v0.3 paths (`url`,
//! `additionalInterfaces[0].transport`, `security[0].oauth`).

use std::collections::BTreeMap;

use super::{AgentCard, Layout, Problem, ProtocolVersion, SPOKEN_BINDINGS, SecurityRequirement};

pub(super) fn validate(card: &AgentCard) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut err = |path: String, message: String| problems.push((path, message));
    let v0_3 = card.layout == Layout::V0_3;

    if card.name.trim().is_empty() {
        err("name".into(), "is required".into());
    }
    check_interfaces(card, &mut err);
    for (path, url) in [
        ("documentationUrl", card.documentation_url.as_deref()),
        (
            "provider.url",
            card.provider.as_ref().map(|p| p.url.as_str()),
        ),
    ] {
        if let Some(url) = url.filter(|u| !u.is_empty())
            && let Err(message) = check_http_url(url)
        {
            err(path.into(), message);
        }
    }
    // A small icon may be inline.
    if let Some(icon) = card.icon_url.as_deref().filter(|u| !u.starts_with("data:"))
        && let Err(message) = check_http_url(icon)
    {
        err("iconUrl".into(), message);
    }

    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, skill) in card.skills.iter().enumerate() {
        if skill.id.trim().is_empty() {
            err(format!("skills[{i}].id"), "is required".into());
        } else if let Some(first) = ids.insert(&skill.id, i) {
            err(
                format!("skills[{i}].id"),
                format!("\"{}\" is also the id of skills[{first}]", skill.id),
            );
        }
        if skill.name.trim().is_empty() {
            err(format!("skills[{i}].name"), "is required".into());
        }
        check_requirements(
            card,
            &skill.security_requirements,
            &format!("skills[{i}]."),
            &mut err,
        );
    }
    check_requirements(card, &card.security_requirements, "", &mut err);
    for (name, scheme) in &card.security_schemes {
        // A v0.3 scheme's fields sit on the scheme itself, and `location` was `in`.
        let at = |kind: &str, field: &str| {
            if v0_3 {
                let field = if field == "location" { "in" } else { field };
                format!("securitySchemes.{name}.{field}")
            } else {
                format!("securitySchemes.{name}.{kind}.{field}")
            }
        };
        let set = [
            scheme.api_key_security_scheme.is_some(),
            scheme.http_auth_security_scheme.is_some(),
            scheme.oauth2_security_scheme.is_some(),
            scheme.open_id_connect_security_scheme.is_some(),
            scheme.mtls_security_scheme.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if set > 1 {
            err(
                format!("securitySchemes.{name}"),
                "sets more than one kind of scheme".into(),
            );
        } else if set == 0 && scheme.extra.is_empty() {
            err(format!("securitySchemes.{name}"), "is empty".into());
        }
        if let Some(api_key) = &scheme.api_key_security_scheme {
            let kind = "apiKeySecurityScheme";
            if !matches!(api_key.location.as_str(), "header" | "query" | "cookie") {
                err(
                    at(kind, "location"),
                    format!("\"{}\" is not header, query or cookie", api_key.location),
                );
            }
            if api_key.name.is_empty() {
                err(at(kind, "name"), "is required".into());
            }
        }
        if let Some(http) = &scheme.http_auth_security_scheme
            && http.scheme.is_empty()
        {
            err(at("httpAuthSecurityScheme", "scheme"), "is required".into());
        }
        if let Some(oidc) = &scheme.open_id_connect_security_scheme {
            let path = at("openIdConnectSecurityScheme", "openIdConnectUrl");
            if oidc.open_id_connect_url.is_empty() {
                err(path, "is required".into());
            } else if let Err(message) = check_http_url(&oidc.open_id_connect_url) {
                err(path, message);
            }
        }
        if let Some(oauth) = &scheme.oauth2_security_scheme {
            let kind = "oauth2SecurityScheme";
            let flows = &oauth.flows;
            let mut urls = vec![("oauth2MetadataUrl".to_owned(), &oauth.oauth2_metadata_url)];
            for (flow_name, flow) in [
                ("authorizationCode", &flows.authorization_code),
                ("clientCredentials", &flows.client_credentials),
                ("deviceCode", &flows.device_code),
                ("implicit", &flows.implicit),
                ("password", &flows.password),
            ] {
                let Some(flow) = flow else { continue };
                for (field, url) in [
                    ("authorizationUrl", &flow.authorization_url),
                    ("deviceAuthorizationUrl", &flow.device_authorization_url),
                    ("tokenUrl", &flow.token_url),
                    ("refreshUrl", &flow.refresh_url),
                ] {
                    urls.push((format!("flows.{flow_name}.{field}"), url));
                }
            }
            for (field, url) in urls {
                if let Some(url) = url
                    && let Err(message) = check_http_url(url)
                {
                    err(at(kind, &field), message);
                }
            }
        }
    }
    for (i, signature) in card.signatures.iter().enumerate() {
        for (field, value) in [
            ("protected", &signature.protected),
            ("signature", &signature.signature),
        ] {
            if value.is_empty() {
                err(format!("signatures[{i}].{field}"), "is required".into());
            } else if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                err(
                    format!("signatures[{i}].{field}"),
                    "is not base64url (A-Z, a-z, 0-9, '-', '_', no padding)".into(),
                );
            }
        }
    }
    problems
}

/// Each interface complete with an http(s) URL, and at least one the hub speaks.
fn check_interfaces(card: &AgentCard, err: &mut dyn FnMut(String, String)) {
    let v0_3 = card.layout == Layout::V0_3;
    // Where interface i's field was written: v0.3 cards have a main interface and then
    // `additionalInterfaces` (see v0_3::normalize), all at the card's `protocolVersion`.
    let at = |i: usize, field: &str| -> String {
        match (v0_3, i, field) {
            (false, _, _) => format!("supportedInterfaces[{i}].{field}"),
            (true, _, "protocolVersion") => "protocolVersion".into(),
            (true, 0, "protocolBinding") => "preferredTransport".into(),
            (true, 0, _) => field.into(),
            (true, _, "protocolBinding") => format!("additionalInterfaces[{}].transport", i - 1),
            (true, _, _) => format!("additionalInterfaces[{}].{field}", i - 1),
        }
    };
    if card.supported_interfaces.is_empty() {
        err(
            "supportedInterfaces".into(),
            "is required: at least one {url, protocolBinding, protocolVersion}".into(),
        );
        return;
    }
    let mut complete = true;
    for (i, interface) in card.supported_interfaces.iter().enumerate() {
        if interface.url.is_empty() {
            err(at(i, "url"), "is required".into());
        } else if let Err(message) = check_http_url(&interface.url) {
            err(at(i, "url"), message);
        }
        for (field, value) in [
            ("protocolBinding", &interface.protocol_binding),
            ("protocolVersion", &interface.protocol_version),
        ] {
            // A v0.3 card's one version is reported once.
            if value.is_empty() && !(v0_3 && field == "protocolVersion" && i > 0) {
                err(at(i, field), "is required".into());
            }
            complete &= !value.is_empty();
        }
    }
    if !complete || card.supported_interfaces.iter().any(|i| i.is_spoken()) {
        return;
    }
    let bindings = SPOKEN_BINDINGS.join(" or ");
    let versions = [ProtocolVersion::V1_0, ProtocolVersion::V0_3].map(ProtocolVersion::as_str);
    let first = &card.supported_interfaces[0];
    if v0_3 && first.version().is_none() {
        err(
            "protocolVersion".into(),
            format!(
                "\"{}\" is not a version the hub speaks ({})",
                first.protocol_version,
                versions.join(" or ")
            ),
        );
    } else {
        err(
            if v0_3 {
                "preferredTransport".into()
            } else {
                "supportedInterfaces".into()
            },
            format!(
                "no interface the hub can speak: it needs {bindings} at protocol version {}",
                versions.join(" or ")
            ),
        );
    }
}

/// Every scheme a requirement names is declared in `securitySchemes`.
fn check_requirements(
    card: &AgentCard,
    requirements: &[SecurityRequirement],
    prefix: &str,
    err: &mut dyn FnMut(String, String),
) {
    for (i, requirement) in requirements.iter().enumerate() {
        for name in requirement.schemes.keys() {
            if !card.security_schemes.contains_key(name) {
                let path = if card.layout == Layout::V0_3 {
                    format!("{prefix}security[{i}].{name}")
                } else {
                    format!("{prefix}securityRequirements[{i}].schemes.{name}")
                };
                err(path, format!("\"{name}\" is not in securitySchemes"));
            }
        }
    }
}

/// An absolute http(s) URL naming a host, without credentials in it.
fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("\"{url}\" must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "\"{url}\" must name a host, without credentials in it"
        ));
    }
    http::Uri::try_from(url).map_err(|e| format!("\"{url}\" is not a valid URL: {e}"))?;
    Ok(())
}
