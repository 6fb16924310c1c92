use serde_json::{Value, json};

use super::*;

/// A v1.0 card as an agent serves it, after the spec's sample (§8.5), with a field of a newer
/// spec at the top and in a skill.
fn v1_card() -> Value {
    json!({
        "name": "GeoSpatial Route Planner Agent",
        "description": "Provides advanced route planning, traffic analysis, and custom map generation services.",
        "version": "1.2.0",
        "supportedInterfaces": [
            {"url": "https://georoute-agent.example.com/a2a/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
            {"url": "https://georoute-agent.example.com/a2a/v1", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "https://georoute-agent.example.com/a2a/json", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0", "tenant": "eu"}
        ],
        "provider": {"organization": "Example Geo Services Inc.", "url": "https://www.examplegeoservices.com"},
        "iconUrl": "https://georoute-agent.example.com/icon.png",
        "documentationUrl": "https://docs.examplegeoservices.com/georoute-agent/api",
        "capabilities": {
            "streaming": true,
            "pushNotifications": true,
            "extendedAgentCard": true,
            "extensions": [{"uri": "https://example.com/ext/geo/v1", "description": "Coordinates", "required": true}]
        },
        "securitySchemes": {
            "google": {"openIdConnectSecurityScheme": {"openIdConnectUrl": "https://accounts.google.com/.well-known/openid-configuration"}},
            "key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Api-Key"}},
            "corp": {"oauth2SecurityScheme": {"flows": {"clientCredentials": {"tokenUrl": "https://idp.example.com/token", "scopes": {"routes": "plan routes"}}}}}
        },
        "securityRequirements": [
            {"schemes": {"google": {"list": ["openid", "profile", "email"]}}},
            {"schemes": {"key": {"list": []}}}
        ],
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json", "image/png"],
        "skills": [
            {
                "id": "route-optimizer-traffic",
                "name": "Traffic-Aware Route Optimizer",
                "description": "Calculates the optimal driving route between two or more locations.",
                "tags": ["maps", "routing", "navigation", "directions", "traffic"],
                "examples": ["Plan a route from Mountain View to SFO avoiding tolls."],
                "inputModes": ["application/json", "text/plain"],
                "outputModes": ["application/json", "application/vnd.geo+json", "text/html"],
                "securityRequirements": [{"schemes": {"corp": {"list": ["routes"]}}}],
                "x-cost-class": "premium"
            },
            {
                "id": "custom-map-generator",
                "name": "Personalized Map Generator",
                "description": "Creates custom map images or interactive map views.",
                "tags": ["maps", "customization", "visualization", "cartography"],
                "inputModes": ["application/json"],
                "outputModes": ["image/png", "image/jpeg", "application/json", "text/html"]
            }
        ],
        "signatures": [{
            "protected": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpPU0UiLCJraWQiOiJrZXktMSIsImprdSI6Imh0dHBzOi8vZXhhbXBsZS5jb20vYWdlbnQvandrcy5qc29uIn0",
            "signature": "QFdkNLNszlGj3z3u0YQGt_T9LixY3qtdQpZmsTdDHDe3fXV9y9-B3m2-XgCpzuhiLt8E0tV6HXoZKHv4GtHgKQ"
        }],
        "x-registry": {"listed": true}
    })
}

/// A v0.3 card as a2a-python 0.3 agents serve it, after the v0.3 spec's sample (§5.7).
fn v0_3_card() -> Value {
    json!({
        "protocolVersion": "0.3.0",
        "name": "GeoSpatial Route Planner Agent",
        "description": "Provides advanced route planning, traffic analysis, and custom map generation services.",
        "url": "https://georoute-agent.example.com/a2a/v1",
        "preferredTransport": "JSONRPC",
        "additionalInterfaces": [
            {"url": "https://georoute-agent.example.com/a2a/v1", "transport": "JSONRPC"},
            {"url": "https://georoute-agent.example.com/a2a/grpc", "transport": "GRPC"},
            {"url": "https://georoute-agent.example.com/a2a/json", "transport": "HTTP+JSON"}
        ],
        "provider": {"organization": "Example Geo Services Inc.", "url": "https://www.examplegeoservices.com"},
        "version": "1.2.0",
        "capabilities": {"streaming": true, "pushNotifications": true, "stateTransitionHistory": false},
        "securitySchemes": {
            "google": {"type": "openIdConnect", "openIdConnectUrl": "https://accounts.google.com/.well-known/openid-configuration"},
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "issued on request"}
        },
        "security": [{"google": ["openid", "profile", "email"]}],
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json", "image/png"],
        "skills": [
            {
                "id": "route-optimizer-traffic",
                "name": "Traffic-Aware Route Optimizer",
                "description": "Calculates the optimal driving route between two or more locations.",
                "tags": ["maps", "routing"],
                "security": [{"key": []}]
            }
        ],
        "supportsAuthenticatedExtendedCard": true
    })
}

