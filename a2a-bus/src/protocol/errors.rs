//! The A2A error catalogue and its wire forms: a JSON-RPC error object per version and the
//! REST (HTTP+JSON) error body, read and written the way a2a-sdk 1.3.0 does.
//!
//! Sources (a2a-sdk 1.3.0): codes `utils/errors.py` `JSON_RPC_ERROR_CODE_MAP`; HTTP status,
//! gRPC status and `ErrorInfo.reason` `A2A_ERROR_MAPPING`; v1.0 JSON-RPC `data`
//! `utils/error_handlers.py` `build_error_details` (a `google.rpc.ErrorInfo` first, with the
//! error's data as `metadata`); the REST body `build_rest_error_payload`; v0.3 JSON-RPC
//! `compat/v0_3/jsonrpc_adapter.py` `_to_v03_jsonrpc_error` (no `ErrorInfo`, codes v0.3 lacks
//! become -32603). What a2a-sdk sends was checked against a running server (the `wire.json`
//! fixture of `tests/data/protocol`).

use std::fmt;

use serde_json::{Map, Value, json};

use crate::card::ProtocolVersion;

/// `@type` of the `google.rpc.ErrorInfo` detail.
pub const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// `ErrorInfo.domain` of A2A's errors.
pub const A2A_DOMAIN: &str = "a2a-protocol.org";
/// The content type of REST error bodies: a2a-sdk sends `application/json` there, while its
/// successful REST answers are `application/a2a+json`.
pub const REST_ERROR_CONTENT_TYPE: &str = "application/json";

/// The kinds of error A2A and JSON-RPC define, and `Other` for codes neither does (an agent's
/// own), which are relayed as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    Internal,
    TaskNotFound,
    TaskNotCancelable,
    PushNotificationNotSupported,
    UnsupportedOperation,
    ContentTypeNotSupported,
    InvalidAgentResponse,
    ExtendedAgentCardNotConfigured,
    ExtensionSupportRequired,
    VersionNotSupported,
    Other(i32),
}

const KNOWN: [ErrorKind; 14] = [
    ErrorKind::ParseError,
    ErrorKind::InvalidRequest,
    ErrorKind::MethodNotFound,
    ErrorKind::InvalidParams,
    ErrorKind::Internal,
    ErrorKind::TaskNotFound,
    ErrorKind::TaskNotCancelable,
    ErrorKind::PushNotificationNotSupported,
    ErrorKind::UnsupportedOperation,
    ErrorKind::ContentTypeNotSupported,
    ErrorKind::InvalidAgentResponse,
    ErrorKind::ExtendedAgentCardNotConfigured,
    ErrorKind::ExtensionSupportRequired,
    ErrorKind::VersionNotSupported,
];

impl ErrorKind {
    pub fn code(self) -> i32 {
        match self {
            Self::ParseError => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::Internal => -32603,
            Self::TaskNotFound => -32001,
            Self::TaskNotCancelable => -32002,
            Self::PushNotificationNotSupported => -32003,
            Self::UnsupportedOperation => -32004,
            Self::ContentTypeNotSupported => -32005,
            Self::InvalidAgentResponse => -32006,
            Self::ExtendedAgentCardNotConfigured => -32007,
            Self::ExtensionSupportRequired => -32008,
            Self::VersionNotSupported => -32009,
            Self::Other(code) => code,
        }
    }

    pub fn from_code(code: i32) -> Self {
        KNOWN
            .into_iter()
            .find(|kind| kind.code() == code)
            .unwrap_or(Self::Other(code))
    }

