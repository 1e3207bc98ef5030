//! Multi round-trip requests (MCP 2026-07-28, SEP-2322): a stateless request whose tool needs the
//! user, the client's model or its roots ends with an input-required result; the client answers
//! and sends the request again. Answers of earlier rounds ride in `requestState`, sealed with the
//! tenant's encryption key (AES-256-GCM) and bound to the tenant, the user, the request and its
//! arguments, so that any replica resumes the request and nobody else can.

// Sampling, roots and logging are deprecated by SEP-2577, and are what multi round-trip
// requests carry.
#![allow(deprecated)]

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use rmcp::{
    ErrorData, RoleServer,
    model::{
        ClientCapabilities, CreateMessageResult, ElicitResult, InputRequest, InputRequests, InputResponses,
        ListRootsResult, LoggingLevel,
    },
    service::Peer,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    clock::now_secs,
    oauth::vault::{Vault, VaultError},
    tools::{SessionClient, ToolError},
};

/// How long a client has to answer before the request must start over.
pub const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// Seals and opens `requestState`.
pub struct RequestStates {
    vault: Arc<Vault>,
    tenant: String,
}

/// What a sealed state holds: the answers so far, until when.
#[derive(Serialize, Deserialize)]
struct Sealed {
    exp: u64,
    answers: InputResponses,
}

/// The request a state belongs to.
pub struct Binding<'a> {
    pub user: &'a str,
    /// `tools/call`, `prompts/get`, `resources/read`.
    pub method: &'a str,
    /// The tool, prompt or resource.
    pub name: &'a str,
    /// SHA-256 of the canonical arguments.
    pub arguments_sha256: &'a str,
}

fn refused(message: &str) -> ErrorData {
    ErrorData::invalid_params(format!("requestState: {message}"), None)
}

impl RequestStates {
    pub fn new(vault: Arc<Vault>, tenant: &str) -> Self {
        Self {
            vault,
            tenant: tenant.to_owned(),
        }
    }

    fn aad(&self, binding: &Binding<'_>) -> Vec<u8> {
        // Lengths first: no two bindings give the same bytes.
        let parts = [
            self.tenant.as_str(),
            binding.user,
            binding.method,
            binding.name,
            binding.arguments_sha256,
        ];
        let mut aad = b"mcp-request-state/v1".to_vec();
        for part in parts {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }

    pub fn seal(&self, binding: &Binding<'_>, answers: InputResponses) -> Result<String, ErrorData> {
        self.seal_until(binding, answers, now_secs() + REQUEST_STATE_TTL.as_secs())
    }

    fn seal_until(
        &self,
        binding: &Binding<'_>,
        answers: InputResponses,
        exp: u64,
    ) -> Result<String, ErrorData> {
        let sealed = Sealed { exp, answers };
        let plaintext = serde_json::to_vec(&sealed)
            .map_err(|e| ErrorData::internal_error(format!("requestState: {e}"), None))?;
        self.vault
            .seal(&plaintext, &self.aad(binding))
            .map_err(|e| ErrorData::internal_error(format!("requestState: {e}"), None))
    }

    /// The answers of earlier rounds; an error naming `requestState` when it was not issued by
    /// this tenant for this user's same request, was altered, or has expired.
    pub fn open(&self, binding: &Binding<'_>, state: &str) -> Result<InputResponses, ErrorData> {
        let plaintext = self.vault.open(state, &self.aad(binding)).map_err(|e| match e {
            VaultError::UnknownKey { .. } => {
                refused("sealed with a key this server no longer has; send the request again without it")
            }
            _ => refused("not issued by this server for this request, or altered"),
        })?;
        let sealed: Sealed =
            serde_json::from_slice(&plaintext).map_err(|_| refused("not issued by this server"))?;
        if sealed.exp < now_secs() {
            return Err(refused("expired; send the request again without it"));
        }
        Ok(sealed.answers)
    }
}

/// The client of a stateless 2026-07-28 request: what it declared in the request's `_meta`, the
/// answers it has given (the request's `inputResponses` over those of the sealed state), and log
/// messages only at the level the request asked for.
pub struct StatelessClient {
    pub peer: Peer<RoleServer>,
    pub capabilities: ClientCapabilities,
    pub log_level: Option<LoggingLevel>,
    pub answers: InputResponses,
}

impl StatelessClient {
    /// The state's answers overlaid with the request's; only objects are answers.
    pub fn answers(state: InputResponses, given: Option<InputResponses>) -> InputResponses {
        let mut answers = state;
        answers.extend(given.unwrap_or_default());
        answers.retain(|_, v| v.is_object());
        answers
    }
}

/// The capability `request` needs, if the client did not declare it.
pub fn undeclared(capabilities: &ClientCapabilities, request: &InputRequest) -> Option<ClientCapabilities> {
    let builder = ClientCapabilities::builder();
    match request {
        InputRequest::Elicitation(_) if capabilities.elicitation.is_none() => {
            Some(builder.enable_elicitation().build())
        }
        InputRequest::CreateMessage(_) if capabilities.sampling.is_none() => {
            Some(builder.enable_sampling().build())
        }
        InputRequest::ListRoots(_) if capabilities.roots.is_none() => Some(builder.enable_roots().build()),
        _ => None,
    }
}

/// Whether `answer` has the shape of a result of `request`.
fn answers_request(request: &InputRequest, answer: &Value) -> bool {
    fn is<T: DeserializeOwned>(answer: &Value) -> bool {
        T::deserialize(answer).is_ok()
    }
    match request {
        InputRequest::Elicitation(_) => is::<ElicitResult>(answer),
        InputRequest::CreateMessage(_) => is::<CreateMessageResult>(answer),
        InputRequest::ListRoots(_) => is::<ListRootsResult>(answer),
        _ => false,
    }
}

#[async_trait]
impl SessionClient for StatelessClient {
    async fn log(&self, level: LoggingLevel, logger: &str, data: Value) {
        if self.log_level.is_some_and(|wanted| level as u8 >= wanted as u8) {
            super::handler::notify_log(&self.peer, level, logger, data).await;
        }
    }

