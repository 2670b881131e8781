"""YandexGPT adapter: cumulative stream → deltas, usage, model URIs, auth per secret kind, IAM token
exchange and renewal, error mapping and the model catalogue (respx, no sockets)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmcli.errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    RateLimited,
    RequestRejected,
    StreamBroken,
    UsageError,
)
from llmcli.providers.base import MemoryTokenStore, ProviderSpec
from llmcli.providers.http import RetryPolicy
from llmcli.providers.yandex_auth import parse_rfc3339
from llmcli.providers.yandex_wire import CumulativeStream, model_uri, short_model_name
from llmcli.providers.yandexgpt import YandexGPTProvider
from llmcli.types import ChatOptions, Message, Secret

BASE = "https://llm.test"
IAM = "https://iam.test/iam/v1/tokens"
COMPLETION = BASE + "/foundationModels/v1/completion"
FOLDER = "b1gfolder"
HELLO = [Message("user", "Привет")]


def make_spec(store: MemoryTokenStore | None = None, folder: str | None = FOLDER, **secrets: str) -> ProviderSpec:
    options: dict[str, Any] = {"iam_url": IAM}
    if folder:
        options["folder_id"] = folder
    return ProviderSpec(
        name="yandexgpt", kind="yandexgpt", base_url=BASE, model="yandexgpt-lite",
        secrets={k: Secret(v) for k, v in secrets.items()}, options=options,
        token_store=store or MemoryTokenStore(),
    )


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_provider(spec: ProviderSpec | None = None, clock: Clock | None = None, retries: int = 2) -> YandexGPTProvider:
    policy = RetryPolicy(max_retries=retries, sleep=lambda _s: None)
    return YandexGPTProvider(spec or make_spec(api_key="AQVN-key"), policy=policy, clock=clock or Clock())


def result_line(text: str, status: str = "ALTERNATIVE_STATUS_PARTIAL", completion: int = 1) -> dict[str, Any]:
    return {"result": {
        "alternatives": [{"message": {"role": "assistant", "text": text}, "status": status}],
        "usage": {"inputTextTokens": "26", "completionTokens": str(completion), "totalTokens": str(26 + completion)},
        "modelVersion": "07.03.2024",
    }}


def ndjson(*objs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objs)


def stream_response(*objs: dict[str, Any], trace: str = "trace-1") -> httpx.Response:
    return httpx.Response(200, content=ndjson(*objs),
                          headers={"content-type": "application/json", "x-server-trace-id": trace})


def cumulative(text: str, parts: int, last: str = "ALTERNATIVE_STATUS_FINAL") -> list[dict[str, Any]]:
    cuts = [round(len(text) * (i + 1) / parts) for i in range(parts)]
    return [result_line(text[:n], last if i == parts - 1 else "ALTERNATIVE_STATUS_PARTIAL", 10 * (i + 1))
            for i, n in enumerate(cuts)]


def error_json(status: int, message: str, grpc: int = 3) -> httpx.Response:
    return httpx.Response(status, json={"error": {"grpcCode": grpc, "httpCode": status, "message": message,
                                                  "httpStatus": "x", "details": []}})


def run(provider: YandexGPTProvider, model: str = "yandexgpt-lite", **options: Any) -> list:
    return list(provider.stream_chat(model, HELLO, ChatOptions(**options)))


def sent_json(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


# --- model names and the request body ---------------------------------------------------------------


def test_model_uri_from_short_names_branches_and_full_uris():
    assert model_uri("yandexgpt-lite", FOLDER) == "gpt://b1gfolder/yandexgpt-lite/latest"
    assert model_uri("yandexgpt/rc", FOLDER) == "gpt://b1gfolder/yandexgpt/rc"
    assert model_uri("gpt://b1gother/llama/latest", None) == "gpt://b1gother/llama/latest"
    assert short_model_name("gpt://b1gfolder/yandexgpt/rc") == "yandexgpt/rc"
    assert short_model_name("gpt://b1gfolder/yandexgpt-lite/latest") == "yandexgpt-lite"


def test_missing_folder_id_is_a_config_error_with_the_way_to_set_it():
    with pytest.raises(ConfigError) as err:
        run(make_provider(make_spec(folder=None, api_key="AQVN-key")))
    assert err.value.exit_code == 2
    assert "YC_FOLDER_ID" in err.value.hint and "providers.yandexgpt.folder_id" in err.value.hint


@respx.mock
def test_request_body_has_model_uri_text_messages_string_max_tokens_and_reasoning():
    route = respx.post(COMPLETION).mock(return_value=stream_response(*cumulative("ok", 1)))
    run(make_provider(), "yandexgpt/rc", temperature=0.2, max_tokens=300, extra={"reasoning": "on"})
    body = sent_json(route)
    assert body["modelUri"] == "gpt://b1gfolder/yandexgpt/rc"
    assert body["messages"] == [{"role": "user", "text": "Привет"}]
    assert body["completionOptions"] == {"stream": True, "temperature": 0.2, "maxTokens": "300",
                                         "reasoningOptions": {"mode": "ENABLED_HIDDEN"}}


def test_reasoning_option_must_be_on_or_off():
    with pytest.raises(UsageError, match="reasoning must be on or off"):
        run(make_provider(), extra={"reasoning": "maybe"})


# --- cumulative stream → deltas ---------------------------------------------------------------------


@respx.mock
def test_twenty_cumulative_lines_print_the_final_text_exactly_once():
    text = "Москва — столица России. " * 12
    respx.post(COMPLETION).mock(return_value=stream_response(*cumulative(text, 20)))
    chunks = run(make_provider())
    assert "".join(c.text for c in chunks) == text
    assert len([c for c in chunks if c.text]) == 20
    last = chunks[-1]
    assert last.finish_reason == "stop" and last.final_text == text
    assert last.request_id == "trace-1"


@respx.mock
def test_usage_comes_from_the_last_line_only_as_integers():
    lines = cumulative("abcdef", 3)
    lines[-1]["result"]["usage"] = {"inputTextTokens": "26", "completionTokens": "317", "totalTokens": "343"}
    respx.post(COMPLETION).mock(return_value=stream_response(*lines))
    usage = run(make_provider())[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (26, 317, 343)


@respx.mock
def test_a_mangled_usage_count_is_zero_and_the_total_is_summed():
    lines = cumulative("abcdef", 3)
    lines[-1]["result"]["usage"] = {"inputTextTokens": "26", "completionTokens": "many", "totalTokens": None}
    respx.post(COMPLETION).mock(return_value=stream_response(*lines))
    chunks = run(make_provider())
    assert "".join(c.text for c in chunks) == "abcdef"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (26, 0, 26)


def test_a_rewrite_of_earlier_text_is_not_printed_twice_and_history_gets_the_final_text(caplog):
    stream = CumulativeStream()
    shown = []
    with caplog.at_level(logging.DEBUG, logger="llmcli"):
        for text in ("Hello wor", "Hello world, frie", "Hallo world, friends!", "Hallo world, friends! Bye."):
            chunk = stream.feed(result_line(text)["result"])
            shown.append(chunk.text if chunk else "")
        stream.feed(result_line("Hallo world, friends! Bye.", "ALTERNATIVE_STATUS_FINAL")["result"])
    assert shown == ["Hello wor", "ld, frie", "nds!", " Bye."]  # the rewritten part is not re-printed
    assert stream.closing_chunk().final_text == "Hallo world, friends! Bye."
    assert any("rewrote" in r.getMessage() for r in caplog.records)


def test_a_shorter_rewrite_prints_nothing_until_it_grows_past_what_was_shown():
    stream = CumulativeStream()
    assert stream.feed(result_line("abcdef")["result"]).text == "abcdef"
    assert stream.feed(result_line("xyz")["result"]) is None
    assert stream.feed(result_line("xyzuvwQR")["result"]).text == "QR"


@respx.mock
def test_content_filter_replaces_the_text_with_a_notice():
    refusal = "Я не могу обсуждать эту тему."
    respx.post(COMPLETION).mock(return_value=stream_response(
        result_line(refusal, "ALTERNATIVE_STATUS_CONTENT_FILTER")))
    last = run(make_provider())[-1]
    assert last.text == refusal and last.final_text == refusal
    assert last.finish_reason == "content_filter" and "content filter" in last.notice


@respx.mock
def test_content_filter_after_output_keeps_the_refusal_for_history_without_appending_it():
    refusal = "Не могу."
    respx.post(COMPLETION).mock(return_value=stream_response(
        result_line("Начало ответа"), result_line(refusal, "ALTERNATIVE_STATUS_CONTENT_FILTER")))
    chunks = run(make_provider())
    assert "".join(c.text for c in chunks) == "Начало ответа"
    assert chunks[-1].final_text == refusal and chunks[-1].finish_reason == "content_filter"
    assert "withdrawn" in chunks[-1].notice


@respx.mock
def test_truncated_final_means_length():
    respx.post(COMPLETION).mock(return_value=stream_response(*cumulative("abc", 2, "ALTERNATIVE_STATUS_TRUNCATED_FINAL")))
    assert run(make_provider())[-1].finish_reason == "length"


@respx.mock
def test_an_error_line_before_any_text_is_a_typed_error():
    respx.post(COMPLETION).mock(return_value=stream_response(
        {"error": {"grpcCode": 8, "httpCode": 429, "message": "rate quota limit exceed", "httpStatus": "x"}}))
    with pytest.raises(RateLimited):
        run(make_provider(retries=0))


@respx.mock
def test_an_error_line_after_text_breaks_the_stream_and_keeps_what_was_shown():
    respx.post(COMPLETION).mock(return_value=stream_response(
        result_line("Часть"), {"error": {"grpcCode": 13, "httpCode": 500, "message": "internal"}}))
    got = []
    with pytest.raises(StreamBroken) as err:
        for chunk in make_provider().stream_chat("yandexgpt-lite", HELLO, ChatOptions()):
            got.append(chunk.text)
    assert got == ["Часть"] and err.value.exit_code == 7
    assert len(respx.calls) == 1  # never replayed once output began


@respx.mock
def test_a_stream_that_ends_mid_reply_is_broken():
    respx.post(COMPLETION).mock(return_value=stream_response(result_line("Полови")))
    with pytest.raises(StreamBroken, match="ended before"):
        run(make_provider())


@respx.mock
def test_non_stream_mode_reads_result_alternatives():
    route = respx.post(COMPLETION).mock(return_value=httpx.Response(
        200, json=result_line("Готово.", "ALTERNATIVE_STATUS_FINAL", 5)))
    chunks = run(make_provider(), stream=False)
    assert sent_json(route)["completionOptions"]["stream"] is False
    assert "".join(c.text for c in chunks) == "Готово."
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.completion_tokens == 5


# --- auth ---------------------------------------------------------------------------------------------


@respx.mock
def test_api_key_uses_the_api_key_scheme_without_a_folder_header():
    route = respx.post(COMPLETION).mock(side_effect=lambda r: stream_response(*cumulative("ok", 1)))
    provider = make_provider(make_spec(api_key="AQVN-key", iam_token="t1.ignored"))
    run(provider)
    run(provider)
    first, second = (call.request.headers for call in route.calls)
    assert first["authorization"] == "Api-Key AQVN-key"
    assert "x-folder-id" not in first
    assert first["x-client-request-id"] != second["x-client-request-id"]  # one uuid per call


@respx.mock
def test_iam_token_uses_bearer_and_the_folder_header():
    route = respx.post(COMPLETION).mock(return_value=stream_response(*cumulative("ok", 1)))
    run(make_provider(make_spec(iam_token="t1.user-token")))
    headers = route.calls[0].request.headers
    assert headers["authorization"] == "Bearer t1.user-token"
    assert headers["x-folder-id"] == FOLDER


def test_no_secret_at_all_is_a_credentials_error_with_a_hint():
    with pytest.raises(CredentialsError) as err:
        run(make_provider(make_spec()))
    assert err.value.exit_code == 3 and "YC_API_KEY" in err.value.hint


def iam_reply(token: str, expires: str = "2030-01-01T00:00:00.123456789Z") -> httpx.Response:
    return httpx.Response(200, json={"iamToken": token, "expiresAt": expires})


@respx.mock
def test_oauth_token_is_exchanged_once_and_the_iam_token_reused_across_invocations():
    tokens = iter(["t1.first", "t1.second"])
    iam = respx.post(IAM).mock(side_effect=lambda r: iam_reply(next(tokens)))
    completion = respx.post(COMPLETION).mock(side_effect=lambda r: stream_response(*cumulative("ok", 1)))
    store, clock = MemoryTokenStore(), Clock()
    run(make_provider(make_spec(store, oauth_token="y0_oauth"), clock))
    run(make_provider(make_spec(store, oauth_token="y0_oauth"), clock))  # a second `llmcli ask`
    assert iam.call_count == 1
    assert json.loads(iam.calls[0].request.content) == {"yandexPassportOauthToken": "y0_oauth"}
    assert [c.request.headers["authorization"] for c in completion.calls] == ["Bearer t1.first"] * 2
    assert completion.calls[0].request.headers["x-folder-id"] == FOLDER
    assert all("y0_oauth" not in key for key in store._tokens)  # the store key is a hash

    clock.now += 3601  # hourly renewal, although the token itself lives longer
    run(make_provider(make_spec(store, oauth_token="y0_oauth"), clock))
    assert iam.call_count == 2
    assert completion.calls[-1].request.headers["authorization"] == "Bearer t1.second"


@respx.mock
def test_an_iam_token_close_to_expires_at_is_renewed_early():
    clock = Clock(parse_rfc3339("2030-01-01T00:00:00Z"))
    tokens = iter([iam_reply("t1.short", "2030-01-01T00:10:00Z"), iam_reply("t1.next")])
    iam = respx.post(IAM).mock(side_effect=lambda r: next(tokens))
    respx.post(COMPLETION).mock(side_effect=lambda r: stream_response(*cumulative("ok", 1)))
    provider = make_provider(make_spec(oauth_token="y0_oauth"), clock)
    run(provider)
    clock.now += 6 * 60  # 4 minutes before expiresAt: inside the safety margin
    run(provider)
    assert iam.call_count == 2


@respx.mock
def test_a_401_with_an_exchanged_token_renews_it_once_and_retries():
    tokens = iter(["t1.stale", "t1.fresh"])
    iam = respx.post(IAM).mock(side_effect=lambda r: iam_reply(next(tokens)))
    completion = respx.post(COMPLETION).mock(side_effect=lambda r: (
        error_json(401, "The token is invalid", 16) if r.headers["authorization"] == "Bearer t1.stale"
        else stream_response(*cumulative("ok", 1))))
    chunks = run(make_provider(make_spec(oauth_token="y0_oauth")))
    assert "".join(c.text for c in chunks) == "ok"
    assert iam.call_count == 2 and completion.call_count == 2


@respx.mock
def test_a_second_401_after_renewal_is_a_credentials_error_not_a_loop():
    iam = respx.post(IAM).mock(side_effect=lambda r: iam_reply("t1.whatever"))
    completion = respx.post(COMPLETION).mock(return_value=error_json(401, "The token is invalid", 16))
    with pytest.raises(AuthError) as err:
        run(make_provider(make_spec(oauth_token="y0_oauth")))
    assert err.value.exit_code == 3
    assert iam.call_count == 2 and completion.call_count == 2


@respx.mock
def test_a_rejected_oauth_token_says_where_to_get_a_new_one_and_never_shows_it():
    respx.post(IAM).mock(return_value=httpx.Response(401, json={"code": 16, "message": "The token is invalid"}))
    with pytest.raises(AuthError) as err:
        run(make_provider(make_spec(oauth_token="y0_secret-oauth")))
    assert "oauth.yandex.ru" in err.value.hint
    assert "y0_secret-oauth" not in f"{err.value.message} {err.value.hint}"


@respx.mock
def test_a_static_iam_token_rejected_is_not_renewed():
    route = respx.post(COMPLETION).mock(return_value=error_json(401, "The token is invalid", 16))
    with pytest.raises(AuthError) as err:
        run(make_provider(make_spec(iam_token="t1.old")))
    assert route.call_count == 1 and "yc iam create-token" in err.value.hint


@respx.mock
def test_service_account_key_file_is_signed_as_ps256_and_exchanged(tmp_path: Path):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"id": "ajekey", "service_account_id": "ajeacc", "key_algorithm": "RSA_2048",
                                    "private_key": "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <ajekey>\n" + pem}))

    def exchange(request: httpx.Request) -> httpx.Response:
        import base64

        def b64(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        head, claims, signature = json.loads(request.content)["jwt"].split(".")
        key.public_key().verify(b64(signature), f"{head}.{claims}".encode(),
                                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        assert json.loads(b64(head)) == {"typ": "JWT", "alg": "PS256", "kid": "ajekey"}
        assert json.loads(b64(claims))["iss"] == "ajeacc"
        return iam_reply("t1.sa-token")

    respx.post(IAM).mock(side_effect=exchange)
    completion = respx.post(COMPLETION).mock(return_value=stream_response(*cumulative("ok", 1)))
    spec = make_spec()
    spec = ProviderSpec(**{**spec.__dict__, "options": {**spec.options, "service_account_key_file": str(key_file)}})
    run(make_provider(spec))
    headers = completion.calls[0].request.headers
    assert headers["authorization"] == "Bearer t1.sa-token" and "x-folder-id" not in headers


# --- errors -------------------------------------------------------------------------------------------


@respx.mock
def test_the_concurrency_cap_is_retried_then_explained():
    message = "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed 10 requests"
    route = respx.post(COMPLETION).mock(return_value=error_json(429, message, 8))
    with pytest.raises(RateLimited) as err:
        run(make_provider(retries=2))
    assert route.call_count == 3
    assert err.value.exit_code == 5 and "concurrent" in err.value.hint


@respx.mock
def test_the_concurrency_cap_clears_on_retry_before_the_first_byte():
    message = "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed 10 requests"
    replies = iter([error_json(429, message, 8), stream_response(*cumulative("done", 2))])
    respx.post(COMPLETION).mock(side_effect=lambda r: next(replies))
    assert "".join(c.text for c in run(make_provider(retries=2))) == "done"


@respx.mock
@pytest.mark.parametrize(("status", "message", "cls", "hint_part"), [
    (400, "Specified folder ID 'b1gx' does not match with service account folder ID 'b1gy'",
     RequestRejected, "folder of the service account"),
    (403, "Permission to [resource-manager.folder b1gfolder] denied", AuthError, "ai.languageModels.user"),
    (404, "Model not found", RequestRejected, "models list"),
    (400, "number of input tokens must be no more than 8192, got 28498", RequestRejected, "too long"),
])
def test_error_bodies_map_to_exit_codes_with_hints(status, message, cls, hint_part):
    respx.post(COMPLETION).mock(return_value=error_json(status, message))
    with pytest.raises(cls) as err:
        run(make_provider())
    assert message in err.value.message
    assert hint_part in err.value.hint


@respx.mock
def test_a_minimal_error_body_still_gives_its_message():
    respx.post(COMPLETION).mock(return_value=httpx.Response(400, json={"error": "bad modelUri"}))
    with pytest.raises(RequestRejected, match="bad modelUri"):
        run(make_provider())


# --- models -------------------------------------------------------------------------------------------


@respx.mock
def test_models_are_the_folders_gpt_models_by_short_name():
    route = respx.get(BASE + "/v1/models").mock(return_value=httpx.Response(200, json={"object": "list", "data": [
        {"id": "gpt://b1gfolder/yandexgpt/latest", "owned_by": "Yandex"},
        {"id": "gpt://b1gfolder/yandexgpt/rc", "owned_by": "Yandex"},
        {"id": "emb://b1gfolder/text-search-doc/latest", "owned_by": "Yandex"},
        {"id": "gpt://b1gfolder/qwen3-235b-a22b-fp8/latest", "owned_by": "Alibaba"},
    ]}))
    models = make_provider().list_models()
    assert [m.id for m in models] == ["yandexgpt", "yandexgpt/rc", "qwen3-235b-a22b-fp8"]
    assert models[0].context_window == 32768 and models[2].context_window is None
    assert route.calls[0].request.headers["openai-project"] == FOLDER


@respx.mock
def test_models_fall_back_to_the_built_in_catalogue_when_the_list_is_unavailable():
    respx.get(BASE + "/v1/models").mock(return_value=httpx.Response(503, text="down"))
    models = {m.id: m.context_window for m in make_provider(retries=0).list_models()}
    assert models == {"yandexgpt": 32768, "yandexgpt-lite": 32768, "llama": 8192, "llama-lite": 8192}


@respx.mock
def test_models_offline_falls_back_too():
    respx.get(BASE + "/v1/models").mock(side_effect=httpx.ConnectError("refused"))
    assert "yandexgpt-lite" in {m.id for m in make_provider(retries=0).list_models()}


@respx.mock
def test_models_with_a_rejected_key_report_the_credentials_problem():
    respx.get(BASE + "/v1/models").mock(return_value=error_json(401, "Unknown api key", 16))
    with pytest.raises(AuthError):
        make_provider().list_models()
