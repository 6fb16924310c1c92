//! `agenthub providers|models|virtual-models`: the model catalog through the admin API
//! (`/providers`, `/models`, `/virtual-models`). Entries come from the configuration file or
//! were stored through the API; only stored ones can be replaced or removed.

use std::collections::HashMap;
use std::path::PathBuf;

use agenthub_llm_router::config::{ModelKind, Price, ProviderKind, Strategy};
use agenthub_llm_router::params::{Param, UnsupportedPolicy};
use agenthub_llm_router::pricing;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::admin::{
    ClientArgs, ListArgs, NO_BODY, Outcome, call_and_show, connect, decode, delete, item, list_all,
    list_and_show, print_json,
};
use super::client::ClientError;
use super::governance::{FileArg, cell, read_document, source};
use super::output::{Table, fields, or_dash};
use crate::api::RuleView;

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// List the providers: the configuration file's, then those stored through the API.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a provider.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a provider account, from flags or from a file written as an entry of the
    /// configuration file's `providers`. Credentials must be stored secrets: create them first
    /// with `agenthub secrets set`.
    Add {
        /// The name models refer to (optional with --file when the file names it).
        #[arg(required_unless_present = "file")]
        name: Option<String>,
        #[command(flatten)]
        fields: ProviderFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a stored provider with a new definition; what is not given is not kept.
    Replace {
        name: String,
        #[command(flatten)]
        fields: ProviderFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored provider (refused while a model uses it).
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models: the configuration file's, then those stored through the API, with the
    /// price each is charged at.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a model, and its price from the shipped table when none is set.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a model clients can ask for by name, from flags or from a file written as an
    /// entry of the configuration file's `models`.
    Add {
        /// The name clients use (optional with --file when the file names it).
        #[arg(required_unless_present = "file")]
        name: Option<String>,
        #[command(flatten)]
        fields: ModelFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a stored model with a new definition; what is not given is not kept.
    Replace {
        name: String,
        #[command(flatten)]
        fields: ModelFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored model (refused while a virtual model routes to it).
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VirtualModelsCommand {
    /// List the virtual models: the configuration file's, then those stored through the API.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a virtual model.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a name that routes over several models, from flags or from a file written as an
    /// entry of the configuration file's `virtual_models`.
    Add {
        /// The name clients use (optional with --file when the file names it).
        #[arg(required_unless_present = "file")]
        name: Option<String>,
        #[command(flatten)]
        fields: VirtualModelFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a stored virtual model with a new definition; what is not given is not kept.
    Replace {
        name: String,
        #[command(flatten)]
        fields: VirtualModelFields,
        #[command(flatten)]
        file: BodyFile,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored virtual model.
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// The whole body from a file instead of the flags.
#[derive(Debug, Args)]
pub struct BodyFile {
    /// YAML or JSON file holding the whole entry, as in the configuration file; `-` reads
    /// standard input. Not combined with the field flags.
    #[arg(long, short, conflicts_with = "fields")]
    file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(id = "fields", multiple = true)]
pub struct ProviderFields {
    /// openai, azure, anthropic, gemini, vertex, bedrock, mistral, cohere, openai_compatible,
    /// groq, together, deepinfra, fireworks, openrouter, ollama, vllm, sglang or tgi.
    #[arg(long, required_unless_present = "file", value_parser = word::<ProviderKind>)]
    kind: Option<String>,
    /// Overrides the kind's default URL (required for azure and openai_compatible).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// The stored secret holding the API key (Vertex AI: an OAuth access token).
    #[arg(long, value_name = "SECRET", conflicts_with = "service_account_secret")]
    api_key_secret: Option<String>,
    /// Vertex AI: the stored secret holding a Google service account's JSON key file.
    #[arg(long, value_name = "SECRET")]
    service_account_secret: Option<String>,
    /// Azure OpenAI `api-version`; Anthropic `anthropic-version`.
    #[arg(long, value_name = "V")]
    api_version: Option<String>,
    /// AWS region (bedrock) or Google Cloud location (vertex).
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// Google Cloud project (vertex).
    #[arg(long, value_name = "P")]
    project: Option<String>,
    /// Bedrock: the stored secret holding the AWS access key id.
    #[arg(long, value_name = "SECRET", requires = "aws_secret_access_key_secret")]
    aws_access_key_id_secret: Option<String>,
    /// Bedrock: the stored secret holding the AWS secret access key.
    #[arg(long, value_name = "SECRET", requires = "aws_access_key_id_secret")]
    aws_secret_access_key_secret: Option<String>,
    /// Bedrock: the stored secret holding an AWS session token.
    #[arg(long, value_name = "SECRET", requires = "aws_access_key_id_secret")]
    aws_session_token_secret: Option<String>,
    /// A header sent with every request (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// Time to open a connection, e.g. 5s (default: the llm section's).
    #[arg(long, value_name = "DURATION")]
    connect_timeout: Option<String>,
    /// Time to the answer's first byte (to the whole answer when not streamed).
    #[arg(long, value_name = "DURATION")]
    first_token_timeout: Option<String>,
    /// Time to the answer's last byte.
    #[arg(long, value_name = "DURATION")]
    total_timeout: Option<String>,
}

#[derive(Debug, Default, Args)]
#[group(id = "fields", multiple = true)]
pub struct ModelFields {
    /// The provider that serves it.
    #[arg(long, required_unless_present = "file")]
    provider: Option<String>,
    /// The provider's name for the model (an Azure deployment, a Bedrock model id); default:
    /// NAME.
    #[arg(long, value_name = "UPSTREAM")]
    model: Option<String>,
    /// chat (default) or embeddings.
    #[arg(long, value_parser = word::<ModelKind>)]
    kind: Option<String>,
    /// Dollars per million input tokens; with --price-output, replaces the shipped price.
    #[arg(long, value_name = "USD", requires = "price_output")]
    price_input: Option<f64>,
    /// Dollars per million output tokens.
    #[arg(long, value_name = "USD", requires = "price_input")]
    price_output: Option<f64>,
    /// Dollars per million prompt tokens read from the provider's cache (default: input).
    #[arg(long, value_name = "USD", requires = "price_input")]
    price_cached_input: Option<f64>,
    /// Dollars per million prompt tokens written to the provider's cache (default: input).
    #[arg(long, value_name = "USD", requires = "price_input")]
    price_cache_write_input: Option<f64>,
    /// Tokens the model reads at most.
    #[arg(long, value_name = "TOKENS")]
    context_window: Option<u32>,
    /// Sent as the output limit when the provider needs one and the request has none.
    #[arg(long, value_name = "TOKENS")]
    max_output_tokens: Option<u32>,
    /// The model supports schema-constrained output and strict tools.
    #[arg(long)]
    structured_outputs: bool,
    /// A request parameter the model does not honour (repeatable), e.g. temperature, top_p,
    /// stop, seed, logprobs, json_schema, parallel_tool_calls.
    #[arg(long, value_name = "PARAM", value_parser = word::<Param>)]
    unsupported: Vec<String>,
    /// What happens to such a parameter: drop (left out, with a warning) or reject (400).
    #[arg(long, value_parser = word::<UnsupportedPolicy>)]
    on_unsupported: Option<String>,
}

#[derive(Debug, Args)]
#[group(id = "fields", multiple = true)]
pub struct VirtualModelFields {
    /// priority (default: in the order given), weight, latency or cost.
    #[arg(long, value_parser = word::<Strategy>)]
    strategy: Option<String>,
    /// A model to route to, with its weight for --strategy weight (repeatable, in order).
    #[arg(
        long = "target",
        value_name = "MODEL[:WEIGHT]",
        required_unless_present = "file",
        value_parser = target
    )]
    targets: Vec<(String, Option<u32>)>,
    /// Requests with the same value of this header go to the same target while it is healthy.
    #[arg(long, value_name = "HEADER")]
    sticky_header: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Flag values

/// Accepts the words the configuration accepts for `T`, so that the CLI cannot drift from the
/// router's own types.
fn word<T: DeserializeOwned>(value: &str) -> Result<String, String> {
    serde_json::from_value::<T>(Value::String(value.to_owned()))
        .map(|_| value.to_owned())
        .map_err(|e| e.to_string())
}

pub(super) fn header(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("\"{value}\" is not NAME=VALUE")),
    }
}

/// `MODEL` or `MODEL:WEIGHT`. Model names may contain `:` (`llama3:8b`), so only a final
/// all-digit part is a weight; `name:2:1` is the model `name:2` with weight 1.
fn target(value: &str) -> Result<(String, Option<u32>), String> {
    let (model, weight) = match value.rsplit_once(':') {
        Some((model, weight))
            if !weight.is_empty() && weight.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let weight = weight
                .parse::<u32>()
                .map_err(|_| format!("weight \"{weight}\" is too large"))?;
            (model, Some(weight))
        }
        _ => (value, None),
    };
    if model.is_empty() {
        return Err(format!("\"{value}\" names no model"));
    }
    Ok((model.to_owned(), weight))
}

/// `secret:NAME` for a secret's name (given with or without the prefix).
fn secret_ref(name: String) -> Value {
    if name.starts_with("secret:") {
        Value::String(name)
    } else {
        Value::String(format!("secret:{name}"))
    }
}

/// Inserts `value` under `key` when there is one.
fn put(body: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        body.insert(key.to_owned(), value.into());
    }
}

/// An entry's fields as the API takes them, from the flags.
trait Fields {
    fn into_body(self) -> Map<String, Value>;
}

impl Fields for ProviderFields {
    fn into_body(self) -> Map<String, Value> {
        let mut body = Map::new();
        put(&mut body, "kind", self.kind);
        put(&mut body, "base_url", self.base_url);
        put(&mut body, "api_key", self.api_key_secret.map(secret_ref));
        put(
            &mut body,
            "service_account",
            self.service_account_secret.map(secret_ref),
        );
        if let (Some(id), Some(key)) = (
            self.aws_access_key_id_secret,
            self.aws_secret_access_key_secret,
        ) {
            let mut aws = Map::new();
            aws.insert("access_key_id".into(), secret_ref(id));
            aws.insert("secret_access_key".into(), secret_ref(key));
            put(
                &mut aws,
                "session_token",
                self.aws_session_token_secret.map(secret_ref),
            );
            body.insert("aws".into(), Value::Object(aws));
        }
        put(&mut body, "api_version", self.api_version);
        put(&mut body, "region", self.region);
        put(&mut body, "project", self.project);
        if !self.headers.is_empty() {
            let headers: Map<String, Value> = self
                .headers
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect();
            body.insert("headers".into(), Value::Object(headers));
        }
        let mut timeouts = Map::new();
        put(&mut timeouts, "connect", self.connect_timeout);
        put(&mut timeouts, "first_token", self.first_token_timeout);
        put(&mut timeouts, "total", self.total_timeout);
        if !timeouts.is_empty() {
            body.insert("timeouts".into(), Value::Object(timeouts));
        }
        body
    }
}

impl Fields for ModelFields {
    fn into_body(self) -> Map<String, Value> {
        let mut body = Map::new();
        put(&mut body, "provider", self.provider);
        put(&mut body, "model", self.model);
        put(&mut body, "kind", self.kind);
        if let (Some(input), Some(output)) = (self.price_input, self.price_output) {
            let mut price = Map::new();
            price.insert("input".into(), json!(input));
            price.insert("output".into(), json!(output));
            put(&mut price, "cached_input", self.price_cached_input);
            put(
                &mut price,
                "cache_write_input",
                self.price_cache_write_input,
            );
            body.insert("price".into(), Value::Object(price));
        }
        put(&mut body, "context_window", self.context_window);
        put(&mut body, "max_output_tokens", self.max_output_tokens);
        if self.structured_outputs {
            body.insert("structured_outputs".into(), Value::Bool(true));
        }
        if !self.unsupported.is_empty() {
            body.insert("unsupported".into(), json!(self.unsupported));
        }
        put(&mut body, "on_unsupported", self.on_unsupported);
        body
    }
}

impl Fields for VirtualModelFields {
    fn into_body(self) -> Map<String, Value> {
        let mut body = Map::new();
        put(&mut body, "strategy", self.strategy);
        let targets: Vec<Value> = self
            .targets
            .into_iter()
            .map(|(model, weight)| match weight {
                Some(weight) => json!({ "model": model, "weight": weight }),
                None => json!({ "model": model }),
            })
            .collect();
        body.insert("targets".into(), Value::Array(targets));
        if let Some(header) = self.sticky_header {
            body.insert("sticky".into(), json!({ "header": header }));
        }
        body
    }
}

/// The body of `add` or `replace`: the file's, or one made of the flags, under `name`.
fn body(
    name: Option<String>,
    fields: impl Fields,
    file: BodyFile,
    c: Collection,
) -> Result<Value, ClientError> {
    let Some(path) = file.file else {
        let mut body = Map::new();
        put(&mut body, "name", name);
        body.extend(fields.into_body());
        return Ok(Value::Object(body));
    };
    let file = FileArg { file: path };
    let mut body = read_document(&file, c.noun, c.example)?;
    let shown = file.file.display();
    match (name, body.get("name")) {
        (Some(name), None) => body["name"] = Value::String(name),
        (Some(name), Some(named)) if named.as_str() != Some(name.as_str()) => {
            return Err(ClientError::Usage(format!(
                "NAME \"{name}\" differs from the name in {shown} ({named})"
            )));
        }
        (None, None) => {
            return Err(ClientError::Usage(format!(
                "--file: {shown} has no name; give it as NAME or in the file"
            )));
        }
        _ => {}
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Output

/// Dollars with at least two decimals: `2.50`, `0.075`.
fn dollars(amount: f64) -> String {
    let text = amount.to_string();
    match text.split_once('.') {
        None => format!("{text}.00"),
        Some((_, decimals)) if decimals.len() == 1 => format!("{text}0"),
        Some(_) => text,
    }
}

/// `$2.50 input, $10.00 output, $1.25 cached input per 1M tokens`.
fn price_text(price: &Price) -> String {
    let mut parts = vec![
        format!("${} input", dollars(price.input)),
        format!("${} output", dollars(price.output)),
    ];
    if let Some(cached) = price.cached_input {
        parts.push(format!("${} cached input", dollars(cached)));
    }
    if let Some(written) = price.cache_write_input {
        parts.push(format!("${} cache write", dollars(written)));
    }
    format!("{} per 1M tokens", parts.join(", "))
}

/// `2.50/10.00`: input and output dollars per million tokens, for tables.
fn price_cell(price: &Price) -> String {
    format!("{}/{}", dollars(price.input), dollars(price.output))
}

fn configured_price(rule: &Map<String, Value>) -> Option<Price> {
    rule.get("price")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
}

fn kind_of(provider: &RuleView) -> Option<ProviderKind> {
    provider
        .rule
        .get("kind")
        .and_then(|k| serde_json::from_value(k.clone()).ok())
}

/// The provider's name for a model: `model`, else the catalog name.
fn upstream(model: &RuleView) -> String {
    model
        .rule
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(&model.id)
        .to_owned()
}

/// The price a model is charged at: its own, else the shipped table's for its provider kind.
fn effective_price(model: &RuleView, kind: Option<ProviderKind>) -> (Option<Price>, bool) {
    match configured_price(&model.rule) {
        Some(price) => (Some(price), false),
        None => (
            kind.and_then(|kind| pricing::shipped(kind, &upstream(model))),
            true,
        ),
    }
}

/// `gpt-4o, claude (weight 2)`.
fn targets_text(targets: &Value, weighted: bool) -> String {
    let Some(targets) = targets.as_array() else {
        return targets.to_string();
    };
    targets
        .iter()
        .map(|t| {
            let model = t["model"].as_str().unwrap_or("?");
            match t["weight"].as_u64() {
                Some(w) if weighted || w != 1 => format!("{model} (weight {w})"),
                _ => model.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One field's value as text: nested mappings as `key: value, …`, lists joined.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// An entry: its name and source, its fields in `order` (then any others), and `notes`:
/// derived values of fields the entry leaves out, e.g. the default `base_url`.
fn entry_fields(r: &RuleView, order: &[&str], notes: Vec<(&str, String)>) -> String {
    let weighted = r.rule.get("strategy").and_then(Value::as_str) == Some("weight");
    let text = |key: &str, value: &Value| match key {
        "price" => configured_price(&r.rule).map_or_else(|| value_text(value), |p| price_text(&p)),
        "targets" => targets_text(value, weighted),
        "sticky" => match value.get("header").and_then(Value::as_str) {
            Some(header) => format!("by the {header} header"),
            None => value_text(value),
        },
        _ => value_text(value),
    };
    let mut keys: Vec<&str> = order.to_vec();
    keys.extend(
        r.rule
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "name" && !order.contains(k)),
    );
    let own: Vec<(String, String)> = keys
        .into_iter()
        .filter_map(|key| {
            let value = match r.rule.get(key) {
                Some(value) => text(key, value),
                None => notes.iter().find(|(k, _)| *k == key)?.1.clone(),
            };
            Some((key.replace('_', " "), value))
        })
        .collect();
    let mut pairs: Vec<(&str, String)> = vec![("name", r.id.clone()), ("source", source(r))];
    pairs.extend(own.iter().map(|(k, v)| (k.as_str(), v.clone())));
    pairs.push(("created", r.created_at.clone().unwrap_or_default()));
    pairs.push(("updated", r.updated_at.clone().unwrap_or_default()));
    fields(&pairs)
}

/// What a provider without `base_url` calls.
fn provider_notes(r: &RuleView) -> Vec<(&'static str, String)> {
    if r.rule.contains_key("base_url") {
        return Vec::new();
    }
    match kind_of(r) {
        Some(kind) => match kind.default_base_url() {
            Some(url) => vec![("base_url", format!("{url} (the default)"))],
            None if matches!(kind, ProviderKind::Bedrock | ProviderKind::Vertex) => {
                vec![("base_url", "the region's endpoint (the default)".to_owned())]
            }
            None => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// A model's price when it has none of its own.
fn model_notes(r: &RuleView, kind: Option<ProviderKind>) -> Vec<(&'static str, String)> {
    match effective_price(r, kind) {
        (_, false) => Vec::new(),
        (Some(price), true) => vec![(
            "price",
            format!(
                "{} (shipped table of {})",
                price_text(&price),
                pricing::compiled()
            ),
        )],
        (None, true) => vec![(
            "price",
            "unknown: not in the shipped table, so calls cost nothing against budgets; set a price"
                .to_owned(),
        )],
    }
}

fn credential(rule: &Map<String, Value>) -> String {
    if let Some(aws) = rule.get("aws") {
        return format!(
            "aws {}",
            cell(aws.as_object().unwrap_or(&Map::new()), "access_key_id")
        );
    }
    if let Some(Value::String(account)) = rule.get("service_account") {
        return format!("service account {account}");
    }
    cell(rule, "api_key")
}

fn provider_table(providers: Vec<RuleView>) -> String {
    let mut table = Table::new(&["NAME", "SOURCE", "KIND", "BASE URL", "CREDENTIAL"]);
    for r in providers {
        table.row(vec![
            r.id.clone(),
            source(&r),
            cell(&r.rule, "kind"),
            r.rule
                .get("base_url")
                .and_then(Value::as_str)
                .unwrap_or("(default)")
                .to_owned(),
            credential(&r.rule),
        ]);
    }
    table.render()
}

/// Models with the price each is charged at; `(table)` marks the shipped table's.
fn model_table(models: Vec<RuleView>, kinds: &HashMap<String, ProviderKind>) -> String {
    let mut table = Table::new(&[
        "NAME",
        "SOURCE",
        "PROVIDER",
        "UPSTREAM",
        "KIND",
        "PRICE IN/OUT PER 1M",
    ]);
    for r in models {
        let provider = cell(&r.rule, "provider");
        let price = match effective_price(&r, kinds.get(&provider).copied()) {
            (Some(price), false) => price_cell(&price),
            (Some(price), true) => format!("{} (table)", price_cell(&price)),
            (None, _) => "unknown".to_owned(),
        };
        table.row(vec![
            r.id.clone(),
            source(&r),
            provider,
            upstream(&r),
            cell(&r.rule, "kind"),
            price,
        ]);
    }
    table.render()
}

fn virtual_model_table(virtual_models: Vec<RuleView>) -> String {
    let mut table = Table::new(&["NAME", "SOURCE", "STRATEGY", "TARGETS", "STICKY"]);
    for r in virtual_models {
        let strategy = r
            .rule
            .get("strategy")
            .and_then(Value::as_str)
            .unwrap_or("priority")
            .to_owned();
        let sticky = r.rule.get("sticky").map_or_else(
            || "-".to_owned(),
            |s| or_dash(s.get("header").and_then(Value::as_str)),
        );
        table.row(vec![
            r.id.clone(),
            source(&r),
            strategy.clone(),
            targets_text(&r.rule["targets"], strategy == "weight"),
            sticky,
        ]);
    }
    table.render()
}

// ---------------------------------------------------------------------------------------------
// Commands

/// One of the three collections.
#[derive(Clone, Copy)]
struct Collection {
    path: &'static str,
    noun: &'static str,
    /// What a file holding one entry looks like, for messages.
    example: &'static str,
    /// The order an entry's fields are shown in.
    order: &'static [&'static str],
    /// Derived values of fields an entry leaves out.
    notes: fn(&RuleView) -> Vec<(&'static str, String)>,
}

const PROVIDERS: Collection = Collection {
    path: "/providers",
    noun: "provider",
    example: "name: …, kind: …",
    order: &[
        "kind",
        "base_url",
        "api_key",
        "service_account",
        "aws",
        "api_version",
        "region",
        "project",
        "headers",
        "timeouts",
    ],
    notes: provider_notes,
};
const MODELS: Collection = Collection {
    path: "/models",
    noun: "model",
    example: "name: …, provider: …",
    order: &[
        "provider",
        "model",
        "kind",
        "price",
        "context_window",
        "max_output_tokens",
        "structured_outputs",
        "unsupported",
        "on_unsupported",
    ],
    notes: |_| Vec::new(),
};
const VIRTUAL_MODELS: Collection = Collection {
    path: "/virtual-models",
    noun: "virtual model",
    example: "name: …, targets: […]",
    order: &["strategy", "targets", "sticky"],
    notes: |_| Vec::new(),
};

/// Stores (`POST`) or replaces (`PUT`) an entry and prints it.
async fn write(client: &ClientArgs, c: Collection, name: Option<&str>, body: Value) -> Outcome {
    let (method, path, done) = match name {
        Some(name) => (Method::PUT, item(c.path, name), "replaced"),
        None => (Method::POST, c.path.to_owned(), "stored"),
    };
    call_and_show(client, method, &path, Some(&body), |r: RuleView| {
        format!(
            "{done} {} {}\n{}",
            c.noun,
            r.id,
            entry_fields(&r, c.order, (c.notes)(&r))
        )
    })
    .await
}

async fn show_entry(client: &ClientArgs, c: Collection, name: &str) -> Outcome {
    call_and_show(
        client,
        Method::GET,
        &item(c.path, name),
        NO_BODY,
        |r: RuleView| entry_fields(&r, c.order, (c.notes)(&r)),
    )
    .await
}

async fn remove(client: &ClientArgs, c: Collection, name: &str) -> Outcome {
    let path = item(c.path, name);
    delete(client, &path, format!("removed {} {name}", c.noun)).await
}

pub async fn providers(cmd: ProvidersCommand) -> Outcome {
    let c = PROVIDERS;
    match cmd {
        ProvidersCommand::List { list, client } => {
            list_and_show(&client, c.path, list, provider_table).await
        }
        ProvidersCommand::Show { name, client } => show_entry(&client, c, &name).await,
        ProvidersCommand::Add {
            name,
            fields,
            file,
            client,
        } => write(&client, c, None, body(name, fields, file, c)?).await,
        ProvidersCommand::Replace {
            name,
            fields,
            file,
            client,
        } => {
            let body = body(Some(name.clone()), fields, file, c)?;
            write(&client, c, Some(&name), body).await
        }
        ProvidersCommand::Remove { name, client } => remove(&client, c, &name).await,
    }
}

/// The kind of every provider, for prices from the shipped table.
async fn provider_kinds(
    client: &super::client::Client,
) -> Result<HashMap<String, ProviderKind>, ClientError> {
    let providers = list_all(client, PROVIDERS.path, None).await?;
    Ok(providers
        .into_iter()
        .filter_map(|p| decode::<RuleView>(p).ok())
        .filter_map(|p| kind_of(&p).map(|kind| (p.id.clone(), kind)))
        .collect())
}

pub async fn models(cmd: ModelsCommand) -> Outcome {
    let c = MODELS;
    match cmd {
        ModelsCommand::List { list, client } => {
            let hub = connect(&client)?;
            let items = list_all(&hub, c.path, list.limit).await?;
            if client.json {
                print_json(&items);
                return Ok(());
            }
            let models = items
                .into_iter()
                .map(decode)
                .collect::<Result<Vec<RuleView>, _>>()?;
            let kinds = provider_kinds(&hub).await?;
            print!("{}", model_table(models, &kinds));
            Ok(())
        }
        ModelsCommand::Show { name, client } => {
            let hub = connect(&client)?;
            let value: Value = hub.call(Method::GET, &item(c.path, &name), NO_BODY).await?;
            if client.json {
                print_json(&value);
                return Ok(());
            }
            let model: RuleView = decode(value)?;
            let kind = match model.rule.get("provider").and_then(Value::as_str) {
                Some(provider) if configured_price(&model.rule).is_none() => {
                    let path = item(PROVIDERS.path, provider);
                    let provider: RuleView = hub.call(Method::GET, &path, NO_BODY).await?;
                    kind_of(&provider)
                }
                _ => None,
            };
            print!(
                "{}",
                entry_fields(&model, c.order, model_notes(&model, kind))
            );
            Ok(())
        }
        ModelsCommand::Add {
            name,
            fields,
            file,
            client,
        } => write(&client, c, None, body(name, fields, file, c)?).await,
        ModelsCommand::Replace {
            name,
            fields,
            file,
            client,
        } => {
            let body = body(Some(name.clone()), fields, file, c)?;
            write(&client, c, Some(&name), body).await
        }
        ModelsCommand::Remove { name, client } => remove(&client, c, &name).await,
    }
}

pub async fn virtual_models(cmd: VirtualModelsCommand) -> Outcome {
    let c = VIRTUAL_MODELS;
    match cmd {
        VirtualModelsCommand::List { list, client } => {
            list_and_show(&client, c.path, list, virtual_model_table).await
        }
        VirtualModelsCommand::Show { name, client } => show_entry(&client, c, &name).await,
        VirtualModelsCommand::Add {
            name,
            fields,
            file,
            client,
        } => write(&client, c, None, body(name, fields, file, c)?).await,
        VirtualModelsCommand::Replace {
            name,
            fields,
            file,
            client,
        } => {
            let body = body(Some(name.clone()), fields, file, c)?;
            write(&client, c, Some(&name), body).await
        }
        VirtualModelsCommand::Remove { name, client } => remove(&client, c, &name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Parses `agenthub ARGS` and returns the command, or clap's error.
    fn parse(args: &[&str]) -> Result<crate::cli::Command, clap::Error> {
        crate::cli::Cli::try_parse_from(std::iter::once("agenthub").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn targets_take_an_optional_weight() {
        assert_eq!(target("gpt-4o"), Ok(("gpt-4o".into(), None)));
        assert_eq!(target("claude:2"), Ok(("claude".into(), Some(2))));
        assert_eq!(target("llama3:8b"), Ok(("llama3:8b".into(), None)));
        assert_eq!(target("name:2:1"), Ok(("name:2".into(), Some(1))));
        assert!(target(":3").is_err());
        assert!(target("m:99999999999").is_err());
    }

    #[test]
    fn flags_make_the_configuration_body() {
        let Ok(crate::cli::Command::Models(ModelsCommand::Add {
            name, fields, file, ..
        })) = parse(&[
            "models",
            "add",
            "gpt-4o",
            "--provider",
            "openai",
            "--model",
            "gpt-4o-2024-08-06",
            "--price-input",
            "2.5",
            "--price-output",
            "10",
            "--unsupported",
            "seed",
            "--structured-outputs",
        ])
        else {
            panic!("does not parse");
        };
        assert_eq!(
            body(name, fields, file, MODELS).unwrap(),
            json!({
                "name": "gpt-4o", "provider": "openai", "model": "gpt-4o-2024-08-06",
                "price": {"input": 2.5, "output": 10.0}, "structured_outputs": true,
                "unsupported": ["seed"],
            })
        );
        let Ok(crate::cli::Command::Providers(ProvidersCommand::Add {
            name, fields, file, ..
        })) = parse(&[
            "providers",
            "add",
            "br",
            "--kind",
            "bedrock",
            "--region",
            "us-east-1",
            "--aws-access-key-id-secret",
            "aws-id",
            "--aws-secret-access-key-secret",
            "secret:aws-key",
            "--header",
            "x-team=ml",
            "--total-timeout",
            "30s",
        ])
        else {
            panic!("does not parse");
        };
        assert_eq!(
            body(name, fields, file, PROVIDERS).unwrap(),
            json!({
                "name": "br", "kind": "bedrock", "region": "us-east-1",
                "aws": {"access_key_id": "secret:aws-id", "secret_access_key": "secret:aws-key"},
                "headers": {"x-team": "ml"}, "timeouts": {"total": "30s"},
            })
        );
        let Ok(crate::cli::Command::Providers(ProvidersCommand::Replace {
            name,
            fields,
            file,
            ..
        })) = parse(&[
            "providers",
            "replace",
            "vx",
            "--kind",
            "vertex",
            "--region",
            "us-central1",
            "--project",
            "p",
            "--service-account-secret",
            "sa-key",
        ])
        else {
            panic!("does not parse");
        };
        assert_eq!(
            body(Some(name), fields, file, PROVIDERS).unwrap(),
            json!({
                "name": "vx", "kind": "vertex", "region": "us-central1", "project": "p",
                "service_account": "secret:sa-key",
            })
        );
        let Ok(crate::cli::Command::VirtualModels(VirtualModelsCommand::Add {
            name,
            fields,
            file,
            ..
        })) = parse(&[
            "virtual-models",
            "add",
            "smart",
            "--strategy",
            "weight",
            "--target",
            "gpt-4o",
            "--target",
            "claude:2",
            "--sticky-header",
            "x-session-id",
        ])
        else {
            panic!("does not parse");
        };
        assert_eq!(
            body(name, fields, file, VIRTUAL_MODELS).unwrap(),
            json!({
                "name": "smart", "strategy": "weight",
                "targets": [{"model": "gpt-4o"}, {"model": "claude", "weight": 2}],
                "sticky": {"header": "x-session-id"},
            })
        );
    }

    #[test]
    fn bad_usage_is_caught_before_any_call() {
        let kind = parse(&["providers", "add", "p", "--kind", "opnai"]).unwrap_err();
        assert!(
            kind.to_string().contains("unknown variant `opnai`"),
            "{kind}"
        );
        // A file and field flags together, a price without its other half, no target.
        for args in [
            &["models", "add", "m", "--file", "m.yaml", "--provider", "p"][..],
            &[
                "models",
                "add",
                "m",
                "--provider",
                "p",
                "--price-input",
                "1",
            ],
            &["virtual-models", "add", "v", "--strategy", "cost"],
            &["providers", "add", "--kind", "openai"],
            &[
                "providers",
                "add",
                "vx",
                "--kind",
                "vertex",
                "--api-key-secret",
                "a",
                "--service-account-secret",
                "b",
            ],
        ] {
            assert!(parse(args).is_err(), "{args:?} parsed");
        }
        assert!(parse(&["models", "add", "--file", "m.yaml"]).is_ok());
    }

    #[test]
    fn a_file_body_takes_the_name_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "provider: p\nmodel: x\n").unwrap();
        let file = || BodyFile {
            file: Some(path.clone()),
        };
        let none = ModelFields::default();
        let named = body(Some("m".into()), none, file(), MODELS).unwrap();
        assert_eq!(named, json!({"provider": "p", "model": "x", "name": "m"}));
        let unnamed = body(None, ModelFields::default(), file(), MODELS).unwrap_err();
        assert!(unnamed.to_string().contains("has no name"), "{unnamed}");
        std::fs::write(&path, "name: other\nprovider: p\n").unwrap();
        let differs = body(Some("m".into()), ModelFields::default(), file(), MODELS).unwrap_err();
        assert!(differs.to_string().contains("differs"), "{differs}");
    }

    #[test]
    fn entries_show_their_fields_in_order_with_defaults() {
        let view: RuleView = serde_json::from_value(json!({
            "id": "anth", "source": "api", "created_by": "user:admin",
            "name": "anth", "kind": "anthropic", "api_key": "secret:k",
            "headers": {"x-team": "ml"}, "zzz": [1, 2],
        }))
        .unwrap();
        let notes = provider_notes(&view);
        assert_eq!(
            entry_fields(&view, PROVIDERS.order, notes),
            "name:     anth\n\
             source:   api (user:admin)\n\
             kind:     anthropic\n\
             base url: https://api.anthropic.com (the default)\n\
             api key:  secret:k\n\
             headers:  x-team: ml\n\
             zzz:      1, 2\n"
        );
        let model: RuleView = serde_json::from_value(json!({
            "id": "mini", "source": "config", "name": "mini", "provider": "p",
            "model": "gpt-4o-mini-2024-07-18", "kind": "chat",
        }))
        .unwrap();
        let shown = entry_fields(
            &model,
            MODELS.order,
            model_notes(&model, Some(ProviderKind::Openai)),
        );
        assert!(
            shown.contains("price:    $0.15 input, $0.60 output, $0.075 cached input per 1M tokens (shipped table of "),
            "{shown}"
        );
        let unknown = model_notes(&model, Some(ProviderKind::Vllm));
        assert!(unknown[0].1.starts_with("unknown"), "{unknown:?}");
    }

    #[test]
    fn prices_read_as_dollars() {
        assert_eq!(dollars(2.5), "2.50");
        assert_eq!(dollars(10.0), "10.00");
        assert_eq!(dollars(0.075), "0.075");
        let price = Price {
            input: 2.5,
            output: 10.0,
            cached_input: Some(1.25),
            cache_write_input: None,
        };
        assert_eq!(
            price_text(&price),
            "$2.50 input, $10.00 output, $1.25 cached input per 1M tokens"
        );
        assert_eq!(price_cell(&price), "2.50/10.00");
    }
}