    /// `ErrorInfo.reason`. A parse error has none in a2a-sdk's table; its REST answer to an
    /// unreadable body says `INVALID_REQUEST`, so that is used. Unknown errors get a2a-sdk's
    /// fallback `UNKNOWN_ERROR`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::ParseError | Self::InvalidRequest => "INVALID_REQUEST",
            Self::MethodNotFound => "METHOD_NOT_FOUND",
            Self::InvalidParams => "INVALID_PARAMS",
            Self::Internal => "INTERNAL_ERROR",
            Self::TaskNotFound => "TASK_NOT_FOUND",
            Self::TaskNotCancelable => "TASK_NOT_CANCELABLE",
            Self::PushNotificationNotSupported => "PUSH_NOTIFICATION_NOT_SUPPORTED",
            Self::UnsupportedOperation => "UNSUPPORTED_OPERATION",
            Self::ContentTypeNotSupported => "CONTENT_TYPE_NOT_SUPPORTED",
            Self::InvalidAgentResponse => "INVALID_AGENT_RESPONSE",
            Self::ExtendedAgentCardNotConfigured => "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            Self::ExtensionSupportRequired => "EXTENSION_SUPPORT_REQUIRED",
            Self::VersionNotSupported => "VERSION_NOT_SUPPORTED",
            Self::Other(_) => "UNKNOWN_ERROR",
        }
    }

    /// The kind an `ErrorInfo.reason` names (`INVALID_REQUEST` reads as an invalid request).
    pub fn from_reason(reason: &str) -> Option<Self> {
        KNOWN
            .into_iter()
            .filter(|kind| *kind != Self::ParseError)
            .find(|kind| kind.reason() == reason)
    }

    /// The HTTP status of the REST answer (a2a-sdk `A2A_ERROR_MAPPING`; unknown errors 500).
    pub fn http_status(self) -> u16 {
        match self {
            Self::TaskNotFound | Self::MethodNotFound => 404,
            Self::InvalidAgentResponse | Self::Internal | Self::Other(_) => 500,
            _ => 400,
        }
    }

    /// The gRPC status name the REST body carries as `status`.
    pub fn grpc_status(self) -> &'static str {
        match self {
            Self::TaskNotFound | Self::MethodNotFound => "NOT_FOUND",
            Self::ContentTypeNotSupported
            | Self::InvalidParams
            | Self::InvalidRequest
            | Self::ParseError => "INVALID_ARGUMENT",
            Self::InvalidAgentResponse | Self::Internal | Self::Other(_) => "INTERNAL",
            _ => "FAILED_PRECONDITION",
        }
    }

    /// a2a-sdk's default message for the error.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::ParseError => "Parse error",
            Self::InvalidRequest => "Invalid Request",
            Self::MethodNotFound => "Method not found",
            Self::InvalidParams => "Invalid params",
            Self::Internal => "Internal error",
            Self::TaskNotFound => "Task not found",
            Self::TaskNotCancelable => "Task cannot be canceled",
            Self::PushNotificationNotSupported => "Push Notification is not supported",
            Self::UnsupportedOperation => "This operation is not supported",
            Self::ContentTypeNotSupported => "Incompatible content types",
            Self::InvalidAgentResponse => "Invalid agent response",
            Self::ExtendedAgentCardNotConfigured => "Authenticated Extended Card is not configured",
            Self::ExtensionSupportRequired => "Extension support required",
            Self::VersionNotSupported => "Version not supported",
            Self::Other(_) => "Error",
        }
    }

    /// Whether v0.3 defines the code: -32008 and -32009 are new in v1.0, and a2a-sdk answers
    /// v0.3 clients -32603 instead.
    pub fn in_v0_3(self) -> bool {
        !matches!(
            self,
            Self::ExtensionSupportRequired | Self::VersionNotSupported
        )
    }

    /// The class name a2a-python gives the error (v0.3-era REST bodies carried it as `type`).
    fn from_python_class(name: &str) -> Option<Self> {
        Some(match name {
            "JSONParseError" => Self::ParseError,
            "InvalidRequestError" => Self::InvalidRequest,
            "MethodNotFoundError" => Self::MethodNotFound,
            "InvalidParamsError" => Self::InvalidParams,
            "InternalError" => Self::Internal,
            "TaskNotFoundError" => Self::TaskNotFound,
            "TaskNotCancelableError" => Self::TaskNotCancelable,
            "PushNotificationNotSupportedError" => Self::PushNotificationNotSupported,
            "UnsupportedOperationError" => Self::UnsupportedOperation,
            "ContentTypeNotSupportedError" => Self::ContentTypeNotSupported,
            "InvalidAgentResponseError" => Self::InvalidAgentResponse,
            "ExtendedAgentCardNotConfiguredError"
            | "AuthenticatedExtendedCardNotConfiguredError" => Self::ExtendedAgentCardNotConfigured,
            "ExtensionSupportRequiredError" => Self::ExtensionSupportRequired,
            "VersionNotSupportedError" => Self::VersionNotSupported,
            _ => return None,
        })
    }
}

