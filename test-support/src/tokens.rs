//! OAuth tokens handed to a bundled server as the hub would hand them: the current one first;
//! one the service refused is dropped and the next becomes current; past the last, none (the
//! user must grant access again). What was refused is kept for the test to read.

use std::sync::{Arc, Mutex};

use agenthub_server_kit::credentials::{BearerTokens, Pending};

/// Tokens in the order they are renewed.
pub struct Rotating {
    tokens: Mutex<Vec<String>>,
    rejected: Mutex<Vec<String>>,
}

impl Rotating {
    pub fn new(tokens: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            tokens: Mutex::new(tokens.iter().map(|t| (*t).to_owned()).collect()),
            rejected: Mutex::new(Vec::new()),
        })
    }

    /// The tokens handed back as refused, in order.
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().unwrap().clone()
    }
}

impl BearerTokens for Rotating {
    fn token(&self) -> Pending<'_, Result<Arc<str>, String>> {
        let current = self.tokens.lock().unwrap().first().cloned();
        Box::pin(async move { current.map(Arc::from).ok_or_else(|| "no grant".to_owned()) })
    }

    fn reject<'a>(&'a self, token: &'a str) -> Pending<'a, ()> {
        self.rejected.lock().unwrap().push(token.to_owned());
        let mut tokens = self.tokens.lock().unwrap();
        if tokens.first().is_some_and(|t| t == token) {
            tokens.remove(0);
        }
        Box::pin(async {})
    }
}
