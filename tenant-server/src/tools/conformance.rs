//! The fixture tools of the MCP conformance suite (npm `@modelcontextprotocol/conformance`), for
//! `scripts/conformance`. Compiled in only with the `conformance` feature (never in release
//! images) and registered only in development mode (`dev::tools`). Each does what its scenario
//! checks: content blocks of every kind, an error result, three progress notifications, three log
//! messages, and what only the client answers (elicitation, sampling, roots): in a session as
//! server-to-client requests, on 2026-07-28 as multi round-trip requests (the MCP layer implements
//! [`SessionClient`] for both). [`Offer`] has the suite's fixture prompts, resources and
//! completions.

// Logging, sampling and elicitation are deprecated by SEP-2577, and are what the suite tests.
#![allow(deprecated)]

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use rmcp::{
    ErrorData,
    model::{
        ClientCapabilities, CompleteRequestParams, CompletionInfo, ContentBlock, CreateMessageRequest,
        CreateMessageRequestParams, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationSchema,
        ElicitationSchemaBuilder, GetPromptRequestParams, GetPromptResponse, GetPromptResult, ImageContent,
        InputRequest, InputRequests, InputRequiredResult, ListRootsRequest, LoggingLevel, Prompt,
        PromptArgument, PromptMessage, ReadResourceResult, Reference, Resource, ResourceContents,
        ResourceTemplate, Role, SamplingMessage, SamplingMessageContentBlock, ToolAnnotations,
    },
};
use serde_json::{Map, Value, json};

use super::{
    SessionClient, Tool, ToolContent, ToolContext, ToolDefinition, ToolError, ToolResult, create_message,
    elicit,
};
use crate::mcp::fixtures::Fixtures;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SimpleText,
    Image,
    Audio,
    EmbeddedResource,
    MultipleContentTypes,
    Logging,
    Error,
    Progress,
    Sampling,
    Elicitation,
    ElicitationDefaults,
    ElicitationEnums,
    MissingCapability,
    StreamingElicitation,
    LogLevelOnly,
    InputElicitation,
    InputSampling,
    InputRoots,
    InputConfirm,
    InputMultiple,
    InputMultiRound,
    InputCapabilities,
    CustomHeader,
    JsonSchema2020,
}

/// Every fixture, in listing order.
const FIXTURES: &[(&str, Kind, &str)] = &[
    ("test_simple_text", Kind::SimpleText, "Returns a text block."),
    ("test_image_content", Kind::Image, "Returns a PNG image block."),
    ("test_audio_content", Kind::Audio, "Returns a WAV audio block."),
    (
        "test_embedded_resource",
        Kind::EmbeddedResource,
        "Returns an embedded text resource.",
    ),
    (
        "test_multiple_content_types",
        Kind::MultipleContentTypes,
        "Returns a text, an image and an embedded resource block.",
    ),
    (
        "test_tool_with_logging",
        Kind::Logging,
        "Sends three info log messages 50 ms apart.",
    ),
    (
        "test_error_handling",
        Kind::Error,
        "Always fails with an error result.",
    ),
    (
        "test_tool_with_progress",
        Kind::Progress,
        "Reports progress 0, 50 and 100 of 100, 50 ms apart.",
    ),
    (
        "test_sampling",
        Kind::Sampling,
        "Asks the client's model to answer the prompt (sampling/createMessage).",
    ),
    (
        "test_elicitation",
        Kind::Elicitation,
        "Asks the user for a username and email (elicitation/create).",
    ),
    (
        "test_elicitation_sep1034_defaults",
        Kind::ElicitationDefaults,
        "Elicits fields of every primitive type with default values (SEP-1034).",
    ),
    (
        "test_elicitation_sep1330_enums",
        Kind::ElicitationEnums,
        "Elicits the five enum schema variants (SEP-1330).",
    ),
    (
        "test_missing_capability",
        Kind::MissingCapability,
        "Needs the client's sampling capability; refused with -32021 without it.",
    ),
    (
        "test_streaming_elicitation",
        Kind::StreamingElicitation,
        "Asks the user for a value, as an input-required result on 2026-07-28.",
    ),
    (
        "test_logging_tool",
        Kind::LogLevelOnly,
        "Sends a log message only when the request asked for a log level.",
    ),
    (
        "test_input_required_result_elicitation",
        Kind::InputElicitation,
        "Asks the user's name (elicitation) and greets them (SEP-2322).",
    ),
    (
        "test_input_required_result_sampling",
        Kind::InputSampling,
        "Asks the client's model for the capital of France (SEP-2322).",
    ),
    (
        "test_input_required_result_list_roots",
        Kind::InputRoots,
        "Asks for the client's roots and lists them (SEP-2322).",
    ),
    (
        "test_input_required_result_request_state",
        Kind::InputConfirm,
        "Asks for a confirmation; the retry carries the sealed requestState (SEP-2322).",
    ),
    (
        "test_input_required_result_tampered_state",
        Kind::InputConfirm,
        "Asks for a confirmation; an altered requestState is refused (SEP-2322).",
    ),
    (
        "test_input_required_result_multiple_inputs",
        Kind::InputMultiple,
        "Asks for an elicitation, a sampling and the roots in one round (SEP-2322).",
    ),
    (
        "test_input_required_result_multi_round",
        Kind::InputMultiRound,
        "Asks two questions in two rounds; the first answer rides in requestState (SEP-2322).",
    ),
    (
        "test_input_required_result_capabilities",
        Kind::InputCapabilities,
        "Asks only for what the client declared it offers (SEP-2322).",
    ),
    (
        "test_custom_header",
        Kind::CustomHeader,
        "Echoes `value`, which the client also sends as the Mcp-Param-Value header (SEP-2243).",
    ),
    (
        "json_schema_2020_12_tool",
        Kind::JsonSchema2020,
        "Greets `name`; its input schema uses JSON Schema 2020-12 ($defs, $ref, if/then).",
    ),
];

