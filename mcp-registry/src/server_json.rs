//! Registration from an entry of the official MCP registry: its `server.json` document (a
//! remote endpoint, or a package the hub runs as a stdio process), turned into an
//! [`McpServerConfig`]. Inputs the document leaves open (headers, environment variables, URL
//! variables, arguments) are filled from the caller's `values`, by name.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::McpServerConfig;

/// A `server.json` document; only what registration needs is read, the rest is ignored (the
/// format grows).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerJson {
    /// Reverse-DNS, e.g. `io.github.acme/weather`.
    pub name: String,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub remotes: Vec<Remote>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub registry_type: String,
    pub identifier: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub runtime_hint: Option<String>,
    pub transport: Transport,
    #[serde(default)]
    pub runtime_arguments: Vec<Argument>,
    #[serde(default)]
    pub package_arguments: Vec<Argument>,
    #[serde(default)]
    pub environment_variables: Vec<Input>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Transport {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Remote {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Input>,
    #[serde(default)]
    pub variables: BTreeMap<String, Input>,
}

/// A header, environment variable or URL variable: fixed (`value`), defaulted, or asked for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub is_secret: bool,
    #[serde(default)]
    pub variables: BTreeMap<String, Input>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    #[serde(rename = "type")]
    pub kind: String,
    /// Named arguments: the flag, with its dashes.
    #[serde(default)]
    pub name: Option<String>,
    /// Positional arguments: the label the value is asked for by.
    #[serde(default)]
    pub value_hint: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub variables: BTreeMap<String, Input>,
}

/// Which of the document's ways to reach the server to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Choice {
    Remote(usize),
    Package(usize),
}

/// Turns `doc` into a registration named `name`. Without a `choice`, the first remote is
/// used, else the first package that runs over stdio. `values` fill the inputs the document
/// leaves open; a secret input must be given as `secret:NAME`.
pub fn import(
    doc: &ServerJson,
    name: &str,
    choice: Option<Choice>,
    values: &BTreeMap<String, String>,
) -> Result<McpServerConfig, String> {
    let choice = match choice {
        Some(choice) => choice,
        None if !doc.remotes.is_empty() => Choice::Remote(0),
        None => doc
            .packages
            .iter()
            .position(|p| p.transport.kind == "stdio")
            .map(Choice::Package)
            .ok_or_else(|| {
                format!(
                    "{} has no remote and no package that runs over stdio",
                    doc.name
                )
            })?,
    };
    let mut server = McpServerConfig {
        name: name.to_owned(),
        transport: None,
        builtin: None,
        url: None,
        openapi: None,
        command: None,
        args: Vec::new(),
        env: BTreeMap::new(),
        cwd: None,
        headers: BTreeMap::new(),
        bearer_token: None,
        oauth: None,
        prefix: None,
        timeouts: None,
    };
    match choice {
        Choice::Remote(i) => {
            let remote = doc
                .remotes
                .get(i)
                .ok_or_else(|| format!("{} has no remote #{i}", doc.name))?;
            server.transport = Some(match remote.kind.as_str() {
                "streamable-http" => crate::config::TransportKind::StreamableHttp,
                "sse" => crate::config::TransportKind::Sse,
                other => return Err(format!("remote #{i}: unknown transport \"{other}\"")),
            });
            server.url = Some(substitute(&remote.url, &remote.variables, values, "url")?);
            for header in &remote.headers {
                let name = header
                    .name
                    .as_deref()
                    .ok_or("a remote header has no name")?;
                if let Some(value) = resolve(name, header, values)? {
                    server.headers.insert(name.to_owned(), value);
                }
            }
        }
        Choice::Package(i) => {
            let package = doc
                .packages
                .get(i)
                .ok_or_else(|| format!("{} has no package #{i}", doc.name))?;
            if package.transport.kind != "stdio" {
                return Err(format!(
                    "package #{i} ({}) runs as a \"{}\" server: start it yourself and register its URL",
                    package.identifier, package.transport.kind
                ));
            }
            let (command, mut args) = launcher(package)?;
            for argument in &package.runtime_arguments {
                args.extend(argument_words(argument, values)?);
            }
            args.push(package_reference(package));
            for argument in &package.package_arguments {
                args.extend(argument_words(argument, values)?);
            }
            server.command = Some(command);
            server.args = args;
            for variable in &package.environment_variables {
                let name = variable
                    .name
                    .as_deref()
                    .ok_or("an environment variable has no name")?;
                if let Some(value) = resolve(name, variable, values)? {
                    server.env.insert(name.to_owned(), value);
                }
            }
        }
    }
    Ok(server)
}

