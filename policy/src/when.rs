//! `when`: which requests a rule (rate limit, budget, guardrail) applies to.
//!
//! Every field that is given must match; a field left out matches everything. Within a field,
//! any one pattern matching is enough. Patterns may use `*` for any run of characters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// Which plane a request is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    Llm,
    Mcp,
    A2a,
}

impl Plane {
    /// Its name in configuration, records and labels: `llm`, `mcp`, `a2a`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Mcp => "mcp",
            Self::A2a => "a2a",
        }
    }

    /// The plane [`as_str`](Self::as_str) names `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Llm, Self::Mcp, Self::A2a]
            .into_iter()
            .find(|plane| plane.as_str() == text)
    }
}

/// The facts about one request that rules match on.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub identity: &'a Identity,
    pub plane: Plane,
    /// The model asked for (LLM plane).
    pub model: Option<&'a str>,
    /// `server/tool` (MCP plane).
    pub tool: Option<&'a str>,
    /// The target agent's name (A2A plane).
    pub agent: Option<&'a str>,
    /// Client metadata (`x-agenthub-metadata`).
    pub metadata: &'a BTreeMap<String, String>,
}

/// A rule's condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct When {
    /// Callers: `user:alice`, `service:billing-*`, `team:ml`, `key:<id>`, `role:admin`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Model names, e.g. `gpt-4o*`. Only LLM requests can match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Tools as `server/tool`, e.g. `jira/*`. Only MCP requests can match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Agent names. Only A2A requests can match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// Metadata keys and the value patterns they must have.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl When {
    /// Checks the patterns; returns `(field path, message)` for each problem.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (i, subject) in self.subjects.iter().enumerate() {
            let kind = subject.split_once(':').map(|(k, _)| k);
            if !matches!(
                kind,
                Some("user" | "service" | "agent" | "key" | "team" | "role")
            ) {
                problems.push((
                    format!("subjects[{i}]"),
                    format!("\"{subject}\" is not a subject (expected user:, service:, agent:, key:, team: or role: followed by a name)"),
                ));
            }
        }
        for (field, patterns) in [
            ("models", &self.models),
            ("tools", &self.tools),
            ("agents", &self.agents),
        ] {
            for (i, pattern) in patterns.iter().enumerate() {
                if pattern.is_empty() {
                    problems.push((format!("{field}[{i}]"), "must not be empty".into()));
                }
            }
        }
        for (i, pattern) in self.tools.iter().enumerate() {
            if !pattern.is_empty() && !pattern.contains('/') {
                problems.push((
                    format!("tools[{i}]"),
                    format!(
                        "\"{pattern}\" is not server/tool (use server/* for every tool of a server)"
                    ),
                ));
            }
        }
        problems
    }

    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        let any = |patterns: &[String], value: Option<&str>| {
            patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| glob(p, v)))
        };
        any(&self.models, facts.model)
            && any(&self.tools, facts.tool)
            && any(&self.agents, facts.agent)
            && self
                .metadata
                .iter()
                .all(|(k, p)| facts.metadata.get(k).is_some_and(|v| glob(p, v)))
            && (self.subjects.is_empty()
                || self
                    .subjects
                    .iter()
                    .any(|s| subject_matches(s, facts.identity)))
    }
}

fn subject_matches(pattern: &str, identity: &Identity) -> bool {
    let Some((kind, name)) = pattern.split_once(':') else {
        return false;
    };
    match kind {
        "team" => {
            identity.teams.iter().any(|t| glob(name, &t.team))
                || identity.key_team.as_deref().is_some_and(|t| glob(name, t))
        }
        "key" => identity.key_id.as_deref().is_some_and(|k| glob(name, k)),
        "role" => glob(name, identity.role.as_str()),
        kind => kind == identity.kind.as_str() && glob(name, &identity.name),
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p = pattern.as_bytes();
    let v = value.as_bytes();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{GlobalRole, Scopes, SubjectKind, TeamMembership, TeamRole};

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("gpt-4*", "gpt-4o-mini", true),
            ("gpt-4*", "gpt-3.5", false),
            ("jira/*", "jira/create_issue", true),
            ("*/delete_*", "jira/delete_issue", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(glob(pattern, value), expected, "{pattern} ~ {value}");
        }
    }

    fn alice() -> Identity {
        Identity {
            principal_id: Some("p1".into()),
            name: "alice".into(),
            kind: SubjectKind::User,
            key_id: Some("k1".into()),
            key_team: Some("ml".into()),
            teams: vec![TeamMembership {
                team_id: "t1".into(),
                team: "ml".into(),
                role: TeamRole::Member,
            }],
            role: GlobalRole::Member,
            scopes: Scopes::default_for_new_key(),
            claims: Default::default(),
        }
    }

    #[test]
    fn conditions() {
        let identity = alice();
        let metadata = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        let llm = RequestFacts {
            identity: &identity,
            plane: Plane::Llm,
            model: Some("gpt-4o"),
            tool: None,
            agent: None,
            metadata: &metadata,
        };
        let mcp = RequestFacts {
            plane: Plane::Mcp,
            model: None,
            tool: Some("jira/create_issue"),
            ..llm
        };
        let when = |yaml: &str| serde_json::from_str::<When>(yaml).unwrap();
        let cases = [
            (r#"{}"#, llm, true),
            (r#"{"models": ["gpt-4*"]}"#, llm, true),
            (r#"{"models": ["claude-*"]}"#, llm, false),
            (r#"{"models": ["gpt-4*"]}"#, mcp, false),
            (r#"{"tools": ["jira/*"]}"#, mcp, true),
            (r#"{"subjects": ["user:alice"]}"#, llm, true),
            (r#"{"subjects": ["user:bob", "team:ml"]}"#, llm, true),
            (r#"{"subjects": ["service:alice"]}"#, llm, false),
            (r#"{"subjects": ["key:k1"]}"#, llm, true),
            (r#"{"subjects": ["role:admin"]}"#, llm, false),
            (r#"{"metadata": {"env": "prod"}}"#, llm, true),
            (r#"{"metadata": {"env": "dev"}}"#, llm, false),
            (r#"{"metadata": {"tenant": "*"}}"#, llm, false),
            (
                r#"{"models": ["gpt-4*"], "subjects": ["team:ops"]}"#,
                llm,
                false,
            ),
        ];
        for (json, facts, expected) in cases {
            assert_eq!(
                when(json).matches(&facts),
                expected,
                "{json} on {:?}",
                facts.plane
            );
        }
    }

    #[test]
    fn validation_names_the_field() {
        let when: When = serde_json::from_str(
            r#"{"subjects": ["alice", "team:ml"], "tools": ["jira"], "models": [""]}"#,
        )
        .unwrap();
        let problems: Vec<String> = when.validate().into_iter().map(|(path, _)| path).collect();
        assert_eq!(problems, ["subjects[0]", "models[0]", "tools[0]"]);
        assert!(serde_json::from_str::<When>(r#"{"modles": []}"#).is_err());
    }
}
