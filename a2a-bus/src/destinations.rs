//! Public destinations only, checked when each connection is made: for agents registered
//! through the admin API while the hub does not allow private networks. A check when a card
//! is read cannot stop a name from resolving elsewhere a moment later (DNS rebinding); a
//! resolver that drops non-public addresses, and a check of hosts given as IP literals (which
//! are not resolved), can.

use std::net::SocketAddr;

use agenthub_policy::net::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves names to their public addresses only; a name with none fails to resolve.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let refused = all.first().map(|a| a.ip().to_string()).unwrap_or_default();
                return Err(format!(
                    "{host} resolves to {refused}, a non-public address, and the hub does not allow private networks"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL whose host is a non-public IP literal (literals are not resolved, so
/// [`PublicOnly`] never sees them).
pub fn check_literal(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    else {
        return Ok(());
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is a non-public address, and the hub does not allow private networks"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_private_addresses_do_not_resolve() {
        let error = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is not public");
        assert!(error.to_string().contains("non-public"), "{error}");
    }

    #[test]
    fn private_literals_are_refused_and_names_left_to_the_resolver() {
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]/a2a",
            "https://10.0.0.1/",
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            assert!(check_literal(&url).is_err(), "{url}");
        }
        for url in ["https://8.8.8.8/", "https://agents.example.com/a2a"] {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(check_literal(&url), Ok(()), "{url}");
        }
    }
}
