//! Which agent owns each task relayed through the hub, and which principal started it: task
//! methods go to the owning agent (also when the client named a skill, not an agent), and only
//! that principal may read, cancel or follow the task. Recent tasks are answered from memory;
//! every task is also written to the store in the background, so it survives a restart (an
//! older one is looked up there).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::model::now_millis;
use crate::store::{Store, StoredTask};

/// How many recent tasks are kept in memory.
const RECENT: usize = 100_000;
/// How many task records may wait for the writer.
const QUEUE_DEPTH: usize = 8192;
/// The most task records stored in one transaction.
const BATCH: usize = 1024;
/// How long the writer waits for more records before storing what it has: one transaction (and
/// commit) per record, as at low load, cost about a sixth of the hub's CPU per message
/// (docs/benchmarks.md, A2A plane). The recent tasks are answered from memory meanwhile.
const LINGER: Duration = Duration::from_millis(10);

/// A task's owner: the agent that minted it and the principal that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub agent: String,
    pub principal: String,
    pub trace_id: String,
}

pub struct TaskIndex {
    store: Store,
    recent: Mutex<Recent>,
    queue: mpsc::Sender<StoredTask>,
}

#[derive(Default)]
struct Recent {
    by_task: HashMap<String, Vec<Owner>>,
    order: VecDeque<String>,
}

impl TaskIndex {
    pub fn start(store: Store) -> Self {
        let (queue, tasks) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(store.clone(), tasks));
        Self {
            store,
            recent: Mutex::new(Recent::default()),
            queue,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `agent` answered with task `task_id` for `principal`. The first principal
    /// seen for a task keeps it.
    pub fn record(
        &self,
        agent: &str,
        task_id: &str,
        principal: &str,
        context_id: Option<&str>,
        trace_id: &str,
    ) {
        {
            let mut recent = self.lock();
            let owners = recent.by_task.entry(task_id.to_owned()).or_default();
            if owners.iter().any(|o| o.agent == agent) {
                return;
            }
            owners.push(Owner {
                agent: agent.to_owned(),
                principal: principal.to_owned(),
                trace_id: trace_id.to_owned(),
            });
            recent.order.push_back(task_id.to_owned());
            while recent.order.len() > RECENT {
                if let Some(old) = recent.order.pop_front() {
                    recent.by_task.remove(&old);
                }
            }
        }
        let stored = StoredTask {
            agent: agent.to_owned(),
            task_id: task_id.to_owned(),
            principal: principal.to_owned(),
            context_id: context_id.map(str::to_owned),
            trace_id: trace_id.to_owned(),
            created_at: now_millis(),
        };
        if self.queue.try_send(stored).is_err() {
            tracing::warn!(
                task = task_id,
                "an A2A task record was dropped: the store is behind"
            );
        }
    }

    /// The owners of task `task_id` (one per agent that minted that id).
    pub async fn owners(&self, task_id: &str) -> Result<Vec<Owner>> {
        if let Some(owners) = self.lock().by_task.get(task_id) {
            return Ok(owners.clone());
        }
        let stored = self.store.find_tasks(task_id).await?;
        Ok(stored
            .into_iter()
            .map(|t| Owner {
                agent: t.agent,
                principal: t.principal,
                trace_id: t.trace_id,
            })
            .collect())
    }

    /// The owner of `task_id` at `agent` (any agent when `None`) that `principal` started.
    pub async fn owned_by(
        &self,
        task_id: &str,
        agent: Option<&str>,
        principal: &str,
    ) -> Result<Option<Owner>> {
        Ok(self
            .owners(task_id)
            .await?
            .into_iter()
            .find(|o| o.principal == principal && agent.is_none_or(|a| a == o.agent)))
    }
}

async fn write(store: Store, mut tasks: mpsc::Receiver<StoredTask>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(task) = tasks.recv().await {
        batch.push(task);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, tasks.recv()).await {
                Ok(Some(task)) => batch.push(task),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = store.save_tasks(&batch).await {
            tracing::warn!(error = %e, tasks = batch.len(), "A2A task records could not be stored");
        }
        batch.clear();
    }
}