/// An elicitation of the fields of `schema`.
fn form(message: &str, schema: ElicitationSchemaBuilder) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message.into(),
        requested_schema: schema.build_unchecked(),
    }))
}

/// A schema of one required string field.
fn string(field: &str) -> ElicitationSchemaBuilder {
    ElicitationSchema::builder().required_string(field)
}

fn sampling(prompt: &str, max_tokens: u32) -> InputRequest {
    let message = SamplingMessage::new(Role::User, SamplingMessageContentBlock::text(prompt));
    InputRequest::CreateMessage(CreateMessageRequest::new(CreateMessageRequestParams::new(
        vec![message],
        max_tokens,
    )))
}

fn roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest::default())
}

fn requests<const N: usize>(entries: [(&str, InputRequest); N]) -> InputRequests {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `answer.content.<field>` as text.
fn field(answer: Option<&Value>, field: &str) -> String {
    match answer.and_then(|a| a.get("content")).and_then(|c| c.get(field)) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A 1x1 red PNG.
const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// A WAV file of `samples` samples of silence: 8 kHz, mono, 8-bit PCM.
fn silent_wav(samples: u32) -> Vec<u8> {
    let mut wav = Vec::with_capacity(44 + samples as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8_000u32.to_le_bytes()); // sample rate
    wav.extend_from_slice(&8_000u32.to_le_bytes()); // byte rate
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&samples.to_le_bytes());
    wav.resize(44 + samples as usize, 0x80); // 8-bit PCM silence
    wav
}

fn schema(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

fn input_schema(kind: Kind) -> Arc<Map<String, Value>> {
    let string_argument = |name: &str, description: &str| {
        schema(json!({
            "type": "object",
            "properties": {name: {"type": "string", "description": description}},
            "required": [name]
        }))
    };
    match kind {
        Kind::Sampling => string_argument("prompt", "The prompt to send to the client's model"),
        Kind::Elicitation => string_argument("message", "The message to show the user"),
        Kind::CustomHeader => schema(json!({
            "type": "object",
            "properties": {"value": {"type": "string", "x-mcp-header": "Value"}},
            "required": ["value"]
        })),
        Kind::JsonSchema2020 => schema(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "address",
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "allOf": [{"anyOf": [{"required": ["name"]}, {"required": ["address"]}]}],
            "if": {"required": ["address"]},
            "then": {"properties": {"address": {"required": ["street"]}}},
            "else": {"required": ["name"]},
            "additionalProperties": false
        })),
        _ => schema(json!({"type": "object", "properties": {}})),
    }
}

fn string_argument(arguments: &Map<String, Value>, name: &str) -> Result<String, ToolError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ToolError::InvalidArguments(format!("{name:?} (a string) is required")))
}

