//! The fixture tools of the MCP conformance suite (npm `@modelcontextprotocol/conformance`), for
//! `scripts/conformance`. Compiled in only with the `conformance` feature (never in release
//! images) and registered only in development mode (`dev::tools`). Each does what its scenario
//! checks: content blocks of every kind, an error result, three progress notifications, three log
//! messages, and the server-to-client requests sampling and elicitation, all through the real
//! MCP session (the MCP layer implements [`SessionClient`] over the rmcp peer).

// Logging, sampling and elicitation are deprecated by SEP-2577, and are what the suite tests.
#![allow(deprecated)]

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use rmcp::model::{
    ContentBlock, CreateMessageRequestParams, ElicitRequestParams, ElicitResult, LoggingLevel,
    ResourceContents, Role, SamplingMessage, SamplingMessageContentBlock, ToolAnnotations,
};
use serde_json::{Map, Value, json};

use super::{SessionClient, Tool, ToolContent, ToolContext, ToolDefinition, ToolError, ToolResult};

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
];

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
        client.elicit(params).await
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
                let reply = client.create_message(request).await?;
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
        }
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
        async fn create_message(
            &self,
            params: CreateMessageRequestParams,
        ) -> Result<CreateMessageResult, ToolError> {
            assert_eq!(params.max_tokens, 100);
            Ok(CreateMessageResult::new(
                SamplingMessage::new(Role::Assistant, SamplingMessageContentBlock::text("hi")),
                "test-model".into(),
            ))
        }
        async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ToolError> {
            self.elicited
                .lock()
                .unwrap()
                .push(serde_json::to_value(params).unwrap());
            Ok(ElicitResult::new(rmcp::model::ElicitationAction::Decline))
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
}