/// The program that runs a package and its first arguments, by registry (or `runtimeHint`).
fn launcher(package: &Package) -> Result<(String, Vec<String>), String> {
    let runtime = match package.runtime_hint.as_deref() {
        Some(hint) => hint,
        None => match package.registry_type.as_str() {
            "npm" => "npx",
            "pypi" => "uvx",
            "oci" => "docker",
            "nuget" => "dnx",
            other => {
                return Err(format!(
                    "packages from the \"{other}\" registry cannot be run by the hub; install it and register its command"
                ));
            }
        },
    };
    let first: &[&str] = match runtime {
        "npx" => &["-y"],
        "docker" => &["run", "-i", "--rm"],
        _ => &[],
    };
    Ok((
        runtime.to_owned(),
        first.iter().map(|s| (*s).to_owned()).collect(),
    ))
}

/// The package as its runtime names it, pinned to its version.
fn package_reference(package: &Package) -> String {
    match (package.registry_type.as_str(), &package.version) {
        (_, None) => package.identifier.clone(),
        ("pypi", Some(version)) => format!("{}=={version}", package.identifier),
        ("oci", Some(version)) if !package.identifier.contains(':') => {
            format!("{}:{version}", package.identifier)
        }
        ("oci", Some(_)) => package.identifier.clone(),
        (_, Some(version)) => format!("{}@{version}", package.identifier),
    }
}

fn argument_words(
    argument: &Argument,
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let label = argument
        .name
        .as_deref()
        .or(argument.value_hint.as_deref())
        .unwrap_or("argument");
    let given = values
        .get(label)
        .cloned()
        .or_else(|| argument.value.clone())
        .or_else(|| argument.default.clone());
    let value = match given {
        Some(value) => Some(substitute(&value, &argument.variables, values, label)?),
        None if argument.is_required => {
            return Err(format!(
                "the argument \"{label}\" is required: give its value"
            ));
        }
        None => None,
    };
    Ok(match (argument.kind.as_str(), value) {
        ("named", Some(value)) => vec![format!("{label}={value}")],
        ("named", None) => vec![label.to_owned()],
        (_, Some(value)) => vec![value],
        (_, None) => Vec::new(),
    })
}

/// An input's value: the caller's, else the document's fixed value or default. A secret must
/// be a `secret:NAME` reference, since registrations are stored unencrypted.
fn resolve(
    name: &str,
    input: &Input,
    values: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let value = match values.get(name) {
        Some(value) => Some(value.clone()),
        None => input
            .value
            .as_deref()
            .or(input.default.as_deref())
            .map(|v| substitute(v, &input.variables, values, name))
            .transpose()?,
    };
    match value {
        Some(value) if input.is_secret && !value.starts_with("secret:") => Err(format!(
            "\"{name}\" is a secret: store it with POST /secrets and give secret:NAME"
        )),
        Some(value) => Ok(Some(value)),
        None if input.is_required => Err(format!(
            "\"{name}\" is required{}: give its value",
            if input.is_secret {
                " (a secret: as secret:NAME)"
            } else {
                ""
            }
        )),
        None => Ok(None),
    }
}

/// Replaces each `{variable}` of `template` by the caller's value or the variable's own.
fn substitute(
    template: &str,
    variables: &BTreeMap<String, Input>,
    values: &BTreeMap<String, String>,
    what: &str,
) -> Result<String, String> {
    let mut out = template.to_owned();
    for (name, input) in variables {
        let placeholder = format!("{{{name}}}");
        if !out.contains(&placeholder) {
            continue;
        }
        let value = values
            .get(name)
            .or(input.value.as_ref())
            .or(input.default.as_ref())
            .ok_or_else(|| {
                format!("{what}: the variable \"{name}\" is required: give its value")
            })?;
        out = out.replace(&placeholder, value);
    }
    Ok(out)
}