    fn capabilities(&self) -> ClientCapabilities {
        self.capabilities.clone()
    }

    /// The answers when every request has one of its shape; else the requests without one
    /// (asked again when an answer was malformed), as an input-required result.
    async fn ask(&self, requests: InputRequests) -> Result<InputResponses, ToolError> {
        answer_or_ask(&self.answers, &self.capabilities, requests)
    }
}

fn answer_or_ask(
    given: &InputResponses,
    capabilities: &ClientCapabilities,
    requests: InputRequests,
) -> Result<InputResponses, ToolError> {
    let mut answers = BTreeMap::new();
    let mut missing = InputRequests::new();
    for (key, request) in requests {
        match given.get(&key).filter(|a| answers_request(&request, a)) {
            Some(answer) => {
                answers.insert(key, answer.clone());
            }
            None => {
                if let Some(required) = undeclared(capabilities, &request) {
                    return Err(ToolError::MissingCapability(Box::new(required)));
                }
                missing.insert(key, request);
            }
        }
    }
    if missing.is_empty() {
        Ok(answers)
    } else {
        Err(ToolError::InputRequired(missing))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ElicitRequest, ElicitRequestParams, ListRootsRequest};
    use serde_json::json;

    use super::*;

    fn binding<'a>(user: &'a str, arguments: &'a str) -> Binding<'a> {
        Binding {
            user,
            method: "tools/call",
            name: "pick",
            arguments_sha256: arguments,
        }
    }

    fn answers(value: Value) -> InputResponses {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_state_opens_on_any_replica_with_the_key_and_only_for_its_request() {
        let key = [7u8; 32];
        let one = RequestStates::new(Arc::new(Vault::from_keys(&[key]).unwrap()), "contoso");
        let other_replica = RequestStates::new(Arc::new(Vault::from_keys(&[key]).unwrap()), "contoso");
        let given = answers(json!({"name": {"action": "accept", "content": {"name": "Ada"}}}));
        let state = one.seal(&binding("ada", "h1"), given.clone()).unwrap();
        assert!(!state.contains("Ada"));
        assert_eq!(other_replica.open(&binding("ada", "h1"), &state).unwrap(), given);

        let refused = |states: &RequestStates, binding: Binding<'_>, state: &str| {
            states.open(&binding, state).unwrap_err().message.to_string()
        };
        let altered = "requestState: not issued by this server for this request, or altered";
        assert_eq!(refused(&one, binding("bob", "h1"), &state), altered);
        assert_eq!(refused(&one, binding("ada", "h2"), &state), altered);
        assert_eq!(
            refused(&one, binding("ada", "h1"), &format!("{state}-TAMPERED")),
            altered
        );
        assert_eq!(refused(&one, binding("ada", "h1"), "v1.x.y"), altered);
        let fabrikam = RequestStates::new(Arc::new(Vault::from_keys(&[key]).unwrap()), "fabrikam");
        assert_eq!(refused(&fabrikam, binding("ada", "h1"), &state), altered);
        let rotated = RequestStates::new(Arc::new(Vault::from_keys(&[[8u8; 32]]).unwrap()), "contoso");
        assert!(refused(&rotated, binding("ada", "h1"), &state).contains("no longer has"));

        let expired = one
            .seal_until(&binding("ada", "h1"), given, now_secs() - 1)
            .unwrap();
        assert_eq!(
            refused(&one, binding("ada", "h1"), &expired),
            "requestState: expired; send the request again without it"
        );
    }

    fn elicitation() -> InputRequest {
        let params: ElicitRequestParams = serde_json::from_value(json!({
            "mode": "form", "message": "Name?",
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}
        }))
        .unwrap();
        InputRequest::Elicitation(ElicitRequest::new(params))
    }

    #[test]
    fn answers_of_the_right_shape_are_used_and_the_rest_asked_again() {
        let elicit = ClientCapabilities::builder().enable_elicitation().build();
        let requests = || InputRequests::from([("name".to_owned(), elicitation())]);
        let accepted = answers(json!({"name": {"action": "accept", "content": {"name": "Ada"}}}));
        assert_eq!(answer_or_ask(&accepted, &elicit, requests()).unwrap(), accepted);
        for wrong in [
            json!({}),
            json!({"other": {"action": "accept"}}),
            json!({"name": {"roots": []}}),
        ] {
            match answer_or_ask(&answers(wrong.clone()), &elicit, requests()) {
                Err(ToolError::InputRequired(asked)) => assert!(asked.contains_key("name"), "{wrong}"),
                other => panic!("{wrong}: {other:?}"),
            }
        }
        // Only objects are answers at all.
        let given = StatelessClient::answers(answers(json!({"a": {"x": 1}})), Some(answers(json!({"b": 5}))));
        assert_eq!(given, answers(json!({"a": {"x": 1}})));
        // A capability the client did not declare is named.
        let roots = InputRequests::from([(
            "roots".to_owned(),
            InputRequest::ListRoots(ListRootsRequest::default()),
        )]);
        match answer_or_ask(&InputResponses::new(), &elicit, roots) {
            Err(ToolError::MissingCapability(required)) => assert!(required.roots.is_some()),
            other => panic!("{other:?}"),
        }
    }
}