#[test]
fn a_v1_card_is_read_whole_and_written_back_unchanged() {
    let card = AgentCard::from_value(v1_card()).unwrap();
    assert_eq!(card.validate(), Vec::<Problem>::new());
    assert_eq!(card.protocol_version(), ProtocolVersion::V1_0);
    // The first interface is gRPC, which the hub does not relay.
    let preferred = card.preferred_interface().unwrap();
    assert_eq!(preferred.url, "https://georoute-agent.example.com/a2a/v1");
    assert_eq!(card.supported_interfaces[2].tenant.as_deref(), Some("eu"));
    assert_eq!(card.capabilities.extended_agent_card, Some(true));
    assert!(card.capabilities.extensions[0].required);
    assert_eq!(card.skills[0].tags.len(), 5);
    assert_eq!(card.skills[0].extra["x-cost-class"], "premium");
    assert_eq!(card.extra["x-registry"], json!({"listed": true}));
    let corp = card.security_schemes["corp"]
        .oauth2_security_scheme
        .as_ref();
    let flow = corp.unwrap().flows.client_credentials.as_ref().unwrap();
    assert_eq!(
        flow.token_url.as_deref(),
        Some("https://idp.example.com/token")
    );
    assert_eq!(
        card.security_requirements[0].schemes["google"].list,
        ["openid", "profile", "email"]
    );
    assert_eq!(serde_json::to_value(&card).unwrap(), v1_card());
}

