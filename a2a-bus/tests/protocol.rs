//! `a2a_bus::protocol` against the reference: fixtures made by running a2a-sdk 1.3.0
//! (`tests/data/protocol/generate.py`: its v0.3 converters, its v0.3 REST body mapping, and a
//! server answering real requests in both versions and bindings), the hub's own cases
//! (`hub_cases.json`), and the routing and error tables.

use std::path::PathBuf;

use agenthub_a2a_bus::protocol::convert::{self, ObjectKind};
use agenthub_a2a_bus::protocol::envelope::{self, Reply};
use agenthub_a2a_bus::protocol::rest::{self, RouteError};
use agenthub_a2a_bus::protocol::{
    A2aError, ErrorKind, Method, ProtocolVersion, Requested, TaskState, access,
};
use http::Method as HttpMethod;
use serde_json::{Value, json};

const V1: ProtocolVersion = ProtocolVersion::V1_0;
const V03: ProtocolVersion = ProtocolVersion::V0_3;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/protocol")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

/// JSON equality with numbers compared by value (a2a-sdk's Struct turns 2 into 2.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The card module writes empty scope lists, which protobuf's JSON leaves out; they mean the
/// same, so a v1.0 card from it is compared without them.
fn card_lists(case: &Value, card: &mut Value) {
    if text(case, "method") == "GetExtendedAgentCard" {
        drop_empty_lists(card);
    }
}

fn drop_empty_lists(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, v| v.as_array().is_none_or(|items| !items.is_empty()));
            object.values_mut().for_each(drop_empty_lists);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty_lists),
        _ => {}
    }
}

#[track_caller]
fn assert_same(what: &str, ours: &Value, theirs: &Value) {
    assert!(
        same(ours, theirs),
        "{what}\n ours: {}\n want: {}",
        serde_json::to_string_pretty(ours).unwrap(),
        serde_json::to_string_pretty(theirs).unwrap()
    );
}

fn method_named(name: &str) -> Method {
    Method::ALL
        .into_iter()
        .find(|method| method.v1_name() == name)
        .unwrap_or_else(|| panic!("no method {name}"))
}

fn object_kind(kind: &str) -> Option<ObjectKind> {
    Some(match kind {
        "part" => ObjectKind::Part,
        "message" => ObjectKind::Message,
        "task" => ObjectKind::Task,
        "artifact" => ObjectKind::Artifact,
        "status_update" => ObjectKind::StatusUpdate,
        "artifact_update" => ObjectKind::ArtifactUpdate,
        "stream_event" => ObjectKind::StreamEvent,
        "send_configuration" => ObjectKind::SendConfiguration,
        "task_push_config" => ObjectKind::TaskPushConfig,
        "agent_card" => ObjectKind::AgentCard,
        _ => return None,
    })
}

/// Converts a case's value with the function its kind names.
fn convert_case(case: &Value, from: ProtocolVersion, to: ProtocolVersion, value: Value) -> Value {
    let kind = text(case, "kind");
    let name = text(case, "name");
    let converted = match kind {
        "params" => convert::params(method_named(text(case, "method")), from, to, value)
            .map_err(|e| e.to_string()),
        "result" => convert::result(method_named(text(case, "method")), from, to, value)
            .map_err(|e| e.to_string()),
        other => {
            let kind = object_kind(other).unwrap_or_else(|| panic!("{name}: kind {other}"));
            convert::object(kind, from, to, value).map_err(|e| e.to_string())
        }
    };
    converted.unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn conversions_match_a2a_sdk() {
    let fixture = fixture("sdk_objects.json");
    let cases = list(&fixture, "cases");
    assert!(cases.len() > 80);
    for case in cases {
        let name = format!("{} ({})", text(case, "name"), text(case, "direction"));
        match text(case, "direction") {
            "to_v1_0" => {
                let mut ours = convert_case(case, V03, V1, case["v0_3"].clone());
                card_lists(case, &mut ours);
                assert_same(&name, &ours, &case["v1_0"]);
                let back = convert_case(case, V1, V03, ours);
                assert_same(&format!("{name}, back"), &back, &case["v0_3_back"]);
            }
            "to_v0_3" => {
                let ours = convert_case(case, V1, V03, case["v1_0"].clone());
                assert_same(&name, &ours, &case["v0_3"]);
                if let Some(back) = case.get("v1_0_back") {
                    let mut ours_back = convert_case(case, V03, V1, ours);
                    card_lists(case, &mut ours_back);
                    assert_same(&format!("{name}, back"), &ours_back, back);
                }
            }
            other => panic!("{name}: direction {other}"),
        }
    }
}

#[test]
fn the_hubs_own_conversions() {
    let fixture = fixture("hub_cases.json");
    for case in list(&fixture, "cases") {
        let name = text(case, "name");
        let direction = text(case, "direction");
        if direction != "to_v0_3" {
            let ours = convert_case(case, V03, V1, case["v0_3"].clone());
            assert_same(&format!("{name} → v1.0"), &ours, &case["v1_0"]);
        }
        if direction != "to_v1_0" {
            let ours = convert_case(case, V1, V03, case["v1_0"].clone());
            assert_same(&format!("{name} → v0.3"), &ours, &case["v0_3"]);
        }
    }
    for case in list(&fixture, "errors") {
        let name = text(case, "name");
        let (from, to) = if text(case, "from") == "0.3" {
            (V03, V1)
        } else {
            (V1, V03)
        };
        let kind = object_kind(text(case, "kind")).unwrap();
        let error = convert::object(kind, from, to, case["input"].clone()).expect_err(name);
        assert_eq!(error.path, text(case, "path"), "{name}: {error}");
    }
}

#[test]
fn conversion_failures_are_the_senders() {
    let bad_message = json!({"message": {"kind": "message", "messageId": "m", "role": "user", "parts": [{"kind": "nope"}]}});
    let error = convert::params(Method::SendMessage, V03, V1, bad_message).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidParams);
    assert!(
        error.message.contains("params.message.parts[0].kind"),
        "{error}"
    );

    let error = convert::result(
        Method::GetTask,
        V1,
        V03,
        json!({"id": "t", "status": {"state": 5}}),
    )
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidAgentResponse);

    for (from, to) in [(V1, V03), (V03, V1)] {
        let error = convert::params(Method::ListTasks, from, to, json!({})).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnsupportedOperation);
    }
    // Same version: nothing is looked at.
    let odd = json!({"anything": [1, 2]});
    assert_eq!(
        convert::params(Method::SendMessage, V1, V1, odd.clone()).unwrap(),
        odd
    );
}

