//! The price table shipped with the project (`data/prices.json`: list prices per million
//! tokens, with their sources and the date they were compiled) and the cost of a call.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use agenthub_policy::limits::Usd;
use serde::Deserialize;

use crate::config::{Price, ProviderKind};
use crate::model::Usage;

#[derive(Debug, Deserialize)]
struct Table {
    compiled: String,
    sources: BTreeMap<String, String>,
    prices: BTreeMap<String, BTreeMap<String, Price>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/prices.json"))
            .expect("data/prices.json is checked by a test")
    })
}

/// The date the shipped prices were compiled.
pub fn compiled() -> &'static str {
    &table().compiled
}

/// Where the shipped prices of a provider family come from.
pub fn source(family: &str) -> Option<&'static str> {
    table().sources.get(family).map(String::as_str)
}

/// The price family a provider kind bills by: Azure bills OpenAI's models, Vertex AI Gemini's.
fn family(kind: ProviderKind) -> Option<&'static str> {
    Some(match kind {
        ProviderKind::Openai | ProviderKind::Azure => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini | ProviderKind::Vertex => "gemini",
        ProviderKind::Bedrock => "bedrock",
        ProviderKind::Mistral => "mistral",
        ProviderKind::Cohere => "cohere",
        ProviderKind::Groq => "groq",
        ProviderKind::Together => "together",
        _ => return None,
    })
}

/// The shipped price of `model` at a provider of `kind`: the entry whose name is the longest
/// one that `model` equals or starts with followed by a version separator (`gpt-4o-2024-08-06`
/// → `gpt-4o`; `gpt-4o-mini` → `gpt-4o-mini`). Bedrock's cross-region prefixes (`us.`, `eu.`,
/// `apac.`, `global.`) are ignored, as are Vertex AI's `@version` suffixes.
pub fn shipped(kind: ProviderKind, model: &str) -> Option<Price> {
    let prices = table().prices.get(family(kind)?)?;
    let model = match kind {
        ProviderKind::Bedrock => ["us.", "eu.", "apac.", "global.", "us-gov."]
            .iter()
            .find_map(|prefix| model.strip_prefix(prefix))
            .unwrap_or(model),
        _ => model,
    };
    prices
        .iter()
        .filter(|(name, _)| {
            model == name.as_str()
                || model
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with(['-', ':', '@']) && !continues_name(rest))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, price)| *price)
}

/// `-mini` after `gpt-4o` names another model, `-2024-08-06` or `-v1:0` a version: a suffix
/// whose first segment starts with a letter continues the name, except version markers.
fn continues_name(rest: &str) -> bool {
    let segment = rest[1..].split(['-', ':', '@']).next().unwrap_or("");
    let starts_alpha = segment
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    starts_alpha
        && !(segment.starts_with('v') && segment[1..].starts_with(|c: char| c.is_ascii_digit()))
        && !matches!(segment, "latest" | "preview")
}

/// What a call with `usage` costs at `price`, to the micro-dollar. Prices per million tokens
/// are micro-dollars per token.
pub fn cost(price: &Price, usage: &Usage) -> Usd {
    let cached = usage.cached_input_tokens.unwrap_or(0);
    let written = usage.cache_write_input_tokens.unwrap_or(0);
    let fresh = usage
        .input_tokens
        .saturating_sub(cached)
        .saturating_sub(written);
    let micros = f64::from(fresh) * price.input
        + f64::from(cached) * price.cached_input.unwrap_or(price.input)
        + f64::from(written) * price.cache_write_input.unwrap_or(price.input)
        + f64::from(usage.output_tokens) * price.output;
    Usd::from_micros(micros.round().max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_reads_and_names_its_sources() {
        let table = table();
        assert!(!table.prices.is_empty());
        for family in table.prices.keys() {
            assert!(source(family).is_some(), "no source for {family}");
        }
        for (family, prices) in &table.prices {
            for (name, price) in prices {
                assert!(
                    price.input >= 0.0 && price.output >= 0.0,
                    "{family}/{name} has a negative price"
                );
            }
        }
        assert_eq!(compiled().len(), "2026-11-26".len());
    }

    #[test]
    fn versions_match_their_model_and_not_a_sibling() {
        let input = |kind, model| shipped(kind, model).map(|p| p.input);
        let cases = [
            (ProviderKind::Openai, "gpt-4o", Some(2.5)),
            (ProviderKind::Openai, "gpt-4o-2024-08-06", Some(2.5)),
            (ProviderKind::Openai, "gpt-4o-mini", Some(0.15)),
            (ProviderKind::Openai, "gpt-4o-mini-2024-07-18", Some(0.15)),
            (ProviderKind::Openai, "gpt-4o-audio-preview", None),
            (ProviderKind::Azure, "gpt-4.1-mini", Some(0.4)),
            (
                ProviderKind::Anthropic,
                "claude-sonnet-4-5-20250929",
                Some(3.0),
            ),
            (
                ProviderKind::Anthropic,
                "claude-3-5-haiku-latest",
                Some(0.8),
            ),
            (ProviderKind::Vertex, "gemini-2.5-flash", Some(0.3)),
            (ProviderKind::Gemini, "gemini-2.5-flash-lite", Some(0.1)),
            (
                ProviderKind::Bedrock,
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                Some(3.0),
            ),
            (ProviderKind::Bedrock, "amazon.nova-lite-v1:0", Some(0.06)),
            (ProviderKind::Vllm, "gpt-4o", None),
            (ProviderKind::Openai, "gpt-4", None),
        ];
        for (kind, model, expected) in cases {
            assert_eq!(input(kind, model), expected, "{kind:?} {model}");
        }
    }

    #[test]
    fn cost_charges_cached_and_written_tokens_at_their_prices() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cached_input: Some(0.3),
            cache_write_input: Some(3.75),
        };
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 200,
            cached_input_tokens: Some(600),
            cache_write_input_tokens: Some(100),
            reasoning_tokens: None,
        };
        // 300 × 3 + 600 × 0.3 + 100 × 3.75 + 200 × 15 = 900 + 180 + 375 + 3000 µ$.
        assert_eq!(cost(&price, &usage), Usd::from_micros(4_455));
        let plain = Price {
            input: 0.15,
            output: 0.6,
            cached_input: None,
            cache_write_input: None,
        };
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        };
        // 1.5 + 3 = 4.5 → 5 µ$ (rounded half away from zero).
        assert_eq!(cost(&plain, &usage), Usd::from_micros(5));
    }
}
