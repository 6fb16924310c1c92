//! Serving the router on a bound listener, plain or TLS, with graceful shutdown: stop
//! accepting, let in-flight requests finish up to the drain timeout, then close.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::tls::TlsListener;

/// Serves `app` until `shutdown` is cancelled, then drains for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let signal = shutdown.clone().cancelled_owned();
    let server = async move {
        match tls {
            Some(config) => {
                axum::serve(TlsListener::new(listener, config)?, app)
                    .with_graceful_shutdown(signal)
                    .await
            }
            None => {
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .await
            }
        }
    };
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!(timeout = ?drain, "requests still in flight at the drain timeout; closing them");
            Ok(())
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
        () = token.cancelled() => return,
    }
    token.cancel();
}
