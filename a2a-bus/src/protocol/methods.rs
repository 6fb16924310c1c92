//! The A2A operations and their names in each protocol version.
//!
//! v1.0 names are the gRPC method names of `lf.a2a.v1.A2AService` (a2a-sdk 1.3.0
//! `JsonRpcDispatcher.METHOD_TO_MODEL`); v0.3 names are the slash-separated ones of the v0.3
//! JSON-RPC binding (a2a-sdk 1.3.0 `compat/v0_3/jsonrpc_adapter.py`, `METHOD_TO_MODEL`).
//! `ListTasks` is new in v1.0: a2a-sdk answers `tasks/list` with -32601 and its v0.3 client
//! transports refuse `list_tasks` (a2a-python issue #1043).

use std::fmt;

use crate::card::ProtocolVersion;

/// One A2A operation, whatever the version or binding it arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    SendMessage,
    SendStreamingMessage,
    GetTask,
    ListTasks,
    CancelTask,
    SubscribeToTask,
    CreateTaskPushNotificationConfig,
    GetTaskPushNotificationConfig,
    ListTaskPushNotificationConfigs,
    DeleteTaskPushNotificationConfig,
    GetExtendedAgentCard,
}

/// Where a request's task id is in its JSON-RPC params, in a given version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskIdAt {
    /// The operation is not about one task (`ListTasks`, `GetExtendedAgentCard`).
    Nowhere,
    /// `message.taskId`: present only when the message continues a task.
    MessageTaskId,
    /// A top-level field of the params, always present (`id` or `taskId`).
    Field(&'static str),
}

impl Method {
    pub const ALL: [Method; 11] = [
        Method::SendMessage,
        Method::SendStreamingMessage,
        Method::GetTask,
        Method::ListTasks,
        Method::CancelTask,
        Method::SubscribeToTask,
        Method::CreateTaskPushNotificationConfig,
        Method::GetTaskPushNotificationConfig,
        Method::ListTaskPushNotificationConfigs,
        Method::DeleteTaskPushNotificationConfig,
        Method::GetExtendedAgentCard,
    ];

