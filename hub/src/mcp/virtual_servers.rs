//! `/mcp/<name>`: each virtual server served as an MCP server of its own. Each has its own rmcp
//! service, made at its first request, so its sessions (2025-11-25) are its own: a session
//! opened on one virtual server is unknown to every other and to `/mcp`. The face behind it
//! reads the definition in force at each request; a virtual server that is removed answers 404
//! from then on, its sessions and streams are closed at once, and its service is dropped at the
//! next request for any virtual server.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use agenthub_mcp_registry::face::{Face, Gate, Scope};
use agenthub_mcp_registry::registry::ListChanges;
use agenthub_mcp_registry::virtual_servers::VirtualServers;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

type Service<G> = StreamableHttpService<Face<G>, LocalSessionManager>;

/// One virtual server's service, while the virtual server exists.
struct Served<G: Gate> {
    service: Service<G>,
    /// Closed when the virtual server is removed.
    alive: watch::Receiver<ListChanges>,
}

/// The services of the virtual servers, made on demand.
pub(super) struct VirtualFaces<G: Gate> {
    /// Serves everything; each virtual server's face is a copy scoped to it.
    face: Face<G>,
    config: StreamableHttpServerConfig,
    servers: VirtualServers,
    services: Mutex<HashMap<String, Served<G>>>,
}

impl<G: Gate> VirtualFaces<G> {
    pub(super) fn new(
        face: Face<G>,
        config: StreamableHttpServerConfig,
        servers: VirtualServers,
    ) -> Self {
        Self {
            face,
            config,
            servers,
            services: Mutex::new(HashMap::new()),
        }
    }

    /// Serves a request to the virtual server `name`, or answers 404 if there is none.
    pub(super) async fn serve(&self, name: &str, request: Request) -> Response {
        match self.service(name) {
            Some(service) => service.handle(request).await.into_response(),
            None => Error::not_found(format!("virtual MCP server \"{name}\"")).into_response(),
        }
    }

    /// The service of the virtual server `name`, made if it is defined and has none yet.
    fn service(&self, name: &str) -> Option<Service<G>> {
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        // Services of removed virtual servers go (their sessions already ended).
        services.retain(|_, served| served.alive.has_changed().is_ok());
        if let Some(served) = services.get(name) {
            return Some(served.service.clone());
        }
        let alive = self.servers.changes(name)?;
        let cancel = CancellationToken::new();
        tokio::spawn({
            let mut removed = alive.clone();
            let cancel = cancel.clone();
            // Until the virtual server is removed: then its sessions and streams end.
            async move {
                while removed.changed().await.is_ok() {}
                cancel.cancel();
            }
        });
        let face = self.face.clone().with_scope(Scope::Virtual {
            name: name.into(),
            servers: self.servers.clone(),
        });
        let service = StreamableHttpService::new(
            move || Ok(face.clone()),
            LocalSessionManager::default().into(),
            self.config.clone().with_cancellation_token(cancel),
        );
        services.insert(
            name.to_owned(),
            Served {
                service: service.clone(),
                alive,
            },
        );
        Some(service)
    }
}
