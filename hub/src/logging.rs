//! Structured logs through `tracing`: text or JSON, with a level filter that configuration
//! reloads can change while the hub runs.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

use crate::config::LogFormat;

/// Changes the live log filter.
pub struct LogLevel(reload::Handle<EnvFilter, tracing_subscriber::Registry>);

impl LogLevel {
    /// Applies `level` unless `RUST_LOG` is set, which always wins.
    pub fn set(&self, level: &str) {
        if std::env::var_os("RUST_LOG").is_some() {
            return;
        }
        match EnvFilter::builder().parse(level) {
            Ok(filter) => {
                if self.0.reload(filter).is_ok() {
                    tracing::info!(level, "log level changed");
                }
            }
            Err(e) => tracing::warn!(level, error = %e, "invalid log level ignored"),
        }
    }
}

/// Installs the global subscriber writing to standard error.
pub fn init(level: &str, format: LogFormat) -> LogLevel {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::builder().parse(f).ok())
        .unwrap_or_else(|| {
            EnvFilter::builder()
                .parse(level)
                .unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let (filter, handle) = reload::Layer::new(filter);
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // A subscriber may already be installed (tests); keep it.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
    LogLevel(handle)
}