    /// The v1.0 name, which is also the operation's name in logs and errors.
    pub fn v1_name(self) -> &'static str {
        match self {
            Method::SendMessage => "SendMessage",
            Method::SendStreamingMessage => "SendStreamingMessage",
            Method::GetTask => "GetTask",
            Method::ListTasks => "ListTasks",
            Method::CancelTask => "CancelTask",
            Method::SubscribeToTask => "SubscribeToTask",
            Method::CreateTaskPushNotificationConfig => "CreateTaskPushNotificationConfig",
            Method::GetTaskPushNotificationConfig => "GetTaskPushNotificationConfig",
            Method::ListTaskPushNotificationConfigs => "ListTaskPushNotificationConfigs",
            Method::DeleteTaskPushNotificationConfig => "DeleteTaskPushNotificationConfig",
            Method::GetExtendedAgentCard => "GetExtendedAgentCard",
        }
    }

    /// The v0.3 name; `None` for `ListTasks`, which v0.3 does not have.
    pub fn v0_3_name(self) -> Option<&'static str> {
        Some(match self {
            Method::SendMessage => "message/send",
            Method::SendStreamingMessage => "message/stream",
            Method::GetTask => "tasks/get",
            Method::ListTasks => return None,
            Method::CancelTask => "tasks/cancel",
            Method::SubscribeToTask => "tasks/resubscribe",
            Method::CreateTaskPushNotificationConfig => "tasks/pushNotificationConfig/set",
            Method::GetTaskPushNotificationConfig => "tasks/pushNotificationConfig/get",
            Method::ListTaskPushNotificationConfigs => "tasks/pushNotificationConfig/list",
            Method::DeleteTaskPushNotificationConfig => "tasks/pushNotificationConfig/delete",
            Method::GetExtendedAgentCard => "agent/getAuthenticatedExtendedCard",
        })
    }

    /// The JSON-RPC method name in `version`; `None` if the version lacks the operation.
    pub fn name(self, version: ProtocolVersion) -> Option<&'static str> {
        match version {
            ProtocolVersion::V1_0 => Some(self.v1_name()),
            ProtocolVersion::V0_3 => self.v0_3_name(),
        }
    }

    /// The operation a JSON-RPC method name denotes and the version the name belongs to. The
    /// two name sets do not overlap, so a name alone tells the version.
    pub fn from_name(name: &str) -> Option<(Method, ProtocolVersion)> {
        let method = match name {
            "SendMessage" => Method::SendMessage,
            "SendStreamingMessage" => Method::SendStreamingMessage,
            "GetTask" => Method::GetTask,
            "ListTasks" => Method::ListTasks,
            "CancelTask" => Method::CancelTask,
            "SubscribeToTask" => Method::SubscribeToTask,
            "CreateTaskPushNotificationConfig" => Method::CreateTaskPushNotificationConfig,
            "GetTaskPushNotificationConfig" => Method::GetTaskPushNotificationConfig,
            "ListTaskPushNotificationConfigs" => Method::ListTaskPushNotificationConfigs,
            "DeleteTaskPushNotificationConfig" => Method::DeleteTaskPushNotificationConfig,
            "GetExtendedAgentCard" => Method::GetExtendedAgentCard,
            _ => {
                let method = match name {
                    "message/send" => Method::SendMessage,
                    "message/stream" => Method::SendStreamingMessage,
                    "tasks/get" => Method::GetTask,
                    "tasks/cancel" => Method::CancelTask,
                    "tasks/resubscribe" => Method::SubscribeToTask,
                    "tasks/pushNotificationConfig/set" => Method::CreateTaskPushNotificationConfig,
                    "tasks/pushNotificationConfig/get" => Method::GetTaskPushNotificationConfig,
                    "tasks/pushNotificationConfig/list" => Method::ListTaskPushNotificationConfigs,
                    "tasks/pushNotificationConfig/delete" => {
                        Method::DeleteTaskPushNotificationConfig
                    }
                    "agent/getAuthenticatedExtendedCard" => Method::GetExtendedAgentCard,
                    _ => return None,
                };
                return Some((method, ProtocolVersion::V0_3));
            }
        };
        Some((method, ProtocolVersion::V1_0))
    }

    /// Whether the answer is an event stream (SSE) rather than one JSON body.
    pub fn is_streaming(self) -> bool {
        matches!(self, Method::SendStreamingMessage | Method::SubscribeToTask)
    }

    /// Whether the operation names an existing task (and so cannot go without its id).
    pub fn requires_task_id(self) -> bool {
        matches!(self.task_id_at(ProtocolVersion::V1_0), TaskIdAt::Field(_))
    }

    /// Where the task id is in this operation's params. The push-config operations moved it:
    /// v0.3 `TaskIdParams`/`GetTaskPushNotificationConfigParams` call it `id` (and the config's
    /// id `pushNotificationConfigId`), v1.0 calls it `taskId` (and the config's id `id`).
    pub fn task_id_at(self, version: ProtocolVersion) -> TaskIdAt {
        match self {
            Method::SendMessage | Method::SendStreamingMessage => TaskIdAt::MessageTaskId,
            Method::GetTask | Method::CancelTask | Method::SubscribeToTask => TaskIdAt::Field("id"),
            Method::CreateTaskPushNotificationConfig => TaskIdAt::Field("taskId"),
            Method::GetTaskPushNotificationConfig
            | Method::ListTaskPushNotificationConfigs
            | Method::DeleteTaskPushNotificationConfig => match version {
                ProtocolVersion::V1_0 => TaskIdAt::Field("taskId"),
                ProtocolVersion::V0_3 => TaskIdAt::Field("id"),
            },
            Method::ListTasks | Method::GetExtendedAgentCard => TaskIdAt::Nowhere,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v1_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_method_and_version() {
        for method in Method::ALL {
            assert_eq!(
                Method::from_name(method.v1_name()),
                Some((method, ProtocolVersion::V1_0))
            );
            if let Some(name) = method.v0_3_name() {
                assert_eq!(
                    Method::from_name(name),
                    Some((method, ProtocolVersion::V0_3))
                );
            }
        }
        assert_eq!(Method::from_name("tasks/list"), None);
        assert_eq!(Method::from_name("sendMessage"), None);
    }
}
