//! How a service's requests are authenticated: with a credential fixed in the server's
//! settings, or with bearer tokens that change — run inside the hub with `oauth`, the calling
//! user's own OAuth tokens (or the hub's), asked for at each request and handed back when the
//! service refuses one, so that the next is a renewed token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderValue;

/// The changing token a request carried (none for a fixed credential), to hand back if the
/// service refuses it.
pub(crate) type Sent = Option<Arc<str>>;

/// A boxed future, for the methods of [`BearerTokens`] (a trait object).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Bearer tokens that change (OAuth access tokens), from whoever runs the server.
pub trait BearerTokens: Send + Sync {
    /// The token to send now, or why there is none (the call's failure says it).
    fn token(&self) -> Pending<'_, Result<Arc<str>, String>>;

    /// The service refused `token`: the next [`token`](Self::token) is a new one.
    fn reject<'a>(&'a self, token: &'a str) -> Pending<'a, ()>;
}

/// What every request to a service carries in `Authorization`.
#[derive(Clone)]
pub enum Credentials {
    /// The same value every time: a token from the settings (`Bearer …`) or `Basic …`.
    Fixed(HeaderValue),
    /// `Bearer` and the current token of a source; a refused one is renewed once per request.
    Bearer(Arc<dyn BearerTokens>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fixed(_) => "Credentials::Fixed(…)",
            Self::Bearer(_) => "Credentials::Bearer(…)",
        })
    }
}

impl Credentials {
    /// `Authorization: Bearer <token>`, fixed.
    pub fn bearer(token: &str) -> anyhow::Result<Self> {
        Self::fixed(&format!("Bearer {token}"))
    }

    /// `Authorization: <value>`, fixed.
    pub fn fixed(value: &str) -> anyhow::Result<Self> {
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| anyhow::anyhow!("the credential is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(Self::Fixed(value))
    }

    /// The `Authorization` value of the next request, and the changing token in it (if any);
    /// or why there is none.
    pub(crate) async fn authorization(&self) -> Result<(HeaderValue, Sent), String> {
        match self {
            Self::Fixed(value) => Ok((value.clone(), None)),
            Self::Bearer(tokens) => {
                let token = tokens.token().await?;
                let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| "the OAuth access token is not a valid header value".to_owned())?;
                value.set_sensitive(true);
                Ok((value, Some(token)))
            }
        }
    }

    /// Hands `sent` back as refused; whether a renewed token may be tried (never for a fixed
    /// credential, which would be refused again).
    pub(crate) async fn refused(&self, sent: &Sent) -> bool {
        match (self, sent) {
            (Self::Bearer(tokens), Some(token)) => {
                tokens.reject(token).await;
                true
            }
            _ => false,
        }
    }
}