// ---- the v0.3 REST binding's bodies

fn rest_to_proto(kind: &str, jsonrpc: Value) -> Value {
    match kind {
        "message" => {
            let body = rest::body_from_result(Method::SendMessage, V03, jsonrpc).unwrap();
            body["message"].clone()
        }
        "task" => rest::body_from_result(Method::GetTask, V03, jsonrpc).unwrap(),
        "stream_event" => rest::body_from_event(V03, jsonrpc).unwrap(),
        "send_response" => rest::body_from_result(Method::SendMessage, V03, jsonrpc).unwrap(),
        "task_push_config" => {
            rest::body_from_result(Method::GetTaskPushNotificationConfig, V03, jsonrpc).unwrap()
        }
        "send_params" => rest::request(Method::SendMessage, V03, jsonrpc)
            .unwrap()
            .body
            .unwrap(),
        "create_body" => rest::request(Method::CreateTaskPushNotificationConfig, V03, jsonrpc)
            .unwrap()
            .body
            .unwrap(),
        other => panic!("kind {other}"),
    }
}

fn rest_from_proto(kind: &str, proto: Value) -> Value {
    match kind {
        "message" => {
            let result =
                rest::result_from_body(Method::SendMessage, V03, json!({"message": proto}));
            result.unwrap()
        }
        "task" => rest::result_from_body(Method::GetTask, V03, proto).unwrap(),
        "stream_event" => rest::event_from_body(V03, proto).unwrap(),
        "send_response" => rest::result_from_body(Method::SendMessage, V03, proto).unwrap(),
        "task_push_config" => {
            rest::result_from_body(Method::GetTaskPushNotificationConfig, V03, proto).unwrap()
        }
        "send_params" => {
            let route = rest::route(
                &HttpMethod::POST,
                "/v1/message:send",
                &Requested::Unspecified,
            )
            .unwrap();
            route.params(None, proto.to_string().as_bytes()).unwrap()
        }
        other => panic!("kind {other}"),
    }
}

#[test]
fn v0_3_rest_bodies_match_a2a_sdk() {
    let fixture = fixture("sdk_rest_v0_3.json");
    for case in list(&fixture, "cases") {
        let name = format!("{} ({})", text(case, "name"), text(case, "direction"));
        let kind = text(case, "kind");
        match text(case, "direction") {
            "to_proto" => {
                let ours = rest_to_proto(kind, case["jsonrpc"].clone());
                assert_same(&name, &ours, &case["proto"]);
            }
            "from_proto" => {
                let ours = rest_from_proto(kind, case["proto"].clone());
                assert_same(&name, &ours, &case["jsonrpc"]);
            }
            other => panic!("{name}: direction {other}"),
        }
    }
}

// ---- what an a2a-sdk server answered

fn exchanges() -> Vec<Value> {
    list(&fixture("wire.json"), "exchanges").clone()
}

fn exchange<'a>(all: &'a [Value], name: &str, binding: &str) -> &'a Value {
    all.iter()
        .find(|e| text(e, "name") == name && text(e, "binding") == binding)
        .unwrap_or_else(|| panic!("no exchange {name} over {binding}"))
}

fn requested(exchange: &Value) -> Requested {
    let header = exchange["request"]["headers"]["A2A-Version"].as_str();
    let path = text(&exchange["request"], "path");
    Requested::detect(header, path.split_once('?').map(|(_, query)| query))
}

fn request_bytes(exchange: &Value) -> Vec<u8> {
    match &exchange["request"]["body"] {
        Value::String(raw) if text(exchange, "name") == "parse error" => raw.clone().into_bytes(),
        body => serde_json::to_vec(body).unwrap(),
    }
}

/// The JSON-RPC envelope refuses what a2a-sdk refuses, with the same code, id and detail
/// reason, except where the hub is lenient on purpose.
#[test]
fn envelope_errors_match_a2a_sdk() {
    let all = exchanges();
    let refused = [
        "parse error",
        "batch",
        "body is a string",
        "jsonrpc missing",
        "jsonrpc 1.0",
        "boolean id",
        "object id",
        "method missing",
        "unknown method",
        "params string",
        "params array",
        "v1.0 method with version 2.0",
    ];
    for name in refused {
        let exchange = exchange(&all, name, "jsonrpc");
        let theirs = &exchange["response"]["body"];
        let rejection = envelope::parse_request(&request_bytes(exchange), &requested(exchange))
            .expect_err(name);
        let ours = rejection.response();
        assert_eq!(ours["id"], theirs["id"], "{name}: id");
        assert_eq!(
            ours["error"]["code"], theirs["error"]["code"],
            "{name}: code"
        );
        assert_eq!(
            ours["error"]["data"][0]["reason"], theirs["error"]["data"][0]["reason"],
            "{name}: reason"
        );
        assert_eq!(
            ours["error"].get("data").is_some(),
            theirs["error"].get("data").is_some(),
            "{name}: data"
        );
    }
    // Accepted by the hub, refused by a2a-sdk: the version comes from the method name, and a
    // fractional id is a JSON-RPC id.
    for (name, version) in [
        ("v1.0 method without version header", V1),
        ("v0.3 method with version 1.0", V03),
        ("fractional id", V1),
    ] {
        let exchange = exchange(&all, name, "jsonrpc");
        assert!(
            exchange["response"]["body"]["error"].is_object(),
            "{name}: a2a-sdk refused it"
        );
        let request = envelope::parse_request(&request_bytes(exchange), &requested(exchange))
            .unwrap_or_else(|e| panic!("{name}: {:?}", e.error));
        assert_eq!(request.version, version, "{name}");
        assert_eq!(request.method, Method::GetTask);
    }
    // Both answer a request without an id, with id null.
    let exchange = exchange(&all, "no id", "jsonrpc");
    assert_eq!(exchange["response"]["body"]["id"], Value::Null);
    let request = envelope::parse_request(&request_bytes(exchange), &requested(exchange)).unwrap();
    assert_eq!(request.id, Value::Null);
}