fn no_session(what: &str) -> ToolError {
    ToolError::Upstream {
        service: "client",
        code: "no_session".into(),
        message: format!("{what} needs an MCP session with the client"),
    }
}

/// One fixture tool.
pub struct Fixture {
    definition: ToolDefinition,
    kind: Kind,
}

/// Every fixture tool.
pub fn fixtures() -> Vec<Arc<dyn Tool>> {
    FIXTURES
        .iter()
        .map(|&(name, kind, description)| {
            Arc::new(Fixture {
                definition: ToolDefinition {
                    name,
                    title: name,
                    description,
                    input_schema: input_schema(kind),
                    // None: the results are content blocks only.
                    output_schema: Arc::new(Map::new()),
                    annotations: ToolAnnotations::new().open_world(false),
                },
                kind,
            }) as Arc<dyn Tool>
        })
        .collect()
}

fn content(blocks: Vec<ContentBlock>) -> ToolContent {
    ToolContent {
        content: blocks,
        structured: None,
    }
}

fn text(text: impl Into<String>) -> ToolContent {
    content(vec![ContentBlock::text(text)])
}

impl Fixture {
    async fn elicit(
        &self,
        ctx: &ToolContext,
        client: Option<&dyn SessionClient>,
        params: Value,
    ) -> Result<ElicitResult, ToolError> {
        let client = client.ok_or_else(|| no_session("elicitation"))?;
        let params: ElicitRequestParams = serde_json::from_value(params).map_err(|error| {
            tracing::error!(%error, "conformance fixture: invalid elicitation request");
            ToolError::Internal {
                request_id: ctx.request_id.clone(),
            }
        })?;
        elicit(client, "elicitation", params).await
    }
}

