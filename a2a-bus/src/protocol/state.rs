//! Task states and their three spellings: v1.0 `TASK_STATE_*` (the `lf.a2a.v1.TaskState` enum
//! names), v0.3 JSON-RPC kebab-case (`input-required`), and the v0.3 proto names the v0.3
//! HTTP+JSON binding writes, which spell canceled `TASK_STATE_CANCELLED` (a2a-sdk 1.3.0
//! `compat/v0_3/a2a_v0_3.proto`). The pairing is a2a-sdk's `_COMPAT_TO_CORE_TASK_STATE`
//! (`compat/v0_3/conversions.py`): v0.3 `unknown` is v1.0 `TASK_STATE_UNSPECIFIED`.

use crate::card::ProtocolVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// v1.0 `TASK_STATE_UNSPECIFIED`, v0.3 `unknown`.
    Unknown,
    Submitted,
    Working,
    InputRequired,
    AuthRequired,
    Completed,
    Failed,
    Canceled,
    Rejected,
}

impl TaskState {
    /// The state named in the JSON-RPC form of `version`. v1.0 also accepts the v0.3 proto
    /// spelling `TASK_STATE_CANCELLED`, which some v1.0-era code still writes.
    pub fn parse(version: ProtocolVersion, name: &str) -> Option<Self> {
        match version {
            ProtocolVersion::V1_0 => Self::from_v1(name),
            ProtocolVersion::V0_3 => Self::from_v0_3(name),
        }
    }

    pub fn from_v1(name: &str) -> Option<Self> {
        Some(match name {
            "TASK_STATE_UNSPECIFIED" => Self::Unknown,
            "TASK_STATE_SUBMITTED" => Self::Submitted,
            "TASK_STATE_WORKING" => Self::Working,
            "TASK_STATE_INPUT_REQUIRED" => Self::InputRequired,
            "TASK_STATE_AUTH_REQUIRED" => Self::AuthRequired,
            "TASK_STATE_COMPLETED" => Self::Completed,
            "TASK_STATE_FAILED" => Self::Failed,
            "TASK_STATE_CANCELED" | "TASK_STATE_CANCELLED" => Self::Canceled,
            "TASK_STATE_REJECTED" => Self::Rejected,
            _ => return None,
        })
    }

    pub fn from_v0_3(name: &str) -> Option<Self> {
        Some(match name {
            "unknown" => Self::Unknown,
            "submitted" => Self::Submitted,
            "working" => Self::Working,
            "input-required" => Self::InputRequired,
            "auth-required" => Self::AuthRequired,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }

    pub fn as_str(self, version: ProtocolVersion) -> &'static str {
        match version {
            ProtocolVersion::V1_0 => self.v1_name(),
            ProtocolVersion::V0_3 => self.v0_3_name(),
        }
    }

    pub fn v1_name(self) -> &'static str {
        match self {
            Self::Unknown => "TASK_STATE_UNSPECIFIED",
            Self::Submitted => "TASK_STATE_SUBMITTED",
            Self::Working => "TASK_STATE_WORKING",
            Self::InputRequired => "TASK_STATE_INPUT_REQUIRED",
            Self::AuthRequired => "TASK_STATE_AUTH_REQUIRED",
            Self::Completed => "TASK_STATE_COMPLETED",
            Self::Failed => "TASK_STATE_FAILED",
            Self::Canceled => "TASK_STATE_CANCELED",
            Self::Rejected => "TASK_STATE_REJECTED",
        }
    }

    pub fn v0_3_name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Submitted => "submitted",
            Self::Working => "working",
            Self::InputRequired => "input-required",
            Self::AuthRequired => "auth-required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
        }
    }

    /// The v0.3 proto enum name (v0.3 HTTP+JSON bodies).
    pub(crate) fn v0_3_proto_name(self) -> &'static str {
        match self {
            Self::Canceled => "TASK_STATE_CANCELLED",
            other => other.v1_name(),
        }
    }

    /// Completed, failed, canceled or rejected: the task will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Canceled | Self::Rejected
        )
    }

    /// Input or auth required: the task waits for the client, and a stream about it ends.
    pub fn is_interrupted(self) -> bool {
        matches!(self, Self::InputRequired | Self::AuthRequired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [TaskState; 9] = [
        TaskState::Unknown,
        TaskState::Submitted,
        TaskState::Working,
        TaskState::InputRequired,
        TaskState::AuthRequired,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::Rejected,
    ];

    #[test]
    fn every_spelling_reads_back() {
        for state in ALL {
            assert_eq!(TaskState::from_v1(state.v1_name()), Some(state));
            assert_eq!(TaskState::from_v0_3(state.v0_3_name()), Some(state));
            assert_eq!(TaskState::from_v1(state.v0_3_proto_name()), Some(state));
        }
        assert_eq!(TaskState::from_v0_3("TASK_STATE_WORKING"), None);
        assert_eq!(TaskState::from_v1("working"), None);
    }

    #[test]
    fn terminal_and_interrupted_are_apart() {
        let terminal: Vec<_> = ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [
                TaskState::Completed,
                TaskState::Failed,
                TaskState::Canceled,
                TaskState::Rejected
            ]
        );
        assert!(ALL.iter().all(|s| !(s.is_terminal() && s.is_interrupted())));
        assert!(TaskState::InputRequired.is_interrupted());
        assert!(TaskState::AuthRequired.is_interrupted());
    }
}
