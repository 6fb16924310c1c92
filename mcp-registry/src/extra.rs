//! Extra tools: tools the face publishes that no upstream server has, answered by the face's
//! [`Gate`](crate::face::Gate) itself — the hub publishes its A2A agents this way. The gate
//! hands the face a snapshot of them ([`ExtraTools`]) and counts its changes; the face lists
//! them after the federation's tools, in the same pages, filtered per caller, selected by
//! virtual servers, their arguments checked against their input schema and every call recorded,
//! exactly as for an upstream's tool (see [`crate::face`]).
//!
//! An extra tool is named like a federated one: a group (the `server` of its
//! [`ToolCall`](crate::calls::ToolCall), of `mcp:<server>/<tool>` permissions, and of virtual
//! servers' patterns) and a name within it, published under a name of MCP's alphabet (the gate
//! makes it, e.g. with [`crate::names::publish`]). The federation's names come first: an extra
//! tool published under a name the federation uses is neither listed nor callable.

use std::collections::HashMap;

use rmcp::model::Tool;

/// One tool the gate answers itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraTool {
    /// Its group: the `server` its calls are recorded and authorized under.
    pub server: String,
    /// Its name within the group: the `tool` its calls are recorded and authorized under.
    pub name: String,
    /// The tool as published; `tool.name` is its published name.
    pub tool: Tool,
}

/// The extra tools in force: an immutable snapshot, in the order they are listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraTools {
    tools: Vec<ExtraTool>,
    /// Published name → index.
    by_name: HashMap<String, usize>,
}

impl ExtraTools {
    /// The tools, in order; of several published under one name (or with one group and name)
    /// the first is kept and the others are left out with a warning.
    pub fn new(tools: impl IntoIterator<Item = ExtraTool>) -> Self {
        let mut kept: Vec<ExtraTool> = Vec::new();
        let mut by_name = HashMap::new();
        for tool in tools {
            let published = tool.tool.name.to_string();
            let same = |t: &ExtraTool| t.server == tool.server && t.name == tool.name;
            if by_name.contains_key(&published) || kept.iter().any(same) {
                tracing::warn!(
                    server = %tool.server,
                    tool = %tool.name,
                    published,
                    "an extra tool is left out: another one has its name"
                );
                continue;
            }
            by_name.insert(published, kept.len());
            kept.push(tool);
        }
        Self {
            tools: kept,
            by_name,
        }
    }

    /// The tool published as `name`.
    pub fn get(&self, name: &str) -> Option<&ExtraTool> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// The tool `name` of the group `server`.
    pub fn find(&self, server: &str, name: &str) -> Option<&ExtraTool> {
        self.tools
            .iter()
            .find(|t| t.server == server && t.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ExtraTool> {
        self.tools.iter()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tool(server: &str, name: &str, published: &str) -> ExtraTool {
        ExtraTool {
            server: server.into(),
            name: name.into(),
            tool: Tool::new(published.to_owned(), "", Arc::new(Default::default())),
        }
    }

    #[test]
    fn tools_are_found_by_published_name_and_by_group_and_name_and_the_first_of_a_name_wins() {
        let tools = ExtraTools::new([
            tool("a2a", "planner", "a2a__planner"),
            tool("a2a", "other", "a2a__planner"),
            tool("a2a", "planner", "a2a__planner2"),
            tool("a2a", "booker", "a2a__booker"),
        ]);
        assert_eq!(tools.len(), 2);
        assert_eq!(tools.get("a2a__planner").unwrap().name, "planner");
        assert_eq!(
            tools.find("a2a", "booker").unwrap().tool.name,
            "a2a__booker"
        );
        assert!(tools.get("a2a__planner2").is_none());
        let order: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(order, ["planner", "booker"]);
        assert!(ExtraTools::default().is_empty());
    }
}
