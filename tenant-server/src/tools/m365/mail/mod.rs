//! Mail: folders, list, search, read ([`read`]); send, reply, drafts ([`compose`]); move, mark,
//! delete, forward, send a draft ([`manage`]); an attachment's text ([`attachments`]).

mod attachments;
mod compose;
mod manage;
mod read;

use std::sync::Arc;

pub use compose::BodyFormat;
pub(super) use read::message_links;

use super::M365Deps;
use crate::{graph::Endpoint, tools::Tool};

pub(super) const MAIL_FOLDERS: Endpoint = Endpoint::new("/me/mailFolders");
pub(super) const MESSAGES: Endpoint = Endpoint::new("/me/messages");
pub(super) const MESSAGES_OF_FOLDER: Endpoint = Endpoint::new("/me/mailFolders/{id}/messages");

/// The mail tools.
pub(super) fn tools(deps: &M365Deps) -> Vec<Arc<dyn Tool>> {
    [read::tools, attachments::tools, compose::tools, manage::tools]
        .iter()
        .flat_map(|tools| tools(deps))
        .collect()
}