/// Errors read from an a2a-sdk answer are written back exactly as a2a-sdk wrote them.
#[test]
fn error_forms_match_a2a_sdk() {
    let all = exchanges();
    for exchange in &all {
        let name = text(exchange, "name");
        let response = &exchange["response"];
        let version = if text(exchange, "version") == "0.3" {
            V03
        } else {
            V1
        };
        match (text(exchange, "binding"), response.get("body")) {
            ("jsonrpc", Some(body)) if body.get("error").is_some() => {
                let mut theirs = body["error"].clone();
                // a2a-sdk's v0.3 adapter writes `"data": null`; the hub leaves it out.
                if theirs.get("data") == Some(&Value::Null) {
                    theirs.as_object_mut().unwrap().remove("data");
                }
                let error = A2aError::from_jsonrpc(&theirs);
                // Errors a2a-sdk raises before it knows the version are in the v1.0 form.
                let form = if exchange["version"].is_null() {
                    V1
                } else {
                    version
                };
                let reencoded = error.to_jsonrpc(form);
                if error.kind == ErrorKind::Internal && version == V03 {
                    // -32009 written for a v0.3 client: the code is all there is.
                    assert_eq!(reencoded["code"], -32603, "{name}");
                    continue;
                }
                assert_eq!(reencoded, theirs, "{name}");
            }
            ("rest", Some(body)) if body.get("error").is_some() => {
                let status = response["status"].as_u64().unwrap() as u16;
                let error = A2aError::from_rest(status, Some(body));
                assert_eq!(error.to_rest(), (status, body.clone()), "{name}");
                assert_eq!(text(response, "content_type"), "application/json", "{name}");
            }
            _ => {}
        }
        // Errors inside a stream: v0.3 sends them as data of an ordinary event.
        if let Some(events) = response["events"].as_array() {
            for event in events {
                let parsed = envelope::parse_response(event["data"].to_string().as_bytes());
                if let Ok(envelope::Response {
                    reply: Reply::Error(error),
                    ..
                }) = parsed
                {
                    let ours = A2aError::from_jsonrpc(&error).to_jsonrpc(version);
                    assert_eq!(ours, error, "{name}: stream error");
                }
            }
        }
    }
}

fn rpc_result(exchange: &Value) -> Value {
    let bytes = serde_json::to_vec(&exchange["response"]["body"]).unwrap();
    match envelope::parse_response(&bytes).unwrap().reply {
        Reply::Result(result) => result,
        Reply::Error(error) => panic!("{}: {error}", text(exchange, "name")),
    }
}

fn stream_results(exchange: &Value) -> Vec<Value> {
    list(&exchange["response"], "events")
        .iter()
        .map(|event| {
            assert!(event["event"].is_null(), "{}", text(exchange, "name"));
            let bytes = event["data"].to_string();
            match envelope::parse_response(bytes.as_bytes()).unwrap().reply {
                Reply::Result(result) => result,
                Reply::Error(error) => panic!("{error}"),
            }
        })
        .collect()
}

fn stream_bodies(exchange: &Value) -> Vec<Value> {
    list(&exchange["response"], "events")
        .iter()
        .map(|event| event["data"].clone())
        .collect()
}

#[track_caller]
fn assert_versions_agree(what: &str, method: Method, v03: &Value, v1: &Value) {
    let up = convert::result(method, V03, V1, v03.clone()).unwrap();
    assert_same(&format!("{what}: v0.3 → v1.0"), &up, v1);
    let down = convert::result(method, V1, V03, v1.clone()).unwrap();
    assert_same(&format!("{what}: v1.0 → v0.3"), &down, v03);
}