/// An A2A error: its kind, the message for the client, the `ErrorInfo.metadata` (v1.0) or the
/// `data` object (v0.3), and any further typed details of a v1.0 error (for example a
/// `google.rpc.BadRequest`), kept so that a relayed error loses nothing a v1.0 client reads.
#[derive(Debug, Clone, PartialEq)]
pub struct A2aError {
    pub kind: ErrorKind,
    pub message: String,
    pub metadata: Map<String, Value>,
    pub details: Vec<Value>,
}

impl A2aError {
    /// The error with a2a-sdk's default message.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            message: kind.default_message().to_owned(),
            metadata: Map::new(),
            details: Vec::new(),
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds an `ErrorInfo.metadata` entry (v0.3: a member of `data`).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    pub fn parse_error() -> Self {
        Self::new(ErrorKind::ParseError)
    }
    pub fn invalid_request() -> Self {
        Self::new(ErrorKind::InvalidRequest)
    }
    pub fn method_not_found() -> Self {
        Self::new(ErrorKind::MethodNotFound)
    }
    pub fn invalid_params() -> Self {
        Self::new(ErrorKind::InvalidParams)
    }
    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal)
    }
    pub fn task_not_found() -> Self {
        Self::new(ErrorKind::TaskNotFound)
    }
    pub fn task_not_cancelable() -> Self {
        Self::new(ErrorKind::TaskNotCancelable)
    }
    pub fn push_notification_not_supported() -> Self {
        Self::new(ErrorKind::PushNotificationNotSupported)
    }
    pub fn unsupported_operation() -> Self {
        Self::new(ErrorKind::UnsupportedOperation)
    }
    pub fn content_type_not_supported() -> Self {
        Self::new(ErrorKind::ContentTypeNotSupported)
    }
    pub fn invalid_agent_response() -> Self {
        Self::new(ErrorKind::InvalidAgentResponse)
    }
    pub fn extended_agent_card_not_configured() -> Self {
        Self::new(ErrorKind::ExtendedAgentCardNotConfigured)
    }
    pub fn extension_support_required() -> Self {
        Self::new(ErrorKind::ExtensionSupportRequired)
    }
    pub fn version_not_supported() -> Self {
        Self::new(ErrorKind::VersionNotSupported)
    }

    /// The JSON-RPC code sent to a client of `version` (v0.3 lacks -32008 and -32009).
    pub fn code(&self, version: ProtocolVersion) -> i32 {
        match version {
            ProtocolVersion::V0_3 if !self.kind.in_v0_3() => ErrorKind::Internal.code(),
            _ => self.kind.code(),
        }
    }

    /// The `google.rpc.ErrorInfo` detail, as a2a-sdk writes it (`metadata` always present).
    pub fn error_info(&self) -> Value {
        json!({
            "@type": ERROR_INFO_TYPE,
            "reason": self.kind.reason(),
            "domain": A2A_DOMAIN,
            "metadata": self.metadata,
        })
    }

    fn details_array(&self) -> Value {
        let mut details = Vec::with_capacity(1 + self.details.len());
        details.push(self.error_info());
        details.extend(self.details.iter().cloned());
        Value::Array(details)
    }

    /// The JSON-RPC error object for a client of `version`.
    ///
    /// v1.0: `data` is the array of typed details, `ErrorInfo` first. a2a-sdk's dispatcher
    /// sends parse errors and unknown methods without `data` (they come from its plain
    /// JSON-RPC models), and so does this, unless there is metadata to carry.
    /// v0.3: `data` is the metadata object when there is any; a2a-sdk sends `"data": null`
    /// for none, which means the same and is left out here.
    pub fn to_jsonrpc(&self, version: ProtocolVersion) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code(version).into());
        error.insert("message".into(), self.message.clone().into());
        match version {
            ProtocolVersion::V1_0 => {
                let bare = matches!(self.kind, ErrorKind::ParseError | ErrorKind::MethodNotFound)
                    && self.metadata.is_empty()
                    && self.details.is_empty();
                if !bare {
                    error.insert("data".into(), self.details_array());
                }
            }
            ProtocolVersion::V0_3 => {
                if !self.metadata.is_empty() {
                    error.insert("data".into(), Value::Object(self.metadata.clone()));
                }
            }
        }
        Value::Object(error)
    }

    /// The REST answer: HTTP status and body. Both versions get a2a-sdk 1.3.0's
    /// `google.rpc.Status`-shaped body `{"error": {code, status, message, details}}` (its v0.3
    /// REST adapter uses the same handler), sent as [`REST_ERROR_CONTENT_TYPE`].
    pub fn to_rest(&self) -> (u16, Value) {
        let status = self.kind.http_status();
        let body = json!({
            "error": {
                "code": status,
                "status": self.kind.grpc_status(),
                "message": self.message,
                "details": self.details_array(),
            }
        });
        (status, body)
    }

    /// Reads a JSON-RPC error object of either version. v1.0 `data` arrays give the
    /// `ErrorInfo` metadata (and the reason, when the code is not an A2A one) and keep the
    /// other details; a v0.3 `data` object is the metadata, any other `data` is kept under
    /// `metadata.data`.
    pub fn from_jsonrpc(error: &Value) -> Self {
        let code = error
            .get("code")
            .and_then(Value::as_i64)
            .and_then(|code| i32::try_from(code).ok())
            .unwrap_or(ErrorKind::Internal.code());
        let mut kind = ErrorKind::from_code(code);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| kind.default_message().to_owned());
        let mut out = Self {
            kind,
            message,
            metadata: Map::new(),
            details: Vec::new(),
        };
        match error.get("data") {
            None | Some(Value::Null) => {}
            Some(Value::Array(details)) => {
                if let Some(reason) = out.take_details(details)
                    && let ErrorKind::Other(_) = kind
                    && let Some(named) = ErrorKind::from_reason(&reason)
                {
                    kind = named;
                    out.kind = kind;
                }
            }
            Some(Value::Object(data)) => out.metadata = data.clone(),
            Some(other) => {
                out.metadata.insert("data".into(), other.clone());
            }
        }
        out
    }

    /// Reads an error answer of a REST agent: a2a-sdk 1.x's `{"error": {message, details}}`
    /// (the kind from `ErrorInfo.reason`), the v0.3-era `{"message", "type"?}` (the kind from
    /// a2a-python's class name), and failing both, the HTTP status.
    pub fn from_rest(status: u16, body: Option<&Value>) -> Self {
        let by_status = || match status {
            404 => ErrorKind::MethodNotFound,
            409 => ErrorKind::TaskNotCancelable,
            415 => ErrorKind::ContentTypeNotSupported,
            422 => ErrorKind::InvalidParams,
            400..=499 => ErrorKind::InvalidRequest,
            501 => ErrorKind::UnsupportedOperation,
            502 => ErrorKind::InvalidAgentResponse,
            _ => ErrorKind::Internal,
        };
        let Some(Value::Object(body)) = body else {
            return Self::new(by_status());
        };
        if let Some(Value::Object(error)) = body.get("error") {
            let mut out = Self::new(by_status());
            if let Some(Value::Array(details)) = error.get("details")
                && let Some(reason) = out.take_details(details)
                && let Some(kind) = ErrorKind::from_reason(&reason)
            {
                out.kind = kind;
            }
            if let Some(message) = error.get("message").and_then(Value::as_str) {
                out.message = message.to_owned();
            } else {
                out.message = out.kind.default_message().to_owned();
            }
            return out;
        }
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .and_then(ErrorKind::from_python_class)
            .unwrap_or_else(by_status);
        let mut out = Self::new(kind);
        if let Some(message) = body.get("message").and_then(Value::as_str) {
            out.message = message.to_owned();
        }
        out
    }

    /// Takes the `ErrorInfo` metadata and keeps the other details; returns the reason.
    fn take_details(&mut self, details: &[Value]) -> Option<String> {
        let mut reason = None;
        for detail in details {
            let is_info = reason.is_none()
                && detail.get("@type").and_then(Value::as_str) == Some(ERROR_INFO_TYPE);
            if is_info {
                reason = Some(
                    detail
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
                if let Some(Value::Object(metadata)) = detail.get("metadata") {
                    self.metadata = metadata.clone();
                }
            } else {
                self.details.push(detail.clone());
            }
        }
        reason
    }
}

impl fmt::Display for A2aError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.reason(),
            self.kind.code(),
            self.message
        )
    }
}

impl std::error::Error for A2aError {}
