//! Structured logs through `tracing`: text or JSON, with a level filter that configuration
//! reloads can change while the hub runs.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

use crate::config::LogFormat;

/// Changes the live log filter.
pub struct LogLevel {
    filter: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
}

/// The log writer's thread: dropping this flushes what is queued, so it must outlive the last
/// log line.
pub struct LogWriter(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

impl LogLevel {
    /// Applies `level` unless `RUST_LOG` is set, which always wins.
    pub fn set(&self, level: &str) {
        if std::env::var_os("RUST_LOG").is_some() {
            return;
        }
        match EnvFilter::builder().parse(level) {
            Ok(filter) => {
                if self.filter.reload(filter).is_ok() {
                    tracing::info!(level, "log level changed");
                }
            }
            Err(e) => tracing::warn!(level, error = %e, "invalid log level ignored"),
        }
    }
}

/// How many log lines may wait for standard error; beyond that new ones are dropped (and
/// counted) rather than making requests wait for a slow reader of the logs.
const QUEUED_LINES: usize = 65_536;

/// Installs the global subscriber writing to standard error through a bounded queue and its
/// own thread, so that a request never waits on a log write.
pub fn init(level: &str, format: LogFormat) -> (LogLevel, LogWriter) {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("agenthub-log")
        // Buffered: under load the writer thread writes many lines per system call; it flushes
        // whenever its queue runs empty.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
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
            // Colours only for a person at a terminal, not for files and collectors.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    // A subscriber may already be installed (tests); keep it.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
    (LogLevel { filter: handle }, LogWriter(guard))
}