/// The same exchange answered in each version and binding: converting one answer gives the
/// other, event by event.
#[test]
fn answers_agree_across_versions_and_bindings() {
    let all = exchanges();
    let send_v1 = rpc_result(exchange(&all, "send v1.0", "jsonrpc"));
    let send_v03 = rpc_result(exchange(&all, "send v0.3", "jsonrpc"));
    assert_versions_agree("send", Method::SendMessage, &send_v03, &send_v1);

    let rest_v1 = &exchange(&all, "send v1.0", "rest")["response"]["body"];
    assert_eq!(
        &rest::result_from_body(Method::SendMessage, V1, rest_v1.clone()).unwrap(),
        &send_v1
    );
    let rest_v03 = &exchange(&all, "send v0.3", "rest")["response"]["body"];
    let read = rest::result_from_body(Method::SendMessage, V03, rest_v03.clone()).unwrap();
    assert_same("send over v0.3 REST", &read, &send_v03);
    let written = rest::body_from_result(Method::SendMessage, V03, send_v03.clone()).unwrap();
    assert_same("send written for v0.3 REST", &written, rest_v03);

    let stream_v1 = stream_results(exchange(&all, "stream v1.0", "jsonrpc"));
    let stream_v03 = stream_results(exchange(&all, "stream v0.3", "jsonrpc"));
    let rest_stream_v1 = stream_bodies(exchange(&all, "stream v1.0", "rest"));
    let rest_stream_v03 = stream_bodies(exchange(&all, "stream v0.3", "rest"));
    assert_eq!(stream_v1.len(), 4);
    for i in 0..stream_v1.len() {
        let what = format!("stream event {i}");
        assert_versions_agree(
            &what,
            Method::SendStreamingMessage,
            &stream_v03[i],
            &stream_v1[i],
        );
        assert_eq!(
            rest::event_from_body(V1, rest_stream_v1[i].clone()).unwrap(),
            stream_v1[i]
        );
        let read = rest::event_from_body(V03, rest_stream_v03[i].clone()).unwrap();
        assert_same(&format!("{what} over v0.3 REST"), &read, &stream_v03[i]);
        let written = rest::body_from_event(V03, stream_v03[i].clone()).unwrap();
        assert_same(
            &format!("{what} written for v0.3 REST"),
            &written,
            &rest_stream_v03[i],
        );
        // The last event, and only it, ends the stream in both versions.
        let last = i == stream_v1.len() - 1;
        assert_eq!(access::is_final_event(V1, &stream_v1[i]), last, "{what}");
        assert_eq!(access::is_final_event(V03, &stream_v03[i]), last, "{what}");
        assert_eq!(
            access::event_task_id(V1, &stream_v1[i]),
            access::event_task_id(V03, &stream_v03[i])
        );
        assert_eq!(
            access::event_context_id(V1, &stream_v1[i]),
            access::event_context_id(V03, &stream_v03[i])
        );
    }
    assert_eq!(
        access::event_state(V1, &stream_v1[3]),
        Some(TaskState::Completed)
    );

    for (name, method) in [
        ("get push", Method::GetTaskPushNotificationConfig),
        ("list push", Method::ListTaskPushNotificationConfigs),
    ] {
        let v1 = rpc_result(exchange(&all, &format!("{name} v1.0"), "jsonrpc"));
        let v03 = rpc_result(exchange(&all, &format!("{name} v0.3"), "jsonrpc"));
        assert_versions_agree(name, method, &v03, &v1);
    }
    let list_v03 = rpc_result(exchange(&all, "list push v0.3", "jsonrpc"));
    let rest_list = &exchange(&all, "list push v0.3", "rest")["response"]["body"];
    let read = rest::result_from_body(
        Method::ListTaskPushNotificationConfigs,
        V03,
        rest_list.clone(),
    )
    .unwrap();
    assert_same("list over v0.3 REST", &read, &list_v03);
    let written =
        rest::body_from_result(Method::ListTaskPushNotificationConfigs, V03, list_v03).unwrap();
    assert_same("list written for v0.3 REST", &written, rest_list);
    let get_v03 = rpc_result(exchange(&all, "get push v0.3", "jsonrpc"));
    let rest_get = &exchange(&all, "get push v0.3", "rest")["response"]["body"];
    let read = rest::result_from_body(Method::GetTaskPushNotificationConfig, V03, rest_get.clone())
        .unwrap();
    assert_same("get push over v0.3 REST", &read, &get_v03);

    let task_v1 = exchange(&all, "get task v1.0", "rest")["response"]["body"].clone();
    let task_v03 = exchange(&all, "get task v0.3", "rest")["response"]["body"].clone();
    let task_v03 = rest::result_from_body(Method::GetTask, V03, task_v03).unwrap();
    assert_versions_agree("get task", Method::GetTask, &task_v03, &task_v1);
    assert_eq!(
        access::result_task_id(Method::GetTask, V1, &task_v1),
        access::result_task_id(Method::GetTask, V03, &task_v03)
    );

    // Deleting: null in v1.0 JSON-RPC, nothing at all from a2a-sdk's v0.3 adapter, {} over REST.
    for (name, binding) in [
        ("delete push v1.0", "jsonrpc"),
        ("delete push v0.3", "jsonrpc"),
    ] {
        assert_eq!(
            rpc_result(exchange(&all, name, binding)),
            Value::Null,
            "{name}"
        );
    }
    let rest_delete = &exchange(&all, "delete push v1.0", "rest")["response"]["body"];
    assert_eq!(
        rest::result_from_body(
            Method::DeleteTaskPushNotificationConfig,
            V1,
            rest_delete.clone()
        )
        .unwrap(),
        Value::Null
    );
    assert_eq!(
        &rest::body_from_result(Method::DeleteTaskPushNotificationConfig, V1, Value::Null).unwrap(),
        rest_delete
    );
}

/// Every REST request a2a-sdk was sent routes to its operation, and the request the hub would
/// write for those params is the one that was sent.
#[test]
fn rest_requests_route_and_are_rewritten_the_same() {
    for exchange in exchanges().iter().filter(|e| text(e, "binding") == "rest") {
        let name = text(exchange, "name");
        let request = &exchange["request"];
        let http = HttpMethod::from_bytes(text(request, "method").as_bytes()).unwrap();
        let (path, query) = match text(request, "path").split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (text(request, "path"), None),
        };
        let route = rest::route(&http, path, &requested(exchange))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let version = if text(exchange, "version") == "0.3" {
            V03
        } else {
            V1
        };
        assert_eq!(route.version, version, "{name}");
        let body = if request["body"].is_null() {
            Vec::new()
        } else {
            request_bytes(exchange)
        };
        let params = route.params(query, &body).unwrap();
        access::check_params(route.method, version, &params)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let outgoing = rest::request(route.method, version, params).unwrap();
        let mut target = outgoing.path.clone();
        if !outgoing.query.is_empty() {
            target = format!("{target}?{}", outgoing.query);
        }
        assert_eq!(target, text(request, "path"), "{name}");
        if route.method != Method::SubscribeToTask {
            assert_eq!(outgoing.http_method, http, "{name}");
        }
        // (The generator posted no body where a2a-sdk's client posts the request message.)
        if let (Some(body), false) = (outgoing.body, request["body"].is_null()) {
            assert_same(&format!("{name}: body"), &body, &request["body"]);
        }
    }
}

