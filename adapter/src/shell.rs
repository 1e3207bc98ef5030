//! `tools` and `call`: the tenant's tools from a shell, as text for people or JSON for scripts.

use std::sync::Arc;

use rmcp::{
    ServiceError, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ContentBlock, JsonObject},
    service::{RoleClient, RunningService},
};
use serde_json::Value;

use crate::{
    bridge,
    error::{Error, Result, describe},
    session::Session,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

async fn connect(http: reqwest::Client, session: &Arc<Session>) -> Result<RunningService<RoleClient, ()>> {
    // Fails here, with exit 3, when the sign-in cannot be renewed.
    session.token().await?;
    let transport = bridge::connect(http, session.clone());
    ().serve(transport).await.map_err(|e| failure(session, &e))
}

fn failure(session: &Session, error: &(dyn std::error::Error + 'static)) -> Error {
    if let Some(ended) = session.sign_in_error() {
        return ended;
    }
    Error::Server(format!("{}: {}", session.resource(), describe(error)))
}

fn service_error(session: &Session, method: &str, error: ServiceError) -> Error {
    match error {
        ServiceError::McpError(data) => Error::Server(format!(
            "{} refused {method}: {} (code {})",
            session.resource(),
            data.message,
            data.code.0
        )),
        other => failure(session, &other),
    }
}

pub async fn tools(http: reqwest::Client, session: Arc<Session>, output: Output) -> Result<()> {
    let client = connect(http, &session).await?;
    let listed = client
        .list_all_tools()
        .await
        .map_err(|e| service_error(&session, "tools/list", e));
    let _ = client.cancel().await;
    let tools = listed?;
    match output {
        Output::Json => print_json(&serde_json::to_value(&tools).map_err(|e| Error::Server(e.to_string()))?),
        Output::Text => {
            let width = tools.iter().map(|tool| tool.name.len()).max().unwrap_or(0);
            for tool in &tools {
                let about = tool
                    .title
                    .as_deref()
                    .or(tool.description.as_deref())
                    .and_then(|text| text.lines().next())
                    .unwrap_or("");
                println!("{:width$}  {about}", tool.name);
            }
        }
    }
    Ok(())
}

pub async fn call(
    http: reqwest::Client,
    session: Arc<Session>,
    tool: &str,
    arguments: JsonObject,
    output: Output,
) -> Result<()> {
    let client = connect(http, &session).await?;
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    let called = client
        .call_tool(params)
        .await
        .map_err(|e| service_error(&session, "tools/call", e));
    let _ = client.cancel().await;
    let result = called?;
    match output {
        Output::Json => print_json(&serde_json::to_value(&result).map_err(|e| Error::Server(e.to_string()))?),
        Output::Text => print_text(&result),
    }
    if result.is_error == Some(true) {
        return Err(Error::Tool(format!("{tool} answered with an error")));
    }
    Ok(())
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Text blocks as they are; the structured result when there is no text; other blocks named.
fn print_text(result: &CallToolResult) {
    let mut printed = false;
    for block in &result.content {
        printed = true;
        match block {
            ContentBlock::Text(text) => println!("{}", text.text),
            ContentBlock::Image(image) => println!(
                "[image {}, {} bytes of base64]",
                image.mime_type,
                image.data.len()
            ),
            ContentBlock::Audio(audio) => println!(
                "[audio {}, {} bytes of base64]",
                audio.mime_type,
                audio.data.len()
            ),
            ContentBlock::ResourceLink(link) => println!("[resource {}]", link.uri),
            ContentBlock::Resource(_) => println!("[embedded resource]"),
            _ => println!("[content]"),
        }
    }
    if !printed && let Some(structured) = &result.structured_content {
        print_json(structured);
    }
}

/// The arguments of `call`: `--json` first, then each `--arg`, `key=text` or `key:=json`.
pub fn arguments(json: Option<&str>, args: &[String]) -> Result<JsonObject> {
    let mut object = match json {
        None => JsonObject::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Error::Usage("--json must be a JSON object".into())),
            Err(e) => return Err(Error::Usage(format!("--json is not JSON: {e}"))),
        },
    };
    for arg in args {
        if let Some((key, raw)) = arg.split_once(":=") {
            let value = serde_json::from_str(raw).map_err(|e| {
                Error::Usage(format!("--arg {key}:= takes JSON ({e}); use {key}=text for text"))
            })?;
            object.insert(key.to_owned(), value);
        } else if let Some((key, text)) = arg.split_once('=') {
            object.insert(key.to_owned(), Value::String(text.to_owned()));
        } else {
            return Err(Error::Usage(format!(
                "--arg {arg:?} is neither key=text nor key:=json"
            )));
        }
    }
    if object.keys().any(String::is_empty) {
        return Err(Error::Usage("an argument has an empty name".into()));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_text_json_or_a_json_object() {
        let object = arguments(
            Some(r#"{"top": 5, "q": "x"}"#),
            &[
                "q=hello world".into(),
                "top:=10".into(),
                "flag:=true".into(),
                "eq=a=b".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            Value::Object(object),
            json!({"top": 10, "q": "hello world", "flag": true, "eq": "a=b"})
        );
        for (json, args, says) in [
            (Some("[1]"), vec![], "must be a JSON object"),
            (Some("{"), vec![], "--json is not JSON"),
            (None, vec!["novalue".to_owned()], "neither key=text nor key:=json"),
            (None, vec!["n:=notjson".to_owned()], "takes JSON"),
            (None, vec!["=x".to_owned()], "empty name"),
        ] {
            let error = arguments(json, &args).unwrap_err();
            assert!(error.to_string().contains(says), "{error}");
            assert_eq!(error.exit_code(), std::process::ExitCode::from(2));
        }
    }
}
