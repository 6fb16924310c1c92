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
///
/// The handlers are installed when this is called, not when the future is first polled, so
/// that a signal arriving right after the hub announces it is listening still shuts it down
/// gracefully instead of killing it. Call it within the runtime.
pub fn cancel_on_signal(token: CancellationToken) -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &str| {
            signal(kind)
                .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}"))
                .ok()
        };
        (
            install(SignalKind::interrupt(), "SIGINT"),
            install(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        let (ctrl_c, terminate) = (recv(interrupt), recv(terminate));
        #[cfg(not(unix))]
        let (ctrl_c, terminate) = (
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            std::future::pending::<()>(),
        );
        tokio::select! {
            () = ctrl_c => tracing::info!("SIGINT received; shutting down"),
            () = terminate => tracing::info!("SIGTERM received; shutting down"),
            () = token.cancelled() => return,
        }
        token.cancel();
    }
}

/// Waits for the next delivery of `signal`; forever if it could not be installed.
#[cfg(unix)]
async fn recv(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
