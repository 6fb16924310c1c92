//! The Azure OpenAI adapter: OpenAI's Chat Completions and Embeddings protocol, reached through
//! a resource's deployments (`{base}/openai/deployments/{deployment}/…?api-version=…`) with an
//! `api-key`. Encoding and decoding are the OpenAI adapter's; this adapter adds the URL, the
//! credential and Azure's error and content-filter answers.
//!
//! The bodies need API version 2024-09-01-preview or later (`max_completion_tokens`,
//! `stream_options`); [`AZURE_API_VERSION`], the default, is the current GA version.

use serde_json::Value;

use super::openai::OpenAiAdapter;
use super::{Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest};
use crate::error::{Error, Result};
use crate::model::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse};
use crate::params::{ModelProfile, Provider, Translated};

/// The `api-version` sent unless the provider's options name another: the latest GA version of
/// the data-plane inference API.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// OpenAI models deployed in an Azure OpenAI resource.
#[derive(Debug, Clone, Copy)]
pub struct AzureOpenAiAdapter {
    openai: OpenAiAdapter,
}

impl AzureOpenAiAdapter {
    pub fn new() -> Self {
        Self {
            openai: OpenAiAdapter::new(),
        }
    }
}

impl Default for AzureOpenAiAdapter {
    fn default() -> Self {
        Self::new()
    }
}

/// A deployment name or API version goes into the URL as is: only the characters Azure allows
/// in them are accepted.
fn url_safe(value: &str, what: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "Azure OpenAI {what} {value:?} is not a valid name (letters, digits, '-', '_', '.')"
        )))
    }
}

impl ProviderAdapter for AzureOpenAiAdapter {
    /// The wire protocol: Azure OpenAI speaks OpenAI's.
    fn provider(&self) -> Provider {
        Provider::OpenAi
    }

    /// `{base}/openai/deployments/{deployment}/chat/completions?api-version={v}` (and
    /// `/embeddings`), the model being the deployment's name and the base the resource's
    /// endpoint (`https://{resource}.openai.azure.com`); the key in `api-key`; `api-version`
    /// from the options, [`AZURE_API_VERSION`] by default.
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let base = call.base_url.trim_end_matches('/');
        if base.is_empty() {
            return Err(Error::Setup(
                "Azure OpenAI needs the resource's endpoint as the base URL \
                 (https://{resource}.openai.azure.com)"
                    .into(),
            ));
        }
        let version = call
            .options
            .api_version
            .as_deref()
            .unwrap_or(AZURE_API_VERSION);
        url_safe(call.model, "deployment")?;
        url_safe(version, "api-version")?;
        let operation = match call.operation {
            Operation::Chat { .. } => "chat/completions",
            Operation::Embeddings => "embeddings",
        };
        let url = format!(
            "{base}/openai/deployments/{}/{operation}?api-version={version}",
            call.model
        );
        let request = UpstreamRequest::json(call, url, body);
        Ok(match call.credential.api_key(Provider::OpenAi)? {
            Some(key) => request.header("api-key", key),
            None => request,
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        self.openai.encode_request(request, profile)
    }

    fn encode_request_body(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Vec<u8>>> {
        self.openai.encode_request_body(request, profile)
    }

    /// Azure's additions (`prompt_filter_results`, `content_filter_results`) are annotations;
    /// a filtered answer says so in its `finish_reason: content_filter`.
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        self.openai.decode_response(body)
    }

    /// Azure's streams open with a chunk that has no id and no choices, only
    /// `prompt_filter_results`, and may send filter annotations after a choice finished; the
    /// OpenAI decoder passes over both.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        self.openai.stream_decoder()
    }

    /// OpenAI's error body, or Azure API Management's `{"statusCode", "message"}`. A prompt
    /// refused by the content filter is a 400 `content_filter` naming `prompt`: the caller's
    /// `messages`.
    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        match self.openai.decode_error(status, body) {
            Error::Provider(mut error) => {
                if error.code.as_deref() == Some("content_filter")
                    && error.param.as_deref() == Some("prompt")
                {
                    error.param = Some("messages".to_owned());
                }
                Error::Provider(error)
            }
            other => other,
        }
    }

    fn has_embeddings(&self) -> bool {
        true
    }

    fn encode_embeddings(
        &self,
        request: &EmbeddingsRequest,
        profile: &ModelProfile,
    ) -> Result<Value> {
        self.openai.encode_embeddings(request, profile)
    }

    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingsResponse> {
        self.openai.decode_embeddings(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Credential, ProviderOptions};
    use crate::model::FinishReason;

    fn call<'a>(base_url: &'a str, model: &'a str, options: &'a ProviderOptions) -> Call<'a> {
        Call {
            operation: Operation::Chat { stream: false },
            base_url,
            model,
            options,
            credential: &Credential::None,
            now: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn deployment_urls() {
        let options = ProviderOptions {
            api_version: Some("2025-04-01-preview".into()),
            ..ProviderOptions::default()
        };
        let adapter = AzureOpenAiAdapter::new();
        let request = adapter
            .prepare(
                &call("https://contoso.openai.azure.com/", "gpt-4o", &options),
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            request.url,
            "https://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"
        );
        assert!(!request.headers.iter().any(|(n, _)| n == "api-key"));
        let none = ProviderOptions::default();
        for (base, model) in [("", "gpt-4o"), ("https://x", "a/b"), ("https://x", "a?b")] {
            let error = adapter
                .prepare(&call(base, model, &none), Vec::new())
                .unwrap_err();
            assert_eq!(
                error.kind(),
                crate::ErrorKind::UpstreamFailed,
                "{base} {model}"
            );
        }
    }

    #[test]
    fn content_filter_answers() {
        let adapter = AzureOpenAiAdapter::new();
        let body = br#"{"choices": [{"content_filter_results": {"hate": {"filtered": false, "severity": "safe"}, "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": true, "severity": "medium"}}, "finish_reason": "content_filter", "index": 0, "logprobs": null, "message": {"content": null, "refusal": null, "role": "assistant"}}], "created": 1741569952, "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "model": "gpt-4o-2024-11-20", "object": "chat.completion", "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}, "jailbreak": {"filtered": false, "detected": false}, "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": false, "severity": "safe"}}}], "system_fingerprint": "fp_ee1d74bde0", "usage": {"completion_tokens": 0, "prompt_tokens": 14, "total_tokens": 14}}"#;
        let response = adapter.decode_response(body).unwrap();
        assert_eq!(
            response.choices[0].finish_reason,
            FinishReason::ContentFilter
        );
        assert_eq!(response.choices[0].message.text, None);

        let body = br#"{"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766", "type": null, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"hate": {"filtered": false, "severity": "safe"}, "jailbreak": {"filtered": false, "detected": false}, "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": true, "severity": "medium"}}}}}"#;
        let error = adapter.decode_error(400, body);
        assert_eq!(error.kind(), crate::ErrorKind::InvalidRequest);
        assert!(!error.is_retryable());
        assert_eq!(error.param(), Some("messages"));
        assert!(error.public_message().contains("content management policy"));
        assert_eq!(
            error.provider_error().and_then(|e| e.code.as_deref()),
            Some("content_filter")
        );

        // A deployment that does not exist is the hub's configuration at fault.
        let body = br#"{"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}"#;
        let error = adapter.decode_error(404, body);
        assert_eq!(error.kind(), crate::ErrorKind::UpstreamFailed);
        assert!(!error.is_retryable());
    }
}