// ---- tables

#[test]
fn method_names_per_version() {
    let names: Vec<_> = Method::ALL
        .iter()
        .map(|m| (m.v1_name(), m.v0_3_name()))
        .collect();
    assert_eq!(
        names,
        [
            ("SendMessage", Some("message/send")),
            ("SendStreamingMessage", Some("message/stream")),
            ("GetTask", Some("tasks/get")),
            ("ListTasks", None),
            ("CancelTask", Some("tasks/cancel")),
            ("SubscribeToTask", Some("tasks/resubscribe")),
            (
                "CreateTaskPushNotificationConfig",
                Some("tasks/pushNotificationConfig/set")
            ),
            (
                "GetTaskPushNotificationConfig",
                Some("tasks/pushNotificationConfig/get")
            ),
            (
                "ListTaskPushNotificationConfigs",
                Some("tasks/pushNotificationConfig/list")
            ),
            (
                "DeleteTaskPushNotificationConfig",
                Some("tasks/pushNotificationConfig/delete")
            ),
            (
                "GetExtendedAgentCard",
                Some("agent/getAuthenticatedExtendedCard")
            ),
        ]
    );
    let streaming: Vec<_> = Method::ALL
        .into_iter()
        .filter(|m| m.is_streaming())
        .collect();
    assert_eq!(
        streaming,
        [Method::SendStreamingMessage, Method::SubscribeToTask]
    );
    let no_task: Vec<_> = Method::ALL
        .into_iter()
        .filter(|m| !m.requires_task_id())
        .collect();
    assert_eq!(
        no_task,
        [
            Method::SendMessage,
            Method::SendStreamingMessage,
            Method::ListTasks,
            Method::GetExtendedAgentCard
        ]
    );
}

/// What a route names: the operation, its version, the tenant, the task and config ids.
type Routed = (
    Method,
    ProtocolVersion,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn route(http: HttpMethod, path: &str) -> Result<Routed, RouteError> {
    rest::route(&http, path, &Requested::Unspecified)
        .map(|r| (r.method, r.version, r.tenant, r.task_id, r.config_id))
}

#[test]
fn rest_routes_both_versions() {
    use HttpMethod as H;
    let s = |text: &str| Some(text.to_owned());
    let v1 = [
        (H::POST, "/message:send", Method::SendMessage, None, None),
        (
            H::POST,
            "/message:stream",
            Method::SendStreamingMessage,
            None,
            None,
        ),
        (H::GET, "/tasks/t1", Method::GetTask, s("t1"), None),
        (H::GET, "/tasks", Method::ListTasks, None, None),
        (
            H::POST,
            "/tasks/t1:cancel",
            Method::CancelTask,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/tasks/t1:subscribe",
            Method::SubscribeToTask,
            s("t1"),
            None,
        ),
        (
            H::POST,
            "/tasks/t1:subscribe",
            Method::SubscribeToTask,
            s("t1"),
            None,
        ),
        (
            H::POST,
            "/tasks/t1/pushNotificationConfigs",
            Method::CreateTaskPushNotificationConfig,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/tasks/t1/pushNotificationConfigs",
            Method::ListTaskPushNotificationConfigs,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/tasks/t1/pushNotificationConfigs/c1",
            Method::GetTaskPushNotificationConfig,
            s("t1"),
            s("c1"),
        ),
        (
            H::DELETE,
            "/tasks/t1/pushNotificationConfigs/c1",
            Method::DeleteTaskPushNotificationConfig,
            s("t1"),
            s("c1"),
        ),
        (
            H::GET,
            "/extendedAgentCard",
            Method::GetExtendedAgentCard,
            None,
            None,
        ),
    ];
    for (http, path, method, task, config) in v1 {
        assert_eq!(
            route(http.clone(), path),
            Ok((method, V1, None, task.clone(), config.clone())),
            "{path}"
        );
        let tenanted = format!("/acme{path}");
        assert_eq!(
            route(http, &tenanted),
            Ok((method, V1, s("acme"), task, config)),
            "{tenanted}"
        );
    }
    let v03 = [
        (H::POST, "/v1/message:send", Method::SendMessage, None, None),
        (
            H::POST,
            "/v1/message:stream",
            Method::SendStreamingMessage,
            None,
            None,
        ),
        (H::GET, "/v1/tasks/t1", Method::GetTask, s("t1"), None),
        (
            H::POST,
            "/v1/tasks/t1:cancel",
            Method::CancelTask,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/v1/tasks/t1:subscribe",
            Method::SubscribeToTask,
            s("t1"),
            None,
        ),
        (
            H::POST,
            "/v1/tasks/t1:subscribe",
            Method::SubscribeToTask,
            s("t1"),
            None,
        ),
        (
            H::POST,
            "/v1/tasks/t1/pushNotificationConfigs",
            Method::CreateTaskPushNotificationConfig,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/v1/tasks/t1/pushNotificationConfigs",
            Method::ListTaskPushNotificationConfigs,
            s("t1"),
            None,
        ),
        (
            H::GET,
            "/v1/tasks/t1/pushNotificationConfigs/c1",
            Method::GetTaskPushNotificationConfig,
            s("t1"),
            s("c1"),
        ),
        (
            H::DELETE,
            "/v1/tasks/t1/pushNotificationConfigs/c1",
            Method::DeleteTaskPushNotificationConfig,
            s("t1"),
            s("c1"),
        ),
        (H::GET, "/v1/card", Method::GetExtendedAgentCard, None, None),
    ];
    for (http, path, method, task, config) in v03 {
        assert_eq!(
            route(http, path),
            Ok((method, V03, None, task, config)),
            "{path}"
        );
    }
    // `/v1` is also a tenant: for paths v0.3 lacks, and for clients that said they speak 1.0.
    assert_eq!(
        route(H::GET, "/v1/tasks"),
        Ok((Method::ListTasks, V1, s("v1"), None, None))
    );
    let explicit = rest::route(&H::POST, "/v1/message:send", &Requested::Version(V1)).unwrap();
    assert_eq!(
        (explicit.version, explicit.tenant.as_deref()),
        (V1, Some("v1"))
    );
    // Ids are percent-decoded; a trailing slash does not matter.
    assert_eq!(
        route(H::GET, "/tasks/a%2Fb%20c/"),
        Ok((Method::GetTask, V1, None, s("a/b c"), None))
    );
    assert_eq!(
        route(H::GET, "/nothing/here/at/all/x"),
        Err(RouteError::NotFound)
    );
    assert_eq!(
        route(H::GET, "/message:send"),
        Err(RouteError::MethodNotAllowed(&["POST"]))
    );
    assert_eq!(
        route(H::PUT, "/tasks/t1"),
        Err(RouteError::MethodNotAllowed(&["GET"]))
    );
    let refused =
        rest::route(&H::GET, "/tasks/t1", &Requested::Unsupported("3.0".into())).unwrap_err();
    let (status, body) = refused.to_rest();
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "VERSION_NOT_SUPPORTED"
    );
    assert_eq!(RouteError::MethodNotAllowed(&["GET"]).to_rest().0, 405);
    assert_eq!(RouteError::NotFound.to_rest().0, 404);
}