#[test]
fn a_v0_3_card_is_normalized_to_v1() {
    let card = AgentCard::from_value(v0_3_card()).unwrap();
    assert_eq!(card.validate(), Vec::<Problem>::new());
    assert_eq!(card.protocol_version(), ProtocolVersion::V0_3);
    let interfaces: Vec<_> = card
        .supported_interfaces
        .iter()
        .map(|i| {
            (
                i.url.as_str(),
                i.protocol_binding.as_str(),
                i.protocol_version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        interfaces,
        [
            (
                "https://georoute-agent.example.com/a2a/v1",
                "JSONRPC",
                "0.3.0"
            ),
            (
                "https://georoute-agent.example.com/a2a/v1",
                "JSONRPC",
                "0.3.0"
            ),
            (
                "https://georoute-agent.example.com/a2a/grpc",
                "GRPC",
                "0.3.0"
            ),
            (
                "https://georoute-agent.example.com/a2a/json",
                "HTTP+JSON",
                "0.3.0"
            ),
        ]
    );
    assert_eq!(card.capabilities.extended_agent_card, Some(true));
    assert_eq!(
        card.capabilities.extra["stateTransitionHistory"],
        json!(false)
    );
    let key = card.security_schemes["key"]
        .api_key_security_scheme
        .as_ref()
        .unwrap();
    assert_eq!(
        (key.location.as_str(), key.name.as_str()),
        ("header", "X-Api-Key")
    );
    assert!(
        card.security_schemes["google"]
            .open_id_connect_security_scheme
            .is_some()
    );
    assert_eq!(
        card.security_requirements[0].schemes["google"].list,
        ["openid", "profile", "email"]
    );
    assert!(
        card.skills[0].security_requirements[0].schemes["key"]
            .list
            .is_empty()
    );

    // Written out, it is a v1.0 card: none of v0.3's own fields are left.
    let written = serde_json::to_value(&card).unwrap();
    for gone in [
        "url",
        "preferredTransport",
        "protocolVersion",
        "additionalInterfaces",
        "security",
        "supportsAuthenticatedExtendedCard",
    ] {
        assert!(written.get(gone).is_none(), "{gone} left in {written:#}");
    }
    assert_eq!(
        written["securitySchemes"]["key"],
        json!({"apiKeySecurityScheme": {"location": "header", "name": "X-Api-Key", "description": "issued on request"}})
    );
    // And read again, it is the same card, now of the v1.0 layout.
    let again = AgentCard::from_value(written).unwrap();
    assert_eq!(again.protocol_version(), ProtocolVersion::V0_3);
    assert_eq!(again.supported_interfaces, card.supported_interfaces);
}

#[test]
fn the_preferred_interface_decides_the_version_spoken() {
    let mut value = v1_card();
    value["supportedInterfaces"] = json!([
        {"url": "https://a.example.com/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        {"url": "https://a.example.com/v2", "protocolBinding": "JSONRPC", "protocolVersion": "2.0"},
        {"url": "https://a.example.com/legacy", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        {"url": "https://a.example.com/v1", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}
    ]);
    let card = AgentCard::from_value(value).unwrap();
    assert_eq!(card.validate(), Vec::<Problem>::new());
    assert_eq!(
        card.preferred_interface().unwrap().url,
        "https://a.example.com/legacy"
    );
    assert_eq!(card.protocol_version(), ProtocolVersion::V0_3);
}

#[test]
fn protocol_versions() {
    for (text, version) in [
        ("1.0", Some(ProtocolVersion::V1_0)),
        ("1", Some(ProtocolVersion::V1_0)),
        ("1.0.1", Some(ProtocolVersion::V1_0)),
        ("0.3", Some(ProtocolVersion::V0_3)),
        ("0.3.0", Some(ProtocolVersion::V0_3)),
        ("0.2.9", None),
        ("2.0", None),
        ("1.x", None),
        ("", None),
    ] {
        assert_eq!(ProtocolVersion::parse(text), version, "{text:?}");
    }
}

/// What reading and validating `value` reports: the parse error, or every problem.
fn problems_of(value: Value) -> Vec<String> {
    match AgentCard::from_value(value) {
        Err(e) => vec![format!("parse: {e}")],
        Ok(card) => card
            .validate()
            .into_iter()
            .map(|(path, message)| format!("{path}: {message}"))
            .collect(),
    }
}

/// `base` with `changes` merged in at the top level (a null removes the field).
fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            base.as_object_mut().unwrap().remove(key);
        } else {
            base[key] = value.clone();
        }
    }
    base
}

/// Data-driven: each card and everything it must be refused for, in order.
#[test]
fn every_problem_is_reported_at_its_path() {
    let skill = |id: &str| json!({"id": id, "name": "n", "description": "d", "tags": []});
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"description": "nameless", "skills": []}),
            &[
                "name: is required",
                "supportedInterfaces: is required: at least one {url, protocolBinding, protocolVersion}",
            ],
        ),
        // No skills is allowed; a skill without id, or two with one id, is not.
        (with(v1_card(), json!({"skills": []})), &[]),
        (
            with(
                v1_card(),
                json!({"skills": [skill("a"), skill(""), skill("a"), {"id": "b", "tags": []}]}),
            ),
            &[
                "skills[1].id: is required",
                "skills[2].id: \"a\" is also the id of skills[0]",
                "skills[3].name: is required",
            ],
        ),
        (
            with(
                v1_card(),
                json!({
                    "supportedInterfaces": [
                        {"url": "ftp://a.example.com/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
                        {"url": "https://user:pw@a.example.com/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
                        {"url": "", "protocolBinding": "", "protocolVersion": "1.0"}
                    ],
                    "documentationUrl": "docs.example.com",
                    "provider": {"organization": "x", "url": "javascript:alert(1)"},
                    "iconUrl": "data:image/png;base64,iVBORw0KGgo="
                }),
            ),
            &[
                "supportedInterfaces[0].url: \"ftp://a.example.com/a2a\" must start with https:// or http://",
                "supportedInterfaces[1].url: \"https://user:pw@a.example.com/a2a\" must name a host, without credentials in it",
                "supportedInterfaces[2].url: is required",
                "supportedInterfaces[2].protocolBinding: is required",
                "documentationUrl: \"docs.example.com\" must start with https:// or http://",
                "provider.url: \"javascript:alert(1)\" must start with https:// or http://",
            ],
        ),
        (
            with(
                v1_card(),
                json!({"supportedInterfaces": [
                    {"url": "https://a.example.com/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
                    {"url": "https://a.example.com/v2", "protocolBinding": "JSONRPC", "protocolVersion": "2.0"}
                ]}),
            ),
            &[
                "supportedInterfaces: no interface the hub can speak: it needs JSONRPC or HTTP+JSON at protocol version 1.0 or 0.3",
            ],
        ),
        (
            with(
                v1_card(),
                json!({
                    "securitySchemes": {
                        "key": {"apiKeySecurityScheme": {"location": "body", "name": ""}},
                        "both": {"mtlsSecurityScheme": {}, "httpAuthSecurityScheme": {"scheme": "Bearer"}},
                        "oidc": {"openIdConnectSecurityScheme": {}},
                        "corp": {"oauth2SecurityScheme": {"flows": {"authorizationCode": {"authorizationUrl": "/authorize", "tokenUrl": "https://idp/token"}}}},
                        "none": {},
                        "future": {"quantumSecurityScheme": {"entangled": true}}
                    },
                    "securityRequirements": [{"schemes": {"key": {"list": []}, "google": {"list": ["openid"]}}}]
                }),
            ),
            &[
                "securityRequirements[0].schemes.google: \"google\" is not in securitySchemes",
                "securitySchemes.both: sets more than one kind of scheme",
                "securitySchemes.corp.oauth2SecurityScheme.flows.authorizationCode.authorizationUrl: \"/authorize\" must start with https:// or http://",
                "securitySchemes.key.apiKeySecurityScheme.location: \"body\" is not header, query or cookie",
                "securitySchemes.key.apiKeySecurityScheme.name: is required",
                "securitySchemes.none: is empty",
                "securitySchemes.oidc.openIdConnectSecurityScheme.openIdConnectUrl: is required",
            ],
        ),
        (
            with(
                v1_card(),
                json!({"signatures": [{"protected": "eyJ=", "signature": ""}]}),
            ),
            &[
                "signatures[0].protected: is not base64url (A-Z, a-z, 0-9, '-', '_', no padding)",
                "signatures[0].signature: is required",
            ],
        ),
        // v0.3 cards are reported at v0.3 paths.
        (
            with(
                v0_3_card(),
                json!({
                    "url": null,
                    "additionalInterfaces": [{"url": "https://a.example.com/json"}],
                    "securitySchemes": {"key": {"type": "apiKey", "in": "body", "name": "k"}},
                    "security": [{"google": []}]
                }),
            ),
            &[
                "url: is required",
                "additionalInterfaces[0].transport: is required",
                "security[0].google: \"google\" is not in securitySchemes",
                "securitySchemes.key.in: \"body\" is not header, query or cookie",
            ],
        ),
        (
            with(v0_3_card(), json!({"protocolVersion": "0.2.9"})),
            &["protocolVersion: \"0.2.9\" is not a version the hub speaks (1.0 or 0.3)"],
        ),
        (
            with(
                v0_3_card(),
                json!({"preferredTransport": "GRPC", "additionalInterfaces": null}),
            ),
            &[
                "preferredTransport: no interface the hub can speak: it needs JSONRPC or HTTP+JSON at protocol version 1.0 or 0.3",
            ],
        ),
        // Documents that are not cards at all.
        (json!(["a card?"]), &["parse: not a JSON object"]),
        (
            with(
                v1_card(),
                json!({"skills": [{"id": "a", "name": "n", "tags": "maps"}]}),
            ),
            &["parse: skills[0].tags: invalid type: string \"maps\", expected a sequence"],
        ),
        (
            with(v0_3_card(), json!({"url": 5})),
            &["parse: url: invalid type: a number, expected a string"],
        ),
        (
            with(v0_3_card(), json!({"security": [{"google": "openid"}]})),
            &["parse: security[0].google: invalid type: a string, expected an array of scopes"],
        ),
        (
            with(
                v0_3_card(),
                json!({"additionalInterfaces": [{"url": "https://a", "transport": 1}]}),
            ),
            &[
                "parse: additionalInterfaces[0].transport: invalid type: a number, expected a string",
            ],
        ),
    ];
    for (value, expected) in cases {
        let got = problems_of(value.clone());
        assert_eq!(got, *expected, "card: {value:#}");
    }
}

#[test]
fn text_that_is_not_json_is_not_a_card() {
    let error = AgentCard::from_json(b"<!doctype html><html></html>").unwrap_err();
    assert_eq!(error.path, "");
    assert!(
        error
            .to_string()
            .starts_with("not JSON: expected value at line 1 column 1"),
        "{error}"
    );
    let card = AgentCard::from_json(v1_card().to_string().as_bytes()).unwrap();
    assert_eq!(card.name, "GeoSpatial Route Planner Agent");
}