fn elicited(result: &ElicitResult) -> String {
    let action = serde_json::to_value(&result.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let content = result.content.clone().unwrap_or(Value::Null);
    format!("action={action}, content={content}")
}

#[async_trait]
impl Tool for Fixture {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    fn uses_session_client(&self) -> bool {
        true
    }

    fn in_catalog(&self) -> bool {
        false
    }

    /// Fixtures answer only through [`Tool::call_with_client`], which the MCP layer calls: their
    /// results are content blocks that a [`ToolOutput`] cannot carry.
    async fn call(&self, _ctx: &ToolContext, _arguments: Map<String, Value>) -> ToolResult {
        Err(no_session(self.definition.name))
    }

    async fn call_with_client(
        &self,
        ctx: &ToolContext,
        client: Option<&dyn SessionClient>,
        arguments: Map<String, Value>,
    ) -> Result<ToolContent, ToolError> {
        let pause = || tokio::time::sleep(Duration::from_millis(50));
        match self.kind {
            Kind::SimpleText => Ok(text("This is a simple text response for testing.")),
            Kind::CustomHeader => Ok(text(string_argument(&arguments, "value")?)),
            Kind::JsonSchema2020 => {
                let name = arguments.get("name").and_then(Value::as_str).unwrap_or("world");
                Ok(text(format!("Hello, {name}!")))
            }
            Kind::Image => Ok(content(vec![ContentBlock::image(RED_PIXEL_PNG, "image/png")])),
            Kind::Audio => Ok(content(vec![ContentBlock::audio(
                STANDARD.encode(silent_wav(800)),
                "audio/wav",
            )])),
            Kind::EmbeddedResource => Ok(content(vec![ContentBlock::resource(ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            ))])),
            Kind::MultipleContentTypes => Ok(content(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(RED_PIXEL_PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        json!({"test": "data", "value": 123}).to_string(),
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ])),
            Kind::Logging => {
                let client = client.ok_or_else(|| no_session("logging"))?;
                let logger = self.definition.name;
                client
                    .log(LoggingLevel::Info, logger, json!("Tool execution started"))
                    .await;
                pause().await;
                client
                    .log(LoggingLevel::Info, logger, json!("Tool processing data"))
                    .await;
                pause().await;
                client
                    .log(LoggingLevel::Info, logger, json!("Tool execution completed"))
                    .await;
                Ok(text("Tool with logging executed successfully"))
            }
            Kind::Error => Err(ToolError::Upstream {
                service: "conformance",
                code: "intentional".into(),
                message: "This tool intentionally returns an error for testing".into(),
            }),
            Kind::Progress => {
                ctx.report_progress(0.0, Some(100.0), "started").await;
                pause().await;
                ctx.report_progress(50.0, Some(100.0), "halfway").await;
                pause().await;
                ctx.report_progress(100.0, Some(100.0), "done").await;
                Ok(text("Tool with progress executed successfully"))
            }
            Kind::Sampling => {
                let prompt = string_argument(&arguments, "prompt")?;
                let client = client.ok_or_else(|| no_session("sampling"))?;
                let request = CreateMessageRequestParams::new(
                    vec![SamplingMessage::new(
                        Role::User,
                        SamplingMessageContentBlock::text(prompt),
                    )],
                    100,
                );
                let reply = create_message(client, "sampling", request).await?;
                let answer: Vec<String> = reply
                    .message
                    .content
                    .into_vec()
                    .into_iter()
                    .filter_map(|block| match block {
                        SamplingMessageContentBlock::Text(t) => Some(t.text),
                        _ => None,
                    })
                    .collect();
                Ok(text(format!("LLM response: {}", answer.join(""))))
            }
            Kind::Elicitation => {
                let message = string_argument(&arguments, "message")?;
                let result = self
                    .elicit(
                        ctx,
                        client,
                        json!({
                            "mode": "form",
                            "message": message,
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "username": {"type": "string", "description": "User's response"},
                                    "email": {"type": "string", "description": "User's email address"}
                                },
                                "required": ["username", "email"]
                            }
                        }),
                    )
                    .await?;
                Ok(text(format!("User response: {}", elicited(&result))))
            }
            Kind::ElicitationDefaults => {
                let result = self
                    .elicit(
                        ctx,
                        client,
                        json!({
                            "mode": "form",
                            "message": "Please review and update the form fields with defaults",
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                                    "age": {"type": "integer", "description": "User age", "default": 30},
                                    "score": {"type": "number", "description": "User score", "default": 95.5},
                                    "status": {
                                        "type": "string",
                                        "description": "User status",
                                        "enum": ["active", "inactive", "pending"],
                                        "default": "active"
                                    },
                                    "verified": {"type": "boolean", "description": "Verification status", "default": true}
                                }
                            }
                        }),
                    )
                    .await?;
                Ok(text(format!("Elicitation completed: {}", elicited(&result))))
            }
            Kind::ElicitationEnums => {
                let result = self
                    .elicit(
                        ctx,
                        client,
                        json!({
                            "mode": "form",
                            "message": "Please select options from the enum fields",
                            "requestedSchema": {
                                "type": "object",
                                "properties": {
                                    "untitledSingle": {
                                        "type": "string",
                                        "enum": ["option1", "option2", "option3"]
                                    },
                                    "titledSingle": {
                                        "type": "string",
                                        "oneOf": [
                                            {"const": "value1", "title": "First Option"},
                                            {"const": "value2", "title": "Second Option"},
                                            {"const": "value3", "title": "Third Option"}
                                        ]
                                    },
                                    "legacyEnum": {
                                        "type": "string",
                                        "enum": ["opt1", "opt2", "opt3"],
                                        "enumNames": ["Option One", "Option Two", "Option Three"]
                                    },
                                    "untitledMulti": {
                                        "type": "array",
                                        "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                                    },
                                    "titledMulti": {
                                        "type": "array",
                                        "items": {"anyOf": [
                                            {"const": "value1", "title": "First Choice"},
                                            {"const": "value2", "title": "Second Choice"},
                                            {"const": "value3", "title": "Third Choice"}
                                        ]}
                                    }
                                }
                            }
                        }),
                    )
                    .await?;
                Ok(text(format!("Elicitation completed: {}", elicited(&result))))
            }
            other => {
                let client = client.ok_or_else(|| no_session(self.definition.name))?;
                ask(other, client).await
            }
        }
    }
}