#[test]
fn rest_params_from_path_query_and_body() {
    let params = |http: HttpMethod, path: &str, query: Option<&str>, body: &str| {
        let route = rest::route(&http, path, &Requested::Unspecified).unwrap();
        route.params(query, body.as_bytes())
    };
    assert_eq!(
        params(HttpMethod::GET, "/t9/tasks", Some("contextId=c&status=TASK_STATE_WORKING&pageSize=5&includeArtifacts=true&A2A-Version=1.0&x=1"), "").unwrap(),
        json!({"tenant": "t9", "contextId": "c", "status": "TASK_STATE_WORKING", "pageSize": 5, "includeArtifacts": true})
    );
    assert_eq!(
        params(
            HttpMethod::GET,
            "/tasks/t1",
            Some("historyLength=2&historyLength=3"),
            ""
        )
        .unwrap(),
        json!({"id": "t1", "historyLength": 3})
    );
    let error = params(HttpMethod::GET, "/tasks/t1", Some("historyLength=lots"), "").unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidParams);
    assert_eq!(
        params(
            HttpMethod::POST,
            "/tasks/t1:cancel",
            None,
            r#"{"id": "other", "metadata": {"k": 1}}"#
        )
        .unwrap(),
        json!({"id": "t1", "metadata": {"k": 1}})
    );
    assert_eq!(
        params(
            HttpMethod::POST,
            "/tasks/t1/pushNotificationConfigs",
            None,
            r#"{"url": "https://e.x/h"}"#
        )
        .unwrap(),
        json!({"taskId": "t1", "url": "https://e.x/h"})
    );
    assert_eq!(
        params(
            HttpMethod::GET,
            "/v1/tasks/t1/pushNotificationConfigs/c1",
            None,
            ""
        )
        .unwrap(),
        json!({"id": "t1", "pushNotificationConfigId": "c1"})
    );
    // The three bodies a v0.3 create may come with.
    let expected =
        json!({"taskId": "t1", "pushNotificationConfig": {"id": "c1", "url": "https://e.x/h"}});
    for body in [
        r#"{"parent": "tasks/t1", "configId": "c1", "config": {"name": "tasks/t1/pushNotificationConfigs/c1", "pushNotificationConfig": {"url": "https://e.x/h"}}}"#,
        r#"{"name": "tasks/t1/pushNotificationConfigs/c1", "pushNotificationConfig": {"id": "c1", "url": "https://e.x/h"}}"#,
        r#"{"id": "c1", "url": "https://e.x/h"}"#,
    ] {
        let ours = params(
            HttpMethod::POST,
            "/v1/tasks/t1/pushNotificationConfigs",
            None,
            body,
        )
        .unwrap();
        assert_eq!(ours, expected, "{body}");
    }
    let error = params(HttpMethod::POST, "/message:send", None, "{nope").unwrap_err();
    assert_eq!(error.kind, ErrorKind::ParseError);
    assert_eq!(error.to_rest().0, 400);
    let error = params(HttpMethod::POST, "/message:send", None, "[1]").unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
}

