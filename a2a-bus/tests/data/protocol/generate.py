"""Makes the a2a-sdk fixtures of a2a-bus/tests/protocol.rs, by running the official Python SDK.

- sdk_objects.json: v0.3 <-> v1.0 conversions made by a2a-sdk's compatibility layer
  (`a2a.compat.v0_3.conversions`), the reference for `a2a_bus::protocol::convert`. Each case has
  the input, a2a-sdk's output, and a2a-sdk's round trip (the output converted back).
- sdk_rest_v0_3.json: v0.3 JSON-RPC objects <-> the v0.3 HTTP+JSON bodies (protobuf JSON of the
  v0.3 proto) made by `a2a.compat.v0_3.proto_utils` (ToProto / FromProto), the reference for
  `a2a_bus::protocol::rest`.
- wire.json: what an a2a-sdk server (JSON-RPC and REST routes, v0.3 compatibility on) answers
  to real requests, in both versions and bindings: envelope errors, A2A errors, results, SSE
  streams (raw text and parsed events). Ids and timestamps are made deterministic (uuid4 and
  the clock are patched), so the same exchange in different versions can be compared.

Rerun (output is deterministic; rerunning without an SDK change changes nothing):

    python3 -m venv /tmp/h2venv && /tmp/h2venv/bin/pip install 'a2a-sdk[http-server]==1.3.0'
    cd a2a-bus/tests/data/protocol && /tmp/h2venv/bin/python generate.py

Normalizations, said here once: a2a-sdk's FromProto fills absent lists with [], absent
metadata with {} and absent strings with "" (proto3 has no "absent"); those empty values are
removed from its outputs (`prune`). Struct numbers come back as floats in a2a-sdk, so the
inputs use no integers inside metadata or data.
"""

import asyncio
import copy
import itertools
import json
import logging
import uuid

from datetime import datetime, timezone

from google.protobuf.json_format import MessageToDict, ParseDict

from a2a.compat.v0_3 import a2a_v0_3_pb2 as pb03
from a2a.compat.v0_3 import conversions as conv
from a2a.compat.v0_3 import proto_utils as pu
from a2a.compat.v0_3 import types as t3
from a2a.types import a2a_pb2 as pb

logging.disable(logging.CRITICAL)

SDK = 'a2a-sdk 1.3.0'


def dump03(model):
    return model.model_dump(mode='json', by_alias=True, exclude_none=True)


def dict1(message):
    return MessageToDict(message)


def prune(value):
    """Drops the empty values proto3 cannot tell from absent ones."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v in ([], {}, '', None):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


# ---------------------------------------------------------------- v0.3 and v1.0 objects

TS = '2026-01-02T03:04:05Z'
META = {'source': 'test', 'score': 0.5, 'nested': {'flag': True, 'tags': ['a', 'b']}}

P03_TEXT = {'kind': 'text', 'text': 'hello', 'metadata': {'lang': 'en'}}
P03_BYTES = {'kind': 'file', 'file': {'bytes': 'aGVsbG8=', 'mimeType': 'text/plain', 'name': 'hello.txt'}}
P03_URI = {'kind': 'file', 'file': {'uri': 'https://example.com/a.png', 'mimeType': 'image/png'}}
P03_DATA = {'kind': 'data', 'data': {'city': 'Oslo', 'days': 2.5, 'ok': True}, 'metadata': {'schema': 'trip'}}

MSG03 = {
    'kind': 'message',
    'messageId': 'msg-1',
    'role': 'user',
    'contextId': 'ctx-1',
    'taskId': 'task-1',
    'referenceTaskIds': ['task-0'],
    'extensions': ['https://example.com/ext/v1'],
    'metadata': META,
    'parts': [P03_TEXT, P03_BYTES, P03_URI, P03_DATA],
}
AGENT03 = {'kind': 'message', 'messageId': 'msg-2', 'role': 'agent', 'parts': [{'kind': 'text', 'text': 'working on it'}]}
ART03 = {
    'artifactId': 'art-1',
    'name': 'result',
    'description': 'The answer',
    'parts': [{'kind': 'text', 'text': '42'}, P03_DATA],
    'metadata': {'v': 'x'},
    'extensions': ['https://example.com/ext/v1'],
}
TASK03 = {
    'kind': 'task',
    'id': 'task-1',
    'contextId': 'ctx-1',
    'status': {'state': 'working', 'message': AGENT03, 'timestamp': TS},
    'artifacts': [ART03],
    'history': [MSG03, AGENT03],
    'metadata': {'priority': 'high'},
}
PUSH03 = {
    'id': 'cfg-1',
    'url': 'https://example.com/hook',
    'token': 'tok',
    'authentication': {'schemes': ['Bearer'], 'credentials': 'secret'},
}
TPUSH03 = {'taskId': 'task-1', 'pushNotificationConfig': PUSH03}

P1_TEXT = {'text': 'hello', 'metadata': {'lang': 'en'}}
P1_RAW = {'raw': 'aGVsbG8=', 'mediaType': 'text/plain', 'filename': 'hello.txt'}
P1_URL = {'url': 'https://example.com/a.png', 'mediaType': 'image/png'}
P1_DATA = {'data': {'city': 'Oslo', 'days': 2.5}, 'metadata': {'schema': 'trip'}}
P1_LIST = {'data': ['a', 'b', 1.5]}
P1_STRING = {'data': 'just a string', 'metadata': {'k': 'v'}}

MSG1 = {
    'messageId': 'msg-1',
    'contextId': 'ctx-1',
    'taskId': 'task-1',
    'role': 'ROLE_USER',
    'parts': [P1_TEXT, P1_RAW, P1_URL, P1_DATA],
    'metadata': META,
    'extensions': ['https://example.com/ext/v1'],
    'referenceTaskIds': ['task-0'],
}
AGENT1 = {'messageId': 'msg-2', 'role': 'ROLE_AGENT', 'parts': [{'text': 'working on it'}]}
ART1 = {
    'artifactId': 'art-1',
    'name': 'result',
    'parts': [{'text': '42'}, P1_LIST],
    'extensions': ['https://example.com/ext/v1'],
}
TASK1 = {
    'id': 'task-1',
    'contextId': 'ctx-1',
    'status': {'state': 'TASK_STATE_INPUT_REQUIRED', 'message': AGENT1, 'timestamp': TS},
    'artifacts': [ART1],
    'history': [MSG1],
    'metadata': {'priority': 'high'},
}
TPUSH1 = {
    'id': 'cfg-1',
    'taskId': 'task-1',
    'url': 'https://example.com/hook',
    'token': 'tok',
    'authentication': {'scheme': 'Bearer', 'credentials': 'secret'},
}


def to_v1_case(name, kind, v03, model, to_core, to_compat, method=None, wrap=None, unwrap=None):
    """A v0.3 input, a2a-sdk's v1.0 output and its v0.3 round trip."""
    parsed = model.model_validate(v03) if wrap is None else wrap(v03)
    core = to_core(parsed)
    v1 = dict1(core)
    back = to_compat(core)
    back = dump03(back) if unwrap is None else unwrap(back)
    case = {'name': name, 'kind': kind, 'direction': 'to_v1_0', 'v0_3': v03, 'v1_0': v1, 'v0_3_back': back}
    if method:
        case['method'] = method
    return case