/// The fixtures that need only the client: log level, capabilities and multi round-trip input.
async fn ask(kind: Kind, client: &dyn SessionClient) -> Result<ToolContent, ToolError> {
    match kind {
        Kind::MissingCapability => {
            if client.capabilities().sampling.is_none() {
                #[allow(deprecated)] // sampling: deprecated by SEP-2577, what the scenario checks
                let sampling = ClientCapabilities::builder().enable_sampling().build();
                return Err(ToolError::MissingCapability(Box::new(sampling)));
            }
            let answers = client
                .ask(requests([("greeting", sampling("Generate a greeting", 50))]))
                .await?;
            Ok(text(format!("Sampling answered: {}", answers.len())))
        }
        Kind::StreamingElicitation => {
            let answers = client
                .ask(requests([(
                    "streaming_elicitation",
                    form("Provide a value", string("value")),
                )]))
                .await?;
            Ok(text(format!(
                "Value: {}",
                field(answers.get("streaming_elicitation"), "value")
            )))
        }
        Kind::LogLevelOnly => {
            let data = json!("logLevel was requested");
            client.log(LoggingLevel::Info, "test_logging_tool", data).await;
            Ok(text("Logging tool completed"))
        }
        Kind::InputElicitation => {
            let answers = client
                .ask(requests([(
                    "user_name",
                    form("What is your name?", string("name")),
                )]))
                .await?;
            Ok(text(format!(
                "Hello, {}!",
                field(answers.get("user_name"), "name")
            )))
        }
        Kind::InputSampling => {
            let question = sampling("What is the capital of France?", 100);
            let answers = client.ask(requests([("capital_question", question)])).await?;
            let answer = answers
                .get("capital_question")
                .and_then(|a| a.pointer("/content/text"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(text(format!("Sampling response: {answer}")))
        }
        Kind::InputRoots => {
            let answers = client.ask(requests([("client_roots", roots())])).await?;
            let uris: Vec<&str> = answers
                .get("client_roots")
                .and_then(|a| a.get("roots"))
                .and_then(Value::as_array)
                .map(|roots| roots.iter().filter_map(|r| r.get("uri")?.as_str()).collect())
                .unwrap_or_default();
            Ok(text(format!("Client roots: [{}]", uris.join(", "))))
        }
        Kind::InputConfirm => {
            let answers = client
                .ask(requests([(
                    "confirm",
                    form("Please confirm", ElicitationSchema::builder().required_bool("ok")),
                )]))
                .await?;
            Ok(text(format!(
                "Confirmed: state-ok (ok={})",
                field(answers.get("confirm"), "ok")
            )))
        }
        Kind::InputMultiple => {
            client
                .ask(requests([
                    ("user_name", form("What is your name?", string("name"))),
                    ("greeting", sampling("Generate a greeting", 50)),
                    ("client_roots", roots()),
                ]))
                .await?;
            Ok(text("All inputs received"))
        }
        Kind::InputMultiRound => {
            let first = client
                .ask(requests([(
                    "step1",
                    form("Step 1: What is your name?", string("name")),
                )]))
                .await?;
            let second = client
                .ask(requests([(
                    "step2",
                    form("Step 2: What is your favorite color?", string("color")),
                )]))
                .await?;
            Ok(text(format!(
                "Multi-round flow complete: {} likes {}",
                field(first.get("step1"), "name"),
                field(second.get("step2"), "color")
            )))
        }
        Kind::InputCapabilities => {
            let offered = client.capabilities();
            let mut wanted = InputRequests::new();
            if offered.elicitation.is_some() {
                wanted.insert("user_name".into(), form("What is your name?", string("name")));
            }
            if offered.sampling.is_some() {
                wanted.insert("greeting".into(), sampling("Generate a greeting", 50));
            }
            if offered.roots.is_some() {
                wanted.insert("client_roots".into(), roots());
            }
            if wanted.is_empty() {
                return Ok(text("Client declared no capability to ask with"));
            }
            let answers = client.ask(wanted).await?;
            Ok(text(format!(
                "Capability-aware flow complete: {} answer(s)",
                answers.len()
            )))
        }
        _ => Err(no_session("this fixture")),
    }
}

/// The suite's fixture prompts, resources and completions.
pub struct Offer;

const STATIC_TEXT: &str = "test://static-text";
const STATIC_BINARY: &str = "test://static-binary";
const WATCHED: &str = "test://watched-resource";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

fn prompt(name: &str, description: &str, arguments: &[(&str, &str)]) -> Prompt {
    let arguments = (!arguments.is_empty()).then(|| {
        arguments
            .iter()
            .map(|(name, description)| {
                PromptArgument::new(*name)
                    .with_description(*description)
                    .with_required(true)
            })
            .collect()
    });
    Prompt::new(name, Some(description), arguments)
}

fn messages(messages: Vec<PromptMessage>, description: &str) -> Option<Result<GetPromptResponse, ErrorData>> {
    Some(Ok(GetPromptResult::new(messages)
        .with_description(description)
        .into()))
}

impl Fixtures for Offer {
    fn prompts(&self) -> Vec<Prompt> {
        vec![
            prompt("test_simple_prompt", "A simple prompt without arguments.", &[]),
            prompt(
                "test_prompt_with_arguments",
                "A prompt with two arguments.",
                &[("arg1", "First argument"), ("arg2", "Second argument")],
            ),
            prompt(
                "test_prompt_with_embedded_resource",
                "A prompt with an embedded resource.",
                &[("resourceUri", "URI of the resource to embed")],
            ),
            prompt("test_prompt_with_image", "A prompt with an image.", &[]),
            prompt(
                "test_input_required_result_prompt",
                "A prompt that asks the user for context first (SEP-2322).",
                &[],
            ),
        ]
    }

    fn get_prompt(&self, request: &GetPromptRequestParams) -> Option<Result<GetPromptResponse, ErrorData>> {
        let argument = |name: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let user_text = |text: &str| PromptMessage::new_text(Role::User, text);
        match request.name.as_str() {
            "test_simple_prompt" => messages(
                vec![user_text("This is a simple prompt for testing.")],
                "A simple prompt",
            ),
            "test_prompt_with_arguments" => messages(
                vec![user_text(&format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    argument("arg1"),
                    argument("arg2")
                ))],
                "A prompt with arguments",
            ),
            "test_prompt_with_embedded_resource" => {
                let uri = argument("resourceUri");
                let resource = ResourceContents::text("Embedded resource content for testing.", uri)
                    .with_mime_type("text/plain");
                messages(
                    vec![
                        PromptMessage::new(Role::User, ContentBlock::resource(resource)),
                        user_text("Please process the embedded resource above."),
                    ],
                    "A prompt with an embedded resource",
                )
            }
            "test_prompt_with_image" => messages(
                vec![
                    PromptMessage::new(
                        Role::User,
                        ContentBlock::Image(ImageContent::new(RED_PIXEL_PNG, "image/png")),
                    ),
                    user_text("Please analyze the image above."),
                ],
                "A prompt with an image",
            ),
            "test_input_required_result_prompt" => {
                let answer = request
                    .input_responses
                    .as_ref()
                    .and_then(|r| r.get("user_context"))
                    .filter(|a| a.is_object());
                match answer {
                    Some(answer) => messages(
                        vec![user_text(&format!(
                            "Prompt with elicited context: {}",
                            field(Some(answer), "context")
                        ))],
                        "A prompt built from elicited context",
                    ),
                    None => {
                        let ask = form("What context should the prompt use?", string("context"));
                        let result =
                            InputRequiredResult::from_input_requests(requests([("user_context", ask)]));
                        Some(Ok(result.into()))
                    }
                }
            }
            _ => None,
        }
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::new(STATIC_TEXT, "Static text")
                .with_description("A fixed text resource.")
                .with_mime_type("text/plain"),
            Resource::new(STATIC_BINARY, "Static binary")
                .with_description("A fixed PNG image.")
                .with_mime_type("image/png"),
            Resource::new(WATCHED, "Watched")
                .with_description("A resource to subscribe to; it never changes.")
                .with_mime_type("text/plain"),
        ]
    }

    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new(
                format!("{TEMPLATE_PREFIX}{{id}}{TEMPLATE_SUFFIX}"),
                "Dynamic data",
            )
            .with_description("JSON data for the id in the URI.")
            .with_mime_type("application/json"),
        ]
    }

    fn read_resource(&self, uri: &str) -> Option<ReadResourceResult> {
        let contents = match uri {
            STATIC_TEXT => ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain"),
            STATIC_BINARY => ResourceContents::blob(RED_PIXEL_PNG, uri).with_mime_type("image/png"),
            WATCHED => ResourceContents::text("Watched.", uri).with_mime_type("text/plain"),
            _ => {
                let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
                let body = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
            }
        };
        Some(ReadResourceResult::new(vec![contents]))
    }

    fn complete(&self, request: &CompleteRequestParams) -> Option<CompletionInfo> {
        let values: &[&str] = match &request.r#ref {
            Reference::Prompt(p) if p.name == "test_prompt_with_arguments" => {
                &["test", "testValue1", "testValue2"]
            }
            Reference::Resource(r) if r.uri.starts_with(TEMPLATE_PREFIX) => &["1", "2", "3", "123"],
            _ => return None,
        };
        let typed = request.argument.value.as_str();
        let values = values
            .iter()
            .filter(|v| v.starts_with(typed))
            .map(|v| (*v).to_owned());
        CompletionInfo::with_all_values(values.collect()).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::tools::ProgressSink;
    use rmcp::model::CreateMessageResult;

    #[derive(Default)]
    struct Recorder {
        logs: Mutex<Vec<String>>,
        progress: Mutex<Vec<(f64, Option<f64>)>>,
        elicited: Mutex<Vec<Value>>,
    }

    #[async_trait]
    impl ProgressSink for Recorder {
        async fn report(&self, progress: f64, total: Option<f64>, _message: &str) {
            self.progress.lock().unwrap().push((progress, total));
        }
    }

    #[async_trait]
    impl SessionClient for Recorder {
        async fn log(&self, _level: LoggingLevel, _logger: &str, data: Value) {
            self.logs.lock().unwrap().push(data.to_string());
        }
        fn capabilities(&self) -> ClientCapabilities {
            ClientCapabilities::default()
        }
        /// Answers sampling with "hi", declines every elicitation, lists one root.
        async fn ask(&self, requests: InputRequests) -> Result<rmcp::model::InputResponses, ToolError> {
            let mut answers = rmcp::model::InputResponses::new();
            for (key, request) in requests {
                let answer = match request {
                    InputRequest::CreateMessage(request) => {
                        assert_eq!(request.params.max_tokens, 100);
                        serde_json::to_value(CreateMessageResult::new(
                            SamplingMessage::new(Role::Assistant, SamplingMessageContentBlock::text("hi")),
                            "test-model".into(),
                        ))
                        .unwrap()
                    }
                    InputRequest::Elicitation(request) => {
                        self.elicited
                            .lock()
                            .unwrap()
                            .push(serde_json::to_value(request.params).unwrap());
                        json!({"action": "decline"})
                    }
                    _ => json!({"roots": [{"uri": "file:///r", "name": "r"}]}),
                };
                answers.insert(key, answer);
            }
            Ok(answers)
        }
    }

    fn fixture(name: &str) -> Arc<dyn Tool> {
        fixtures()
            .into_iter()
            .find(|t| t.definition().name == name)
            .unwrap()
    }

    fn ctx(recorder: &Arc<Recorder>) -> ToolContext {
        ToolContext {
            caller: Arc::new(crate::testing::caller("demo-user")),
            request_id: "r1".into(),
            cancel: CancellationToken::new(),
            progress: Some(recorder.clone() as Arc<dyn ProgressSink>),
        }
    }

    async fn run(name: &str, recorder: &Arc<Recorder>, arguments: Value) -> Result<ToolContent, ToolError> {
        let arguments = arguments.as_object().cloned().unwrap_or_default();
        fixture(name)
            .call_with_client(&ctx(recorder), Some(recorder.as_ref()), arguments)
            .await
    }

    #[test]
    fn the_media_are_what_they_claim() {
        let png = STANDARD.decode(RED_PIXEL_PNG).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let wav = silent_wav(800);
        assert_eq!(
            (&wav[..4], &wav[8..12], wav.len()),
            (&b"RIFF"[..], &b"WAVE"[..], 844)
        );
    }

    #[tokio::test]
    async fn progress_and_logging_go_to_the_client_in_order() {
        let recorder = Arc::new(Recorder::default());
        run("test_tool_with_progress", &recorder, json!({}))
            .await
            .unwrap();
        let progress = recorder.progress.lock().unwrap().clone();
        assert_eq!(
            progress,
            vec![(0.0, Some(100.0)), (50.0, Some(100.0)), (100.0, Some(100.0))]
        );
        run("test_tool_with_logging", &recorder, json!({})).await.unwrap();
        assert_eq!(recorder.logs.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn sampling_and_elicitation_ask_the_client() {
        let recorder = Arc::new(Recorder::default());
        let reply = run("test_sampling", &recorder, json!({"prompt": "p"}))
            .await
            .unwrap();
        assert_eq!(reply, text("LLM response: hi"));
        assert!(matches!(
            run("test_sampling", &recorder, json!({})).await,
            Err(ToolError::InvalidArguments(_))
        ));
        for name in [
            "test_elicitation",
            "test_elicitation_sep1034_defaults",
            "test_elicitation_sep1330_enums",
        ] {
            let reply = run(name, &recorder, json!({"message": "m"})).await.unwrap();
            assert!(format!("{reply:?}").contains("action=decline"), "{reply:?}");
        }
        let elicited = recorder.elicited.lock().unwrap().clone();
        let defaults = &elicited[1]["requestedSchema"]["properties"];
        assert_eq!(defaults["age"]["default"], 30);
        assert_eq!(defaults["score"]["default"], 95.5);
        assert_eq!(defaults["status"]["default"], "active");
        let enums = &elicited[2]["requestedSchema"]["properties"];
        assert_eq!(enums["legacyEnum"]["enumNames"][0], "Option One");
        assert_eq!(enums["titledMulti"]["items"]["anyOf"][2]["const"], "value3");
    }

    #[tokio::test]
    async fn without_a_session_the_client_features_fail() {
        let recorder = Arc::new(Recorder::default());
        let result = fixture("test_tool_with_logging")
            .call_with_client(&ctx(&recorder), None, Map::new())
            .await;
        assert!(matches!(result, Err(ToolError::Upstream { .. })));
        let result = fixture("test_simple_text")
            .call(&ctx(&recorder), Map::new())
            .await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn input_fixtures_ask_with_the_keys_the_suite_answers() {
        let recorder = Arc::new(Recorder::default());
        let reply = run("test_input_required_result_list_roots", &recorder, json!({}))
            .await
            .unwrap();
        assert_eq!(reply, text("Client roots: [file:///r]"));
        let reply = run("test_input_required_result_sampling", &recorder, json!({}))
            .await
            .unwrap();
        assert_eq!(reply, text("Sampling response: hi"));
        // A client without sampling is refused with the capability it lacks.
        match run("test_missing_capability", &recorder, json!({})).await {
            Err(ToolError::MissingCapability(required)) => assert!(required.sampling.is_some()),
            other => panic!("{other:?}"),
        }
        // Only what the client declared is asked for: nothing here.
        let reply = run("test_input_required_result_capabilities", &recorder, json!({}))
            .await
            .unwrap();
        assert_eq!(reply, text("Client declared no capability to ask with"));
    }

    #[test]
    fn the_offer_has_the_suites_prompts_resources_and_completions() {
        let offer = Offer;
        let names: Vec<String> = offer.prompts().into_iter().map(|p| p.name).collect();
        assert_eq!(names.len(), 5);
        assert!(offer.prompts().iter().all(|p| p.description.is_some()));
        let get = |name: &str, arguments: Value| {
            let mut request = GetPromptRequestParams::new(name);
            request.arguments = arguments.as_object().cloned();
            offer.get_prompt(&request)
        };
        let with_args = get("test_prompt_with_arguments", json!({"arg1": "a1", "arg2": "a2"}));
        let with_args =
            serde_json::to_string(&rmcp::model::ServerResult::from(with_args.unwrap().unwrap())).unwrap();
        assert!(with_args.contains("arg1='a1', arg2='a2'"), "{with_args}");
        assert!(
            get("triage_inbox", json!({})).is_none(),
            "the server's own prompts are not fixtures"
        );
        let template = offer.read_resource("test://template/123/data").unwrap();
        assert!(
            serde_json::to_string(&template)
                .unwrap()
                .contains("Data for ID: 123")
        );
        assert!(offer.read_resource("test://template/123").is_none());
        assert!(
            offer
                .read_resource("test://nonexistent-resource-for-conformance-testing")
                .is_none()
        );
        let mut request: CompleteRequestParams = serde_json::from_value(json!({
            "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
            "argument": {"name": "arg1", "value": "testV"}
        }))
        .unwrap();
        assert_eq!(
            offer.complete(&request).unwrap().values,
            ["testValue1", "testValue2"]
        );
        request.r#ref = Reference::for_prompt("triage_inbox");
        assert!(offer.complete(&request).is_none());
    }
}
