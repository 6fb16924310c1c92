//! The A2A AgentCard: the v1.0 wire model (`lf.a2a.v1.AgentCard` in its JSON form), read from
//! v1.0 cards and from v0.3 cards (`v0_3`), which are normalized into it. Fields this model does
//! not name are kept in `extra` maps, so a card from a newer agent survives a round trip.
//!
//! Reading is lenient about fields the spec requires but the hub does not need (a card without
//! a `description` still parses); `validate` reports what would stop the hub from using it.

mod v0_3;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A problem: the JSON path of the offending field (empty for the card itself) and what is
/// wrong.
pub type Problem = (String, String);

/// The A2A protocol versions the hub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    V1_0,
    V0_3,
}

impl ProtocolVersion {
    /// `1`, `1.0`, `1.0.1`… → V1_0; from `0.3` up to 1.0 → V0_3 (as a2a-python reads them);
    /// anything else (0.2.x included) is not spoken.
    pub fn parse(version: &str) -> Option<Self> {
        let mut parts = version.trim().split('.');
        match (parts.next(), parts.next().map(str::parse::<u32>)) {
            (Some("1"), None | Some(Ok(_))) => Some(Self::V1_0),
            (Some("0"), Some(Ok(minor))) if minor >= 3 => Some(Self::V0_3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V0_3 => "0.3",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol bindings the hub can relay (gRPC is not one of them).
pub const SPOKEN_BINDINGS: [&str; 2] = ["JSONRPC", "HTTP+JSON"];

/// A self-describing manifest of an agent: who it is, where and how to reach it, what it can do.
/// Read cards with [`AgentCard::from_json`] or [`AgentCard::from_value`], which also read v0.3
/// cards; serialized, it is always a v1.0 card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentCard {
    pub name: String,
    pub description: String,
    /// The agent's own version, e.g. `1.2.0` (not the protocol's).
    pub version: String,
    /// Where and how the agent is reached, in order of preference.
    pub supported_interfaces: Vec<AgentInterface>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<AgentProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    pub capabilities: AgentCapabilities,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub security_schemes: BTreeMap<String, SecurityScheme>,
    /// Any one of these grants access; within one, every scheme named is needed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_requirements: Vec<SecurityRequirement>,
    /// Media types the agent accepts and produces, unless a skill says otherwise.
    pub default_input_modes: Vec<String>,
    pub default_output_modes: Vec<String>,
    pub skills: Vec<AgentSkill>,
    /// JWS signatures over the card (RFC 8785 canonical JSON without `signatures`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<AgentCardSignature>,
    /// Fields this model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The layout the card came in: a v0.3 card's interfaces came from `url`,
    /// `preferredTransport` and `additionalInterfaces`, which validation names.
    #[serde(skip)]
    layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Layout {
    #[default]
    V1_0,
    V0_3,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentInterface {
    pub url: String,
    /// `JSONRPC`, `GRPC`, `HTTP+JSON`, or another binding's name.
    pub protocol_binding: String,
    /// The A2A version spoken there: `1.0`, `0.3`.
    pub protocol_version: String,
    /// Sent in every request's `tenant` field when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AgentInterface {
    /// The protocol version, if the hub speaks it.
    pub fn version(&self) -> Option<ProtocolVersion> {
        ProtocolVersion::parse(&self.protocol_version)
    }

    /// Whether the hub can relay to this interface: a binding and a version it speaks.
    pub fn is_spoken(&self) -> bool {
        self.version().is_some()
            && SPOKEN_BINDINGS
                .iter()
                .any(|b| b.eq_ignore_ascii_case(&self.protocol_binding))
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentProvider {
    pub organization: String,
    pub url: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentCapabilities {
    /// `SendStreamingMessage` and `SubscribeToTask` are served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    /// Push-notification configs are accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_notifications: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<AgentExtension>,
    /// `GetExtendedAgentCard` answers authenticated callers with a fuller card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_agent_card: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentExtension {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentSkill {
    /// Unique within the card; what routing by skill (`skill:<id>`) names.
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Media types, overriding the card's defaults for this skill.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_modes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_modes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_requirements: Vec<SecurityRequirement>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One way in: the named schemes, each with the scopes it needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityRequirement {
    pub schemes: BTreeMap<String, Scopes>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Scopes {
    pub list: Vec<String>,
}

/// One of the schemes below (a protobuf `oneof`: exactly one field set). A scheme of a kind this
/// model does not know is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityScheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_security_scheme: Option<ApiKeyScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_auth_security_scheme: Option<HttpAuthScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_security_scheme: Option<OAuth2Scheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_id_connect_security_scheme: Option<OpenIdConnectScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls_security_scheme: Option<MtlsScheme>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiKeyScheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `header`, `query` or `cookie`.
    pub location: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpAuthScheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The `Authorization` scheme, e.g. `Bearer`.
    pub scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OAuth2Scheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub flows: OAuthFlows,
    /// RFC 8414 authorization server metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_metadata_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OAuthFlows {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<OAuthFlow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_credentials: Option<OAuthFlow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_code: Option<OAuthFlow>,
    /// Deprecated by the spec, still found on v0.3 cards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit: Option<OAuthFlow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<OAuthFlow>,
}

/// Any flow: each kind sets the URLs it has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OAuthFlow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// Scope → what it grants.
    pub scopes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pkce_required: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenIdConnectScheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub open_id_connect_url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MtlsScheme {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A JWS (RFC 7515, JSON form) over the card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentCardSignature {
    /// The base64url JWS protected header (`alg`, `kid`…).
    pub protected: String,
    /// The base64url signature.
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Map<String, Value>>,
}

/// Why a document could not be read as a card at all (see [`AgentCard::validate`] for cards
/// that parse but cannot be used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if path.is_empty() { message.clone() } else { format!("{path}: {message}") })]
pub struct ParseError {
    /// The JSON path of the offending field; empty for the document itself.
    pub path: String,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl AgentCard {
    /// Reads a card (v1.0 or v0.3) from JSON text.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ParseError::new("", format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Reads a card (v1.0 or v0.3) from a JSON value; a v0.3 card is normalized to v1.0.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        let Value::Object(mut object) = value else {
            return Err(ParseError::new("", "not a JSON object"));
        };
        let layout = if v0_3::is_v0_3(&object) {
            v0_3::normalize(&mut object)?;
            Layout::V0_3
        } else {
            Layout::V1_0
        };
        let mut card: AgentCard = serde_path_to_error::deserialize(Value::Object(object))
            .map_err(|e| ParseError::new(json_path(e.path()), e.inner().to_string()))?;
        card.layout = layout;
        Ok(card)
    }

    /// The first interface the hub can relay to, in the card's order of preference.
    pub fn preferred_interface(&self) -> Option<&AgentInterface> {
        self.supported_interfaces.iter().find(|i| i.is_spoken())
    }

    /// The A2A version the agent is spoken to in: its preferred interface's. A card without
    /// such an interface (which `validate` refuses) reports the version of its layout.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.preferred_interface()
            .and_then(AgentInterface::version)
            .unwrap_or(match self.layout {
                Layout::V1_0 => ProtocolVersion::V1_0,
                Layout::V0_3 => ProtocolVersion::V0_3,
            })
    }

    /// Every problem that stops the hub from using the card, each with its JSON path.
    pub fn validate(&self) -> Vec<Problem> {
        validate::validate(self)
    }
}

/// serde_path_to_error's path in this crate's notation: `skills[0].tags`.
fn json_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." { String::new() } else { text }
}

#[cfg(test)]
mod tests;
