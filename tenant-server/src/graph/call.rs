//! What one Graph call needs from whoever makes it: the user, a correlation id, and a way to be
//! cancelled. The tools layer builds it from its own context; Graph knows nothing of tools.

use tokio_util::sync::CancellationToken;

use crate::caller::Caller;

/// The caller whose delegated token is used, the id that correlates logs and Graph's
/// `client-request-id`, and the cancellation of the work the call belongs to.
#[derive(Clone, Copy)]
pub struct CallContext<'a> {
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub cancel: &'a CancellationToken,
}
