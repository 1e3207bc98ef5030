//! Prompts, resources and completions beyond the server's own: the conformance suite's fixtures
//! (`tools::conformance`, development builds with the `conformance` feature). The handler offers
//! them besides its own when it has them, and with them resource subscriptions.

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompletionInfo, GetPromptRequestParams, GetPromptResponse, Prompt,
        ReadResourceResult, Resource, ResourceTemplate,
    },
};

pub trait Fixtures: Send + Sync {
    fn prompts(&self) -> Vec<Prompt>;
    /// `None` when `request` names no fixture prompt.
    fn get_prompt(&self, request: &GetPromptRequestParams) -> Option<Result<GetPromptResponse, ErrorData>>;
    fn resources(&self) -> Vec<Resource>;
    fn resource_templates(&self) -> Vec<ResourceTemplate>;
    /// `None` when `uri` is no fixture resource.
    fn read_resource(&self, uri: &str) -> Option<ReadResourceResult>;
    /// `None` when the reference is no fixture's.
    fn complete(&self, request: &CompleteRequestParams) -> Option<CompletionInfo>;
}