/// A server name from the document's reverse-DNS name: its last segment, in the alphabet of
/// server names.
pub fn default_name(doc: &ServerJson) -> String {
    let last = doc.name.rsplit('/').next().unwrap_or(&doc.name);
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.trim_start_matches(['-', '_', '.']).to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(value: serde_json::Value) -> ServerJson {
        serde_json::from_value(value).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_remote_becomes_an_http_registration() {
        let doc = doc(json!({
            "name": "io.github.acme/weather",
            "remotes": [{
                "type": "streamable-http",
                "url": "https://{tenant}.weather.example/mcp",
                "variables": {"tenant": {"isRequired": true}},
                "headers": [
                    {"name": "X-API-Key", "isRequired": true, "isSecret": true},
                    {"name": "X-Client", "value": "agenthub"}
                ]
            }]
        }));
        assert_eq!(default_name(&doc), "weather");
        let server = import(
            &doc,
            "weather",
            None,
            &values(&[("tenant", "acme"), ("X-API-Key", "secret:weather-key")]),
        )
        .unwrap();
        assert_eq!(
            server.url.as_deref(),
            Some("https://acme.weather.example/mcp")
        );
        assert_eq!(server.headers["X-API-Key"], "secret:weather-key");
        assert_eq!(server.headers["X-Client"], "agenthub");
    }

    #[test]
    fn a_package_becomes_a_stdio_registration() {
        let doc = doc(json!({
            "name": "io.github.modelcontextprotocol/everything",
            "packages": [
                {"registryType": "npm", "identifier": "@modelcontextprotocol/server-everything",
                 "version": "2026.8.31", "transport": {"type": "stdio"},
                 "packageArguments": [{"type": "positional", "value": "stdio"}],
                 "environmentVariables": [
                     {"name": "LOG_LEVEL", "default": "info"},
                     {"name": "TOKEN", "isSecret": true}
                 ]},
                {"registryType": "pypi", "identifier": "mcp-server-time", "version": "1.0.0",
                 "transport": {"type": "stdio"},
                 "packageArguments": [{"type": "named", "name": "--local-timezone", "isRequired": true}]},
                {"registryType": "oci", "identifier": "docker.io/acme/mcp", "version": "2.1",
                 "transport": {"type": "stdio"},
                 "runtimeArguments": [{"type": "named", "name": "-e", "value": "MODE=ro"}]}
            ]
        }));
        let server = import(&doc, "everything", None, &values(&[])).unwrap();
        assert_eq!(server.command.as_deref(), Some("npx"));
        assert_eq!(
            server.args,
            [
                "-y",
                "@modelcontextprotocol/server-everything@2026.8.31",
                "stdio"
            ]
        );
        assert_eq!(server.env, values(&[("LOG_LEVEL", "info")]));

        let time = import(
            &doc,
            "time",
            Some(Choice::Package(1)),
            &values(&[("--local-timezone", "UTC")]),
        )
        .unwrap();
        assert_eq!(time.command.as_deref(), Some("uvx"));
        assert_eq!(
            time.args,
            ["mcp-server-time==1.0.0", "--local-timezone=UTC"]
        );

        let oci = import(&doc, "c", Some(Choice::Package(2)), &values(&[])).unwrap();
        assert_eq!(
            oci.args,
            ["run", "-i", "--rm", "-e=MODE=ro", "docker.io/acme/mcp:2.1"]
        );
    }

    #[test]
    fn what_is_missing_or_unsafe_is_named() {
        let doc = doc(json!({
            "name": "x/y",
            "remotes": [{"type": "streamable-http", "url": "https://x.example/mcp",
                         "headers": [{"name": "Authorization", "isRequired": true, "isSecret": true}]}],
            "packages": [{"registryType": "mcpb", "identifier": "https://x/p.mcpb", "transport": {"type": "stdio"}},
                         {"registryType": "npm", "identifier": "p", "transport": {"type": "streamable-http"}}]
        }));
        type Case<'a> = (Option<Choice>, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case<'_>; 5] = [
            (None, &[], "\"Authorization\" is required (a secret"),
            (None, &[("Authorization", "Bearer abc")], "is a secret"),
            (Some(Choice::Remote(3)), &[], "no remote #3"),
            (Some(Choice::Package(0)), &[], "\"mcpb\" registry"),
            (Some(Choice::Package(1)), &[], "start it yourself"),
        ];
        for (choice, given, words) in cases {
            let error = import(&doc, "y", choice, &values(given)).unwrap_err();
            assert!(error.contains(words), "{choice:?}: {error}");
        }
    }
}
