//! Delegation chains: who a message is from and on whose behalf.
//!
//! A chain lists the principal that started the work, then every agent that passed it on:
//! `["user:alice", "agent:planner", "agent:booker"]`. The hub extends a chain when an agent it
//! knows sends a message, from the signature on the message that agent received (its
//! `agenthub/parent`), and refuses a message that would reach an agent already on its chain
//! (a loop) or make the chain longer than allowed.

use std::fmt;

/// The metadata key under which a delegating agent hands back the `agenthub/signature` object
/// of the message it is working on.
pub const PARENT_METADATA_KEY: &str = "agenthub/parent";

/// The subject that names an agent in chains and signatures.
pub fn agent_subject(name: &str) -> String {
    format!("agent:{name}")
}

/// Why a message may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The target is already on the chain.
    Loop { target: String, chain: Vec<String> },
    /// The chain would be longer than the maximum.
    TooDeep { max: usize, chain: Vec<String> },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loop { target, chain } => write!(
                f,
                "delegation loop: {target} is already on the chain {}",
                chain.join(" → ")
            ),
            Self::TooDeep { max, chain } => write!(
                f,
                "delegation chain too deep: {} → … would exceed {max} hops",
                chain.join(" → ")
            ),
        }
    }
}

impl std::error::Error for ChainError {}

impl ChainError {
    /// The JSON-RPC error code the hub answers with (in the implementation-defined server
    /// error range).
    pub fn code(&self) -> i32 {
        match self {
            Self::Loop { .. } => LOOP_CODE,
            Self::TooDeep { .. } => TOO_DEEP_CODE,
        }
    }
}

/// A message refused because it would loop.
pub const LOOP_CODE: i32 = -32060;
/// A message refused because its chain is too long.
pub const TOO_DEEP_CODE: i32 = -32061;

/// Checks that `chain` (senders so far, principal first) may reach agent `target`: `target`
/// is not on it, and the chain with the target is at most `max_depth` long.
pub fn check(chain: &[String], target: &str, max_depth: usize) -> Result<(), ChainError> {
    let subject = agent_subject(target);
    if chain.contains(&subject) {
        return Err(ChainError::Loop {
            target: subject,
            chain: chain.to_vec(),
        });
    }
    if chain.len() + 1 > max_depth {
        return Err(ChainError::TooDeep {
            max: max_depth,
            chain: chain.to_vec(),
        });
    }
    Ok(())
}

/// The chain of a message sent by `sender` (an agent subject) while it works on a message
/// whose chain was `parent`: the parent's chain with the sender added, unless it already
/// ends with it.
pub fn extend(parent: &[String], sender: &str) -> Vec<String> {
    let mut chain = parent.to_vec();
    if chain.last().map(String::as_str) != Some(sender) {
        chain.push(sender.to_owned());
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(hops: &[&str]) -> Vec<String> {
        hops.iter().map(|h| (*h).to_owned()).collect()
    }

    #[test]
    fn loops_and_depth_are_refused_with_the_chain_named() {
        let hops = chain(&["user:alice", "agent:a", "agent:b"]);
        assert_eq!(check(&hops, "c", 8), Ok(()));
        let looped = check(&hops, "a", 8).unwrap_err();
        assert_eq!(looped.code(), LOOP_CODE);
        assert_eq!(
            looped.to_string(),
            "delegation loop: agent:a is already on the chain user:alice → agent:a → agent:b"
        );
        let deep = check(&hops, "c", 3).unwrap_err();
        assert_eq!(deep.code(), TOO_DEEP_CODE);
        assert_eq!(check(&hops, "c", 4), Ok(()));
    }

    #[test]
    fn a_chain_grows_by_its_sender_once() {
        let parent = chain(&["user:alice", "agent:a"]);
        assert_eq!(
            extend(&parent, "agent:b"),
            chain(&["user:alice", "agent:a", "agent:b"])
        );
        assert_eq!(extend(&parent, "agent:a"), parent);
    }
}