#[test]
fn outgoing_rest_requests() {
    let request = |method, version, params: Value| rest::request(method, version, params).unwrap();
    let out = request(
        Method::GetTask,
        V1,
        json!({"id": "a/b", "historyLength": 2, "tenant": "acme"}),
    );
    assert_eq!(
        (out.http_method, out.path.as_str(), out.query.as_str()),
        (HttpMethod::GET, "/acme/tasks/a%2Fb", "historyLength=2")
    );
    let out = request(
        Method::ListTasks,
        V1,
        json!({"contextId": "c d", "includeArtifacts": false}),
    );
    assert_eq!(
        (out.path.as_str(), out.query.as_str()),
        ("/tasks", "contextId=c%20d&includeArtifacts=false")
    );
    let out = request(Method::SubscribeToTask, V1, json!({"id": "t"}));
    assert_eq!(
        (out.http_method, out.path.as_str(), out.body),
        (HttpMethod::POST, "/tasks/t:subscribe", None)
    );
    let out = request(Method::SubscribeToTask, V03, json!({"id": "t"}));
    assert_eq!(
        (out.http_method, out.path.as_str()),
        (HttpMethod::GET, "/v1/tasks/t:subscribe")
    );
    let out = request(
        Method::DeleteTaskPushNotificationConfig,
        V03,
        json!({"id": "t", "pushNotificationConfigId": "c"}),
    );
    assert_eq!(
        (out.http_method, out.path.as_str()),
        (HttpMethod::DELETE, "/v1/tasks/t/pushNotificationConfigs/c")
    );
    let out = request(
        Method::CancelTask,
        V1,
        json!({"id": "t", "metadata": {"k": "v"}}),
    );
    assert_eq!(out.body, Some(json!({"id": "t", "metadata": {"k": "v"}})));
    let out = request(Method::GetExtendedAgentCard, V03, json!({}));
    assert_eq!(out.path, "/v1/card");
    // An error event in a REST stream is the agent's error.
    let error_event = A2aError::task_not_found().to_rest().1;
    let error = rest::event_from_body(V1, error_event).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TaskNotFound);
    let error = rest::request(Method::GetTask, V1, json!({})).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidParams);
    let error = rest::request(Method::ListTasks, V03, json!({})).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnsupportedOperation);
    assert_eq!(rest::content_type(V1), "application/a2a+json");
}

#[test]
fn error_catalogue() {
    let table = [
        (
            A2aError::task_not_found(),
            -32001,
            "TASK_NOT_FOUND",
            404,
            "NOT_FOUND",
        ),
        (
            A2aError::task_not_cancelable(),
            -32002,
            "TASK_NOT_CANCELABLE",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::push_notification_not_supported(),
            -32003,
            "PUSH_NOTIFICATION_NOT_SUPPORTED",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::unsupported_operation(),
            -32004,
            "UNSUPPORTED_OPERATION",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::content_type_not_supported(),
            -32005,
            "CONTENT_TYPE_NOT_SUPPORTED",
            400,
            "INVALID_ARGUMENT",
        ),
        (
            A2aError::invalid_agent_response(),
            -32006,
            "INVALID_AGENT_RESPONSE",
            500,
            "INTERNAL",
        ),
        (
            A2aError::extended_agent_card_not_configured(),
            -32007,
            "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::extension_support_required(),
            -32008,
            "EXTENSION_SUPPORT_REQUIRED",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::version_not_supported(),
            -32009,
            "VERSION_NOT_SUPPORTED",
            400,
            "FAILED_PRECONDITION",
        ),
        (
            A2aError::parse_error(),
            -32700,
            "INVALID_REQUEST",
            400,
            "INVALID_ARGUMENT",
        ),
        (
            A2aError::invalid_request(),
            -32600,
            "INVALID_REQUEST",
            400,
            "INVALID_ARGUMENT",
        ),
        (
            A2aError::method_not_found(),
            -32601,
            "METHOD_NOT_FOUND",
            404,
            "NOT_FOUND",
        ),
        (
            A2aError::invalid_params(),
            -32602,
            "INVALID_PARAMS",
            400,
            "INVALID_ARGUMENT",
        ),
        (
            A2aError::internal(),
            -32603,
            "INTERNAL_ERROR",
            500,
            "INTERNAL",
        ),
    ];
    for (error, code, reason, status, grpc) in table {
        assert_eq!(error.kind.code(), code);
        assert_eq!(ErrorKind::from_code(code), error.kind);
        assert_eq!(error.kind.reason(), reason);
        assert_eq!(error.kind.http_status(), status);
        assert_eq!(error.kind.grpc_status(), grpc);
        let v1 = error.to_jsonrpc(V1);
        assert_eq!(v1["code"], code);
        let v03 = error.to_jsonrpc(V03);
        let v03_code = if matches!(code, -32008 | -32009) {
            -32603
        } else {
            code
        };
        assert_eq!(v03["code"], v03_code);
        assert!(v03.get("data").is_none());
        let (http, body) = error.to_rest();
        assert_eq!(
            (http, body["error"]["code"].as_u64()),
            (status, Some(u64::from(status)))
        );
        // What is written reads back as itself (over REST a parse error is an invalid
        // request: a2a-sdk gives it that reason).
        assert_eq!(A2aError::from_jsonrpc(&v1), error);
        let read = A2aError::from_rest(http, Some(&body));
        if error.kind == ErrorKind::ParseError {
            assert_eq!(read.kind, ErrorKind::InvalidRequest);
        } else {
            assert_eq!(read, error);
        }
    }
    let error = A2aError::task_not_found()
        .with_message("no task t")
        .with_metadata("taskId", "t");
    assert_eq!(
        error.to_jsonrpc(V1),
        json!({"code": -32001, "message": "no task t", "data": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND",
            "domain": "a2a-protocol.org", "metadata": {"taskId": "t"}}]})
    );
    assert_eq!(
        error.to_jsonrpc(V03),
        json!({"code": -32001, "message": "no task t", "data": {"taskId": "t"}})
    );
    // An agent's own code is relayed as it is.
    let custom = A2aError::from_jsonrpc(&json!({"code": -31000, "message": "quota"}));
    assert_eq!(
        (custom.kind, custom.to_jsonrpc(V03)["code"].clone()),
        (ErrorKind::Other(-31000), json!(-31000))
    );
    // v0.3-era REST error bodies: the class name, else the status.
    let old = A2aError::from_rest(
        404,
        Some(&json!({"message": "gone", "type": "TaskNotFoundError"})),
    );
    assert_eq!(
        (old.kind, old.message.as_str()),
        (ErrorKind::TaskNotFound, "gone")
    );
    assert_eq!(
        A2aError::from_rest(409, Some(&json!({"message": "no"}))).kind,
        ErrorKind::TaskNotCancelable
    );
    assert_eq!(
        A2aError::from_rest(502, None).kind,
        ErrorKind::InvalidAgentResponse
    );
}

