//! Mail: folders, list, search, read ([`read`]); send, reply, drafts ([`compose`]).

mod compose;
mod read;

use std::sync::Arc;

pub use compose::BodyFormat;
pub(super) use read::message_links;

use super::M365Deps;
use crate::{graph::Endpoint, tools::Tool};

pub(super) const MESSAGES: Endpoint = Endpoint::new("/me/messages");
pub(super) const MESSAGES_OF_FOLDER: Endpoint = Endpoint::new("/me/mailFolders/{id}/messages");

/// The mail tools.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    [read::tools, compose::tools]
        .iter()
        .flat_map(|tools| tools(deps))
        .collect()
}