def to_v03_case(name, kind, v1, proto, to_compat, to_core, method=None, unwrap=None, rewrap=None):
    """A v1.0 input, a2a-sdk's v0.3 output and its v1.0 round trip."""
    core = ParseDict(copy.deepcopy(v1), proto())
    compat = to_compat(core)
    v03 = dump03(compat) if unwrap is None else unwrap(compat)
    back = dict1(to_core(compat if rewrap is None else rewrap(compat)))
    case = {'name': name, 'kind': kind, 'direction': 'to_v0_3', 'v1_0': v1, 'v0_3': v03, 'v1_0_back': back}
    if method:
        case['method'] = method
    return case


def objects():
    cases = []
    # Parts.
    for name, part in [('text', P03_TEXT), ('file bytes', P03_BYTES), ('file uri', P03_URI), ('data', P03_DATA)]:
        cases.append(to_v1_case(f'part {name}', 'part', part, t3.Part, conv.to_core_part, conv.to_compat_part))
    for name, part in [('text', P1_TEXT), ('raw', P1_RAW), ('url', P1_URL), ('data', P1_DATA), ('data list', P1_LIST), ('data string', P1_STRING)]:
        cases.append(to_v03_case(f'part {name}', 'part', part, pb.Part, conv.to_compat_part, conv.to_core_part))
    # Messages.
    cases.append(to_v1_case('message user, all parts', 'message', MSG03, t3.Message, conv.to_core_message, conv.to_compat_message))
    cases.append(to_v1_case('message agent', 'message', AGENT03, t3.Message, conv.to_core_message, conv.to_compat_message))
    cases.append(to_v03_case('message user, all parts', 'message', MSG1, pb.Message, conv.to_compat_message, conv.to_core_message))
    cases.append(to_v03_case('message agent', 'message', AGENT1, pb.Message, conv.to_compat_message, conv.to_core_message))
    # Artifacts.
    cases.append(to_v1_case('artifact', 'artifact', ART03, t3.Artifact, conv.to_core_artifact, conv.to_compat_artifact))
    cases.append(to_v03_case('artifact', 'artifact', ART1, pb.Artifact, conv.to_compat_artifact, conv.to_core_artifact))
    # Tasks, in every state.
    cases.append(to_v1_case('task', 'task', TASK03, t3.Task, conv.to_core_task, conv.to_compat_task))
    cases.append(to_v03_case('task', 'task', TASK1, pb.Task, conv.to_compat_task, conv.to_core_task))
    for state in ['unknown', 'submitted', 'working', 'input-required', 'auth-required', 'completed', 'failed', 'canceled', 'rejected']:
        task = {'kind': 'task', 'id': 't', 'contextId': 'c', 'status': {'state': state}}
        cases.append(to_v1_case(f'task {state}', 'task', task, t3.Task, conv.to_core_task, conv.to_compat_task))
    for state in ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED',
                  'TASK_STATE_COMPLETED', 'TASK_STATE_FAILED', 'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED']:
        task = {'id': 't', 'contextId': 'c', 'status': {'state': state}}
        cases.append(to_v03_case(f'task {state}', 'task', task, pb.Task, conv.to_compat_task, conv.to_core_task))
    cases.append(to_v03_case('task without status', 'task', {'id': 't', 'contextId': 'c'}, pb.Task, conv.to_compat_task, conv.to_core_task))
    # Update events.
    for state, final in [('working', False), ('input-required', False), ('completed', True), ('failed', True)]:
        event = {'kind': 'status-update', 'taskId': 't', 'contextId': 'c', 'final': final,
                 'status': {'state': state, 'timestamp': TS}, 'metadata': {'step': 'x'}}
        cases.append(to_v1_case(f'status-update {state}', 'status_update', event, t3.TaskStatusUpdateEvent,
                                conv.to_core_task_status_update_event, conv.to_compat_task_status_update_event))
    for state in ['TASK_STATE_WORKING', 'TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED', 'TASK_STATE_COMPLETED',
                  'TASK_STATE_CANCELED', 'TASK_STATE_REJECTED']:
        event = {'taskId': 't', 'contextId': 'c', 'status': {'state': state, 'message': AGENT1}}
        cases.append(to_v03_case(f'statusUpdate {state}', 'status_update', event, pb.TaskStatusUpdateEvent,
                                 conv.to_compat_task_status_update_event, conv.to_core_task_status_update_event))
    art_event03 = {'kind': 'artifact-update', 'taskId': 't', 'contextId': 'c', 'artifact': ART03, 'append': True, 'lastChunk': False}
    cases.append(to_v1_case('artifact-update', 'artifact_update', art_event03, t3.TaskArtifactUpdateEvent,
                            conv.to_core_task_artifact_update_event, conv.to_compat_task_artifact_update_event))
    art_event1 = {'taskId': 't', 'contextId': 'c', 'artifact': ART1, 'lastChunk': True}
    cases.append(to_v03_case('artifactUpdate', 'artifact_update', art_event1, pb.TaskArtifactUpdateEvent,
                             conv.to_compat_task_artifact_update_event, conv.to_core_task_artifact_update_event))
    # Stream events (the result of each SSE message).
    stream_wrap = lambda v: t3.SendStreamingMessageSuccessResponse(id=1, result=v)
    for name, event in [('task', TASK03), ('message', AGENT03),
                        ('status-update', {'kind': 'status-update', 'taskId': 't', 'contextId': 'c', 'final': True, 'status': {'state': 'completed'}}),
                        ('artifact-update', art_event03)]:
        cases.append(to_v1_case(f'stream {name}', 'result', event, None, conv.to_core_stream_response,
                                lambda core: conv.to_compat_stream_response(core, 1), method='SendStreamingMessage',
                                wrap=stream_wrap, unwrap=lambda r: dump03(r)['result']))
    for name, event in [('task', {'task': TASK1}), ('message', {'message': AGENT1}),
                        ('statusUpdate', {'statusUpdate': {'taskId': 't', 'contextId': 'c', 'status': {'state': 'TASK_STATE_FAILED'}}}),
                        ('artifactUpdate', {'artifactUpdate': art_event1})]:
        cases.append(to_v03_case(f'stream {name}', 'result', event, pb.StreamResponse,
                                 lambda core: conv.to_compat_stream_response(core, 1), conv.to_core_stream_response,
                                 method='SendStreamingMessage', unwrap=lambda r: dump03(r)['result']))
    # SendMessage results.
    send_wrap = lambda v: t3.SendMessageResponse(root=t3.SendMessageSuccessResponse(id=1, result=v))
    send_unwrap = lambda r: dump03(r)['result']
    for name, result in [('task', TASK03), ('message', AGENT03)]:
        cases.append(to_v1_case(f'send result {name}', 'result', result, None, conv.to_core_send_message_response,
                                lambda core: conv.to_compat_send_message_response(core, 1), method='SendMessage',
                                wrap=send_wrap, unwrap=send_unwrap))
    for name, result in [('task', {'task': TASK1}), ('message', {'message': AGENT1})]:
        cases.append(to_v03_case(f'send result {name}', 'result', result, pb.SendMessageResponse,
                                 lambda core: conv.to_compat_send_message_response(core, 1), conv.to_core_send_message_response,
                                 method='SendMessage', unwrap=send_unwrap, rewrap=lambda r: r))
    # Push configs.
    cases.append(to_v1_case('push config', 'task_push_config', TPUSH03, t3.TaskPushNotificationConfig,
                            conv.to_core_task_push_notification_config, conv.to_compat_task_push_notification_config))
    cases.append(to_v03_case('push config', 'task_push_config', TPUSH1, pb.TaskPushNotificationConfig,
                             conv.to_compat_task_push_notification_config, conv.to_core_task_push_notification_config))
    list_wrap = lambda v: t3.ListTaskPushNotificationConfigResponse(root=t3.ListTaskPushNotificationConfigSuccessResponse(id=1, result=v))
    cases.append(to_v1_case('push config list', 'result', [TPUSH03, {'taskId': 'task-1', 'pushNotificationConfig': {'url': 'https://example.com/2'}}],
                            None, conv.to_core_list_task_push_notification_config_response,
                            lambda core: conv.to_compat_list_task_push_notification_config_response(core, 1),
                            method='ListTaskPushNotificationConfigs', wrap=list_wrap, unwrap=lambda r: dump03(r)['result']))
    cases.append(to_v03_case('push config list', 'result', {'configs': [TPUSH1]}, pb.ListTaskPushNotificationConfigsResponse,
                             lambda core: conv.to_compat_list_task_push_notification_config_response(core, 1),
                             conv.to_core_list_task_push_notification_config_response,
                             method='ListTaskPushNotificationConfigs', unwrap=lambda r: dump03(r)['result'], rewrap=lambda r: r))
    # Request params.
    def request03(model, method):
        return lambda v: model.model_validate({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': v})
    params_unwrap = lambda r: dump03(r)['params']
    config03 = {'acceptedOutputModes': ['text/plain'], 'historyLength': 5, 'blocking': False, 'pushNotificationConfig': PUSH03}
    for name, params in [('with configuration', {'message': MSG03, 'configuration': config03, 'metadata': {'trace': 'abc'}}),
                         ('blocking, history 0', {'message': AGENT03, 'configuration': {'blocking': True, 'historyLength': 0}}),
                         ('bare', {'message': MSG03})]:
        cases.append(to_v1_case(f'SendMessage params {name}', 'params', params, None, conv.to_core_send_message_request,
                                lambda core: conv.to_compat_send_message_request(core, 1), method='SendMessage',
                                wrap=request03(t3.SendMessageRequest, 'message/send'), unwrap=params_unwrap))
    config1 = {'acceptedOutputModes': ['text/plain'], 'historyLength': 0, 'returnImmediately': True,
               'taskPushNotificationConfig': {'id': 'cfg-1', 'url': 'https://example.com/hook', 'authentication': {'scheme': 'Bearer'}}}
    for name, params in [('with configuration', {'message': MSG1, 'configuration': config1, 'metadata': {'trace': 'abc'}}),
                         ('empty configuration', {'message': AGENT1, 'configuration': {}}),
                         ('bare', {'message': MSG1})]:
        cases.append(to_v03_case(f'SendMessage params {name}', 'params', params, pb.SendMessageRequest,
                                 lambda core: conv.to_compat_send_message_request(core, 1), conv.to_core_send_message_request,
                                 method='SendMessage', unwrap=params_unwrap))
    simple = [
        ('GetTask', 'tasks/get', t3.GetTaskRequest, pb.GetTaskRequest, conv.to_core_get_task_request, conv.to_compat_get_task_request,
         [('history 3', {'id': 'task-1', 'historyLength': 3}), ('history 0', {'id': 'task-1', 'historyLength': 0})],
         [('history 2', {'id': 'task-1', 'historyLength': 2}), ('history 0', {'id': 'task-1', 'historyLength': 0}), ('no history', {'id': 'task-1'})]),
        ('CancelTask', 'tasks/cancel', t3.CancelTaskRequest, pb.CancelTaskRequest, conv.to_core_cancel_task_request, conv.to_compat_cancel_task_request,
         [('metadata', {'id': 'task-1', 'metadata': {'why': 'done'}})], [('metadata', {'id': 'task-1', 'metadata': {'why': 'done'}})]),
        ('SubscribeToTask', 'tasks/resubscribe', t3.TaskResubscriptionRequest, pb.SubscribeToTaskRequest,
         conv.to_core_subscribe_to_task_request, conv.to_compat_subscribe_to_task_request,
         [('id', {'id': 'task-1'})], [('id', {'id': 'task-1'})]),
        ('CreateTaskPushNotificationConfig', 'tasks/pushNotificationConfig/set', t3.SetTaskPushNotificationConfigRequest, pb.TaskPushNotificationConfig,
         conv.to_core_create_task_push_notification_config_request, conv.to_compat_create_task_push_notification_config_request,
         [('full', TPUSH03)], [('full', TPUSH1)]),
        ('GetTaskPushNotificationConfig', 'tasks/pushNotificationConfig/get', t3.GetTaskPushNotificationConfigRequest,
         pb.GetTaskPushNotificationConfigRequest, conv.to_core_get_task_push_notification_config_request,
         conv.to_compat_get_task_push_notification_config_request,
         [('with config id', {'id': 'task-1', 'pushNotificationConfigId': 'cfg-1'}), ('task only', {'id': 'task-1'})],
         [('with config id', {'taskId': 'task-1', 'id': 'cfg-1'}), ('task only', {'taskId': 'task-1'})]),
        ('DeleteTaskPushNotificationConfig', 'tasks/pushNotificationConfig/delete', t3.DeleteTaskPushNotificationConfigRequest,
         pb.DeleteTaskPushNotificationConfigRequest, conv.to_core_delete_task_push_notification_config_request,
         conv.to_compat_delete_task_push_notification_config_request,
         [('ids', {'id': 'task-1', 'pushNotificationConfigId': 'cfg-1'})], [('ids', {'taskId': 'task-1', 'id': 'cfg-1'})]),
        ('ListTaskPushNotificationConfigs', 'tasks/pushNotificationConfig/list', t3.ListTaskPushNotificationConfigRequest,
         pb.ListTaskPushNotificationConfigsRequest, conv.to_core_list_task_push_notification_config_request,
         conv.to_compat_list_task_push_notification_config_request,
         [('id', {'id': 'task-1'})], [('task id', {'taskId': 'task-1'})]),
    ]
    for method, name03, model03, proto1, to_core, to_compat, inputs03, inputs1 in simple:
        for name, params in inputs03:
            cases.append(to_v1_case(f'{method} params {name}', 'params', params, None, to_core,
                                    lambda core, f=to_compat: f(core, 1), method=method,
                                    wrap=request03(model03, name03), unwrap=params_unwrap))
        for name, params in inputs1:
            cases.append(to_v03_case(f'{method} params {name}', 'params', params, proto1,
                                     lambda core, f=to_compat: f(core, 1), to_core, method=method, unwrap=params_unwrap))
    # The extended card, v1.0 -> v0.3 (v0.3 cards are read by the card module).
    card1 = {
        'name': 'Probe', 'description': 'd', 'version': '1.2.0',
        'supportedInterfaces': [
            {'url': 'https://hub.example/a2a/probe', 'protocolBinding': 'JSONRPC', 'protocolVersion': '1.0'},
            {'url': 'https://hub.example/a2a/probe/v03', 'protocolBinding': 'JSONRPC', 'protocolVersion': '0.3'},
            {'url': 'https://hub.example/a2a/probe/rest', 'protocolBinding': 'HTTP+JSON', 'protocolVersion': '0.3'},
        ],
        'provider': {'organization': 'Example', 'url': 'https://example.com'},
        'capabilities': {'streaming': True, 'pushNotifications': False, 'extendedAgentCard': True},
        'securitySchemes': {
            'bearer': {'httpAuthSecurityScheme': {'scheme': 'Bearer', 'bearerFormat': 'JWT'}},
            'key': {'apiKeySecurityScheme': {'location': 'header', 'name': 'X-Key'}},
            'oauth': {'oauth2SecurityScheme': {'flows': {'clientCredentials': {'tokenUrl': 'https://example.com/token', 'scopes': {'read': 'Read'}}}}},
        },
        'securityRequirements': [{'schemes': {'bearer': {'list': []}}}, {'schemes': {'oauth': {'list': ['read']}}}],
        'defaultInputModes': ['text/plain'], 'defaultOutputModes': ['text/plain', 'application/json'],
        'skills': [{'id': 's1', 'name': 'Skill', 'description': 'Does it', 'tags': ['x'], 'examples': ['do it'],
                    'securityRequirements': [{'schemes': {'key': {'list': []}}}]}],
        'documentationUrl': 'https://example.com/docs',
    }
    core_card = ParseDict(copy.deepcopy(card1), pb.AgentCard())
    cases.append(to_v03_case('extended card', 'result', card1, pb.AgentCard, conv.to_compat_agent_card, conv.to_core_agent_card,
                             method='GetExtendedAgentCard'))
    card03 = dump03(conv.to_compat_agent_card(core_card))
    cases.append(to_v1_case('extended card', 'result', card03, None, conv.to_core_agent_card, conv.to_compat_agent_card,
                            method='GetExtendedAgentCard', wrap=t3.AgentCard.model_validate))
    return {'source': f'{SDK} a2a.compat.v0_3.conversions, run by generate.py', 'cases': cases}


# ---------------------------------------------------------------- v0.3 REST bodies

def rest_v03():
    cases = []

    def to_proto(name, kind, jsonrpc, model, to_pb, snake=False):
        proto = MessageToDict(to_pb(model.model_validate(jsonrpc) if model else jsonrpc))
        cases.append({'name': name, 'kind': kind, 'direction': 'to_proto', 'jsonrpc': jsonrpc, 'proto': proto})

    def from_proto(name, kind, proto, pb_type, from_pb, snake=False):
        message = ParseDict(copy.deepcopy(proto), pb_type())
        wire = MessageToDict(message, preserving_proto_field_name=True) if snake else proto
        result = from_pb(message)
        result = [dump03(r) for r in result] if isinstance(result, list) else dump03(result)
        cases.append({'name': name, 'kind': kind, 'direction': 'from_proto', 'proto': wire, 'jsonrpc': prune(result)})

    msg = {k: v for k, v in MSG03.items() if k != 'referenceTaskIds'}
    task = {**TASK03, 'history': [msg, AGENT03]}
    to_proto('message', 'message', msg, t3.Message, pu.ToProto.message)
    to_proto('task', 'task', task, t3.Task, pu.ToProto.task)
    for state in ['submitted', 'canceled', 'input-required', 'rejected']:
        to_proto(f'task {state}', 'task', {'kind': 'task', 'id': 't', 'contextId': 'c', 'status': {'state': state}}, t3.Task, pu.ToProto.task)
    status_event = {'kind': 'status-update', 'taskId': 't', 'contextId': 'c', 'final': True, 'status': {'state': 'canceled', 'timestamp': TS}}
    working_event = {'kind': 'status-update', 'taskId': 't', 'contextId': 'c', 'final': False, 'status': {'state': 'working'}}
    art_event = {'kind': 'artifact-update', 'taskId': 't', 'contextId': 'c', 'artifact': ART03, 'append': True, 'lastChunk': False}
    for name, event in [('task', task), ('message', AGENT03), ('status-update final', status_event),
                        ('status-update working', working_event), ('artifact-update', art_event)]:
        to_proto(f'stream {name}', 'stream_event', event, None,
                 lambda e: pu.ToProto.stream_response(t3.SendStreamingMessageSuccessResponse(id=1, result=e).result))
    for name, result in [('task', task), ('message', AGENT03)]:
        to_proto(f'send result {name}', 'send_response', result, None,
                 lambda r: pu.ToProto.task_or_message(t3.SendMessageSuccessResponse(id=1, result=r).result))
    config = {'acceptedOutputModes': ['text/plain'], 'historyLength': 5, 'blocking': True, 'pushNotificationConfig': PUSH03}
    send_params = {'message': msg, 'configuration': config, 'metadata': {'trace': 'abc'}}

    def send_request_to_pb(params):
        p = t3.MessageSendParams.model_validate(params)
        return pb03.SendMessageRequest(request=pu.ToProto.message(p.message),
                                       configuration=pu.ToProto.message_send_configuration(p.configuration),
                                       metadata=pu.ToProto.metadata(p.metadata))
    to_proto('send params', 'send_params', send_params, None, send_request_to_pb)
    to_proto('push config', 'task_push_config', TPUSH03, t3.TaskPushNotificationConfig, pu.ToProto.task_push_notification_config)

    def create_to_pb(params):
        p = t3.TaskPushNotificationConfig.model_validate(params)
        return pb03.CreateTaskPushNotificationConfigRequest(parent=f'tasks/{p.task_id}', config_id=p.push_notification_config.id,
                                                           config=pu.ToProto.task_push_notification_config(p))
    to_proto('create body', 'create_body', TPUSH03, None, create_to_pb)

    # Reading: what a2a-sdk's server makes of bodies (camelCase, and the snake_case its own v0.3
    # client sends).
    for snake in (False, True):
        suffix = ' (proto field names)' if snake else ''
        proto_msg = MessageToDict(pu.ToProto.message(t3.Message.model_validate(msg)))
        from_proto(f'message{suffix}', 'message', proto_msg, pb03.Message, pu.FromProto.message, snake)
        proto_task = MessageToDict(pu.ToProto.task(t3.Task.model_validate(task)))
        from_proto(f'task{suffix}', 'task', proto_task, pb03.Task, pu.FromProto.task, snake)
        proto_send = MessageToDict(send_request_to_pb(send_params))
        from_proto(f'send params{suffix}', 'send_params', proto_send, pb03.SendMessageRequest, pu.FromProto.message_send_params, snake)
        for name, event in [('status-update', status_event), ('artifact-update', art_event), ('message', AGENT03)]:
            proto_event = MessageToDict(pu.ToProto.stream_response(t3.SendStreamingMessageSuccessResponse(id=1, result=event).result))
            from_proto(f'stream {name}{suffix}', 'stream_event', proto_event, pb03.StreamResponse, pu.FromProto.stream_response, snake)
        proto_push = MessageToDict(pu.ToProto.task_push_notification_config(t3.TaskPushNotificationConfig.model_validate(TPUSH03)))
        from_proto(f'push config{suffix}', 'task_push_config', proto_push, pb03.TaskPushNotificationConfig,
                   pu.FromProto.task_push_notification_config, snake)
    from_proto('send result task', 'send_response', MessageToDict(pu.ToProto.task_or_message(t3.Task.model_validate(task))),
               pb03.SendMessageResponse, pu.FromProto.task_or_message)
    # A configuration without `blocking`: proto3 reads it as false.
    from_proto('send params, configuration without blocking', 'send_params',
               {'message': {'messageId': 'm', 'role': 'ROLE_USER', 'content': [{'text': 'hi'}]}, 'configuration': {'historyLength': 0}},
               pb03.SendMessageRequest, pu.FromProto.message_send_params)
    return {'source': f'{SDK} a2a.compat.v0_3.proto_utils (ToProto, FromProto), run by generate.py', 'cases': cases}


# ---------------------------------------------------------------- a running server

class FixedDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def deterministic():
    """Patches uuid4 (a counter, reset per request) and the clock of the task machinery."""
    import a2a.server.agent_execution.active_task as active_task
    import a2a.server.tasks.task_updater as task_updater
    task_updater.datetime = FixedDatetime
    active_task.datetime = FixedDatetime
    state = {'counter': itertools.count(1)}
    uuid.uuid4 = lambda: uuid.UUID(int=next(state['counter']))

    def reset():
        state['counter'] = itertools.count(1)
    return reset


def make_app():
    from starlette.applications import Starlette

    from a2a.helpers.proto_helpers import new_task_from_user_message
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
    from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore, TaskUpdater

    class Executor(AgentExecutor):
        async def execute(self, context, queue):
            task = context.current_task or new_task_from_user_message(context.message)
            if not context.current_task:
                await queue.enqueue_event(task)
            updater = TaskUpdater(queue, task.id, task.context_id)
            await updater.start_work(updater.new_agent_message([pb.Part(text='working on it')]))
            await updater.add_artifact(
                [pb.Part(text='42'), pb.Part(url='https://example.com/a.png', media_type='image/png', filename='a.png')],
                name='answer', artifact_id='art-1')
            await updater.complete()

        async def cancel(self, context, queue):
            pass

    card = pb.AgentCard(
        name='probe', description='a2a-sdk answering for the fixtures', version='1',
        supported_interfaces=[pb.AgentInterface(url='http://t/rpc', protocol_binding='JSONRPC', protocol_version='1.0'),
                              pb.AgentInterface(url='http://t/rpc', protocol_binding='JSONRPC', protocol_version='0.3')],
        capabilities=pb.AgentCapabilities(streaming=True, push_notifications=True, extended_agent_card=True),
        default_input_modes=['text/plain'], default_output_modes=['text/plain'],
        skills=[pb.AgentSkill(id='s', name='s', description='s', tags=['t'])])
    handler = DefaultRequestHandler(Executor(), task_store=InMemoryTaskStore(), agent_card=card,
                                    push_config_store=InMemoryPushNotificationConfigStore(), extended_agent_card=card)
    routes = (create_jsonrpc_routes(handler, rpc_url='/rpc', enable_v0_3_compat=True)
              + create_rest_routes(handler, enable_v0_3_compat=True))
    return Starlette(routes=routes)


def parse_sse(text):
    events = []
    for block in text.replace('\r\n', '\n').split('\n\n'):
        if not block.strip():
            continue
        event = {'event': None, 'data': []}
        for line in block.split('\n'):
            key, _, value = line.partition(':')
            value = value[1:] if value.startswith(' ') else value
            if key == 'event':
                event['event'] = value
            elif key == 'data':
                event['data'].append(value)
        event['data'] = json.loads('\n'.join(event['data']))
        events.append(event)
    return events


async def server_exchanges():
    import httpx
    reset = deterministic()
    out = []
    V1 = {'A2A-Version': '1.0'}
    msg03 = {'kind': 'message', 'messageId': 'm1', 'role': 'user', 'parts': [{'kind': 'text', 'text': 'hi'}]}
    msg1 = {'messageId': 'm1', 'role': 'ROLE_USER', 'parts': [{'text': 'hi'}]}
    msg03_proto = {'messageId': 'm1', 'role': 'ROLE_USER', 'content': [{'text': 'hi'}]}

    shared = {'client': None}

    async def exchange(name, binding, version, method, path, headers=None, body=None, raw=None):
        """One request: to a fresh server (ids restart at 1) unless a shared one is open."""
        kwargs = {'content': raw} if raw is not None else ({'json': body} if body is not None else {})
        if shared['client'] is None:
            reset()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url='http://t') as client:
                response = await client.request(method, path, headers=headers or {}, **kwargs)
        else:
            response = await shared['client'].request(method, path, headers=headers or {}, **kwargs)
        content_type = response.headers.get('content-type', '')
        record = {'name': name, 'binding': binding, 'version': version,
                  'request': {'method': method, 'path': path, 'headers': headers or {},
                              'body': raw.decode() if raw is not None else body},
                  'response': {'status': response.status_code, 'content_type': content_type}}
        if content_type.startswith('text/event-stream'):
            record['response']['raw'] = response.text
            record['response']['events'] = parse_sse(response.text)
        else:
            record['response']['body'] = response.json() if response.content else None
        out.append(record)
        return record


    # JSON-RPC envelope errors.
    rpc = lambda name, version, body=None, headers=None, raw=None: exchange(name, 'jsonrpc', version, 'POST', '/rpc', headers, body, raw)
    await rpc('parse error', None, raw=b'{"jsonrpc": "2.0", "id": 1,')
    await rpc('batch', None, [{'jsonrpc': '2.0', 'id': 1, 'method': 'GetTask', 'params': {'id': 'x'}}], V1)
    await rpc('body is a string', None, 'hello')
    await rpc('jsonrpc missing', None, {'id': 1, 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    await rpc('jsonrpc 1.0', None, {'jsonrpc': '1.0', 'id': 1, 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    await rpc('boolean id', None, {'jsonrpc': '2.0', 'id': True, 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    await rpc('object id', None, {'jsonrpc': '2.0', 'id': {}, 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    await rpc('fractional id', None, {'jsonrpc': '2.0', 'id': 1.5, 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    await rpc('method missing', None, {'jsonrpc': '2.0', 'id': 1, 'params': {}}, V1)
    await rpc('unknown method', None, {'jsonrpc': '2.0', 'id': 1, 'method': 'tasks/list', 'params': {}})
    await rpc('params string', '1.0', {'jsonrpc': '2.0', 'id': 1, 'method': 'GetTask', 'params': 'x'}, V1)
    await rpc('params array', '1.0', {'jsonrpc': '2.0', 'id': 1, 'method': 'GetTask', 'params': ['x']}, V1)
    await rpc('v1.0 method without version header', '1.0', {'jsonrpc': '2.0', 'id': 1, 'method': 'GetTask', 'params': {'id': 'x'}})
    await rpc('v1.0 method with version 2.0', '1.0', {'jsonrpc': '2.0', 'id': 1, 'method': 'GetTask', 'params': {'id': 'x'}}, {'A2A-Version': '2.0'})
    await rpc('v0.3 method with version 1.0', '0.3', {'jsonrpc': '2.0', 'id': 1, 'method': 'tasks/get', 'params': {'id': 'x'}}, V1)
    await rpc('no id', '1.0', {'jsonrpc': '2.0', 'method': 'GetTask', 'params': {'id': 'x'}}, V1)
    # A2A errors.
    await rpc('task not found v1.0', '1.0', {'jsonrpc': '2.0', 'id': 'a', 'method': 'GetTask', 'params': {'id': 'nope'}}, V1)
    await rpc('task not found v0.3', '0.3', {'jsonrpc': '2.0', 'id': 'a', 'method': 'tasks/get', 'params': {'id': 'nope'}})
    # Sends, both versions, both bindings, plain and streaming.
    await rpc('send v1.0', '1.0', {'jsonrpc': '2.0', 'id': 7, 'method': 'SendMessage', 'params': {'message': msg1}}, V1)
    await rpc('send v0.3', '0.3', {'jsonrpc': '2.0', 'id': 7, 'method': 'message/send', 'params': {'message': msg03}})
    await rpc('stream v1.0', '1.0', {'jsonrpc': '2.0', 'id': 8, 'method': 'SendStreamingMessage', 'params': {'message': msg1}}, V1)
    await rpc('stream v0.3', '0.3', {'jsonrpc': '2.0', 'id': 8, 'method': 'message/stream', 'params': {'message': msg03}})
    rest = lambda name, version, method, path, body=None, headers=None: exchange(name, 'rest', version, method, path, headers, body)
    await rest('send v1.0', '1.0', 'POST', '/message:send', {'message': msg1}, V1)
    await rest('send v0.3', '0.3', 'POST', '/v1/message:send', {'message': msg03_proto})
    await rest('stream v1.0', '1.0', 'POST', '/message:stream', {'message': msg1}, V1)
    await rest('stream v0.3', '0.3', 'POST', '/v1/message:stream', {'message': msg03_proto})
    # One server from here on: a task, its push configs, and errors about it.
    reset()
    shared_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url='http://t')
    shared['client'] = shared_client
    sent = await rpc('send for push configs', '1.0', {'jsonrpc': '2.0', 'id': 9, 'method': 'SendMessage', 'params': {'message': {**msg1, 'messageId': 'm9'}}}, V1)
    task_id = sent['response']['body']['result']['task']['id']
    await rpc('set push v1.0', '1.0', {'jsonrpc': '2.0', 'id': 10, 'method': 'CreateTaskPushNotificationConfig', 'params': {**TPUSH1, 'taskId': task_id}}, V1)
    await rpc('set push v0.3', '0.3', {'jsonrpc': '2.0', 'id': 10, 'method': 'tasks/pushNotificationConfig/set',
                                      'params': {'taskId': task_id, 'pushNotificationConfig': {**PUSH03, 'id': 'cfg-2'}}})
    await rpc('get push v1.0', '1.0', {'jsonrpc': '2.0', 'id': 11, 'method': 'GetTaskPushNotificationConfig', 'params': {'taskId': task_id, 'id': 'cfg-1'}}, V1)
    await rpc('get push v0.3', '0.3', {'jsonrpc': '2.0', 'id': 11, 'method': 'tasks/pushNotificationConfig/get', 'params': {'id': task_id, 'pushNotificationConfigId': 'cfg-1'}})
    await rpc('list push v1.0', '1.0', {'jsonrpc': '2.0', 'id': 12, 'method': 'ListTaskPushNotificationConfigs', 'params': {'taskId': task_id}}, V1)
    await rpc('list push v0.3', '0.3', {'jsonrpc': '2.0', 'id': 12, 'method': 'tasks/pushNotificationConfig/list', 'params': {'id': task_id}})
    await rest('list push v1.0', '1.0', 'GET', f'/tasks/{task_id}/pushNotificationConfigs', None, V1)
    await rest('list push v0.3', '0.3', 'GET', f'/v1/tasks/{task_id}/pushNotificationConfigs')
    await rest('get push v0.3', '0.3', 'GET', f'/v1/tasks/{task_id}/pushNotificationConfigs/cfg-1')
    await rest('get task v1.0', '1.0', 'GET', f'/tasks/{task_id}?historyLength=1', None, V1)
    await rest('get task v0.3', '0.3', 'GET', f'/v1/tasks/{task_id}?historyLength=1')
    await rpc('delete push v1.0', '1.0', {'jsonrpc': '2.0', 'id': 13, 'method': 'DeleteTaskPushNotificationConfig', 'params': {'taskId': task_id, 'id': 'cfg-1'}}, V1)
    await rpc('delete push v0.3', '0.3', {'jsonrpc': '2.0', 'id': 13, 'method': 'tasks/pushNotificationConfig/delete', 'params': {'id': task_id, 'pushNotificationConfigId': 'cfg-2'}})
    await rest('delete push v1.0', '1.0', 'DELETE', f'/tasks/{task_id}/pushNotificationConfigs/cfg-1', None, V1)
    # Errors over REST and in streams.
    await rest('rest task not found v1.0', '1.0', 'GET', '/tasks/nope', None, V1)
    await rest('rest task not found v0.3', '0.3', 'GET', '/v1/tasks/nope')
    await rest('rest cancel terminal v1.0', '1.0', 'POST', f'/tasks/{task_id}:cancel', None, V1)
    await rest('rest v1.0 path without version header', '1.0', 'GET', f'/tasks/{task_id}')
    await rpc('cancel terminal v0.3', '0.3', {'jsonrpc': '2.0', 'id': 14, 'method': 'tasks/cancel', 'params': {'id': task_id}})
    await rpc('resubscribe terminal v0.3', '0.3', {'jsonrpc': '2.0', 'id': 15, 'method': 'tasks/resubscribe', 'params': {'id': task_id}})
    await rpc('subscribe terminal v1.0', '1.0', {'jsonrpc': '2.0', 'id': 15, 'method': 'SubscribeToTask', 'params': {'id': task_id}}, V1)
    await rest('rest subscribe terminal v1.0', '1.0', 'GET', f'/tasks/{task_id}:subscribe', None, V1)
    await shared_client.aclose()
    return {'source': f'{SDK} server (JSON-RPC and REST routes, enable_v0_3_compat=True) over httpx ASGITransport, run by generate.py',
            'exchanges': out}


def write(name, value):
    with open(name, 'w') as f:
        json.dump(value, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    write('sdk_objects.json', objects())
    write('sdk_rest_v0_3.json', rest_v03())
    write('wire.json', asyncio.run(server_exchanges()))