#[test]
fn envelope_reads_and_writes() {
    let body = br#"{"jsonrpc": "2.0", "id": "r1", "method": "message/send", "params": {"message": {"messageId": "m", "role": "user", "parts": []}}}"#;
    let request = envelope::parse_request(body, &Requested::Unspecified).unwrap();
    assert_eq!(
        (request.method, request.version, request.id.clone()),
        (Method::SendMessage, V03, json!("r1"))
    );
    let request = envelope::parse_request(
        br#"{"jsonrpc":"2.0","id":3,"method":"GetExtendedAgentCard"}"#,
        &Requested::Unspecified,
    )
    .unwrap();
    assert_eq!(request.params, json!({}));
    let rejection = envelope::parse_request(
        br#"{"jsonrpc":"2.0","id":3,"method":"tasks/get","params":{"id":"t"}}"#,
        &Requested::Unsupported("0.2".into()),
    )
    .unwrap_err();
    assert_eq!(
        (
            rejection.version,
            rejection.response()["error"]["code"].clone()
        ),
        (V03, json!(-32603))
    );
    assert_eq!(rejection.error.kind, ErrorKind::VersionNotSupported);

    assert_eq!(
        envelope::success(json!(1), json!({"task": {}})),
        json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {}}})
    );
    assert_eq!(
        envelope::request(json!("x"), Method::GetTask, V03, json!({"id": "t"})).unwrap(),
        json!({"jsonrpc": "2.0", "id": "x", "method": "tasks/get", "params": {"id": "t"}})
    );
    let response = envelope::parse_response(
        br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"x"}}"#,
    )
    .unwrap();
    assert!(matches!(response.reply, Reply::Error(_)));
    let error = envelope::parse_response(b"<html>").unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidAgentResponse);
}

#[test]
fn accessors() {
    let params = json!({"message": {"messageId": "m", "role": "ROLE_USER", "taskId": "t", "contextId": "c",
        "parts": [{"text": "one"}, {"data": {"text": "not a text part"}}, {"text": "two"}]}});
    assert_eq!(
        access::params_task_id(Method::SendMessage, V1, &params),
        Some("t")
    );
    assert_eq!(
        access::params_context_id(Method::SendMessage, &params),
        Some("c")
    );
    let message = access::params_message(Method::SendMessage, &params).unwrap();
    assert_eq!(
        access::part_texts(message).collect::<Vec<_>>(),
        ["one", "two"]
    );
    access::check_params(Method::SendMessage, V1, &params).unwrap();
    assert!(
        access::check_params(
            Method::SendMessage,
            V1,
            &json!({"message": {"role": "user"}})
        )
        .is_err()
    );

    let get = json!({"id": "t", "pushNotificationConfigId": "c"});
    assert_eq!(
        access::params_task_id(Method::GetTaskPushNotificationConfig, V03, &get),
        Some("t")
    );
    assert_eq!(
        access::params_task_id(
            Method::GetTaskPushNotificationConfig,
            V1,
            &json!({"taskId": "t", "id": "c"})
        ),
        Some("t")
    );
    assert_eq!(
        access::require_task_id(Method::CancelTask, V1, &json!({}))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidParams
    );
    assert!(
        access::check_params(
            Method::DeleteTaskPushNotificationConfig,
            V1,
            &json!({"taskId": "t"})
        )
        .is_err()
    );
    assert!(
        access::check_params(
            Method::CreateTaskPushNotificationConfig,
            V03,
            &json!({"taskId": "t", "pushNotificationConfig": {"url": "u"}})
        )
        .is_ok()
    );

    let task = json!({"task": {"id": "t", "contextId": "c", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
        "message": {"parts": [{"text": "which city?"}]}},
        "artifacts": [{"parts": [{"text": "draft"}], "metadata": {"parts": [{"text": "hidden"}]}}]}});
    assert_eq!(access::texts(&task), ["draft", "which city?"]);
    assert_eq!(
        access::event_state(V1, &task),
        Some(TaskState::InputRequired)
    );
    assert!(!access::is_final_event(V1, &task));
    assert!(access::event_state(V1, &task).unwrap().is_interrupted());
    let mut redacted = task.clone();
    access::for_each_text_mut(&mut redacted, &mut |text: &mut String| {
        *text = text.to_uppercase()
    });
    assert_eq!(access::texts(&redacted), ["DRAFT", "WHICH CITY?"]);
    assert_eq!(
        redacted["task"]["artifacts"][0]["metadata"]["parts"][0]["text"],
        "hidden"
    );

    assert!(access::is_final_event(
        V1,
        &json!({"message": {"messageId": "m"}})
    ));
    assert!(access::is_final_event(
        V03,
        &json!({"kind": "status-update", "final": true, "status": {"state": "input-required"}})
    ));
    assert!(!access::is_final_event(
        V03,
        &json!({"kind": "status-update", "final": false, "status": {"state": "completed"}})
    ));
    assert!(access::is_final_event(
        V03,
        &json!({"kind": "task", "id": "t", "status": {"state": "canceled"}})
    ));
    assert_eq!(
        access::result_task_id(
            Method::SendMessage,
            V03,
            &json!({"kind": "message", "taskId": "t"})
        ),
        Some("t")
    );
    assert_eq!(
        access::result_context_id(
            Method::CancelTask,
            V1,
            &json!({"id": "t", "contextId": "c"})
        ),
        Some("c")
    );
}
