//! A Graph route: its path template, which is also its metrics label. Templates are constants of
//! this crate, so the label set is fixed (never a raw path with ids in it).

use super::{GraphError, odata::encode_segment};

/// A route below the API version, e.g. `/me/mailFolders/{id}/messages`; each `{id}` segment is
/// filled by one parameter when a request is built. A segment may end after its `{id}` with
/// Graph's path-addressing colon (`/me/drive/items/{id}:/{id}:/content`). Declare endpoints as
/// constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    template: &'static str,
}

/// The placeholder segment of a template.
const PARAMETER: &str = "{id}";

impl Endpoint {
    /// Graph's JSON batching route.
    pub const BATCH: Self = Self::new("/$batch");

    pub const fn new(template: &'static str) -> Self {
        Self { template }
    }

    /// The metrics label: the template itself.
    pub const fn label(self) -> &'static str {
        self.template
    }

    /// The path with `params` in place of the `{id}` segments, in order. Each parameter is
    /// percent-encoded, and `.`/`..`/empty ones are refused so an id cannot climb the path.
    pub(super) fn path(self, params: &[&str]) -> Result<String, GraphError> {
        let mut params = params.iter();
        let mut path = String::new();
        for segment in self.template.split('/').skip(1) {
            path.push('/');
            let Some(suffix) = segment.strip_prefix(PARAMETER) else {
                path.push_str(segment);
                continue;
            };
            let Some(p) = params.next() else {
                return Err(self.arity_error());
            };
            if p.is_empty() || *p == "." || *p == ".." {
                return Err(GraphError::InvalidRequest(format!("`{p}` is not a valid id")));
            }
            path.push_str(&encode_segment(p));
            path.push_str(suffix);
        }
        match params.next() {
            Some(_) => Err(self.arity_error()),
            None => Ok(path),
        }
    }

    fn arity_error(self) -> GraphError {
        let n = self
            .template
            .split('/')
            .filter(|s| s.starts_with(PARAMETER))
            .count();
        GraphError::InvalidRequest(format!("{} takes {n} id(s)", self.template))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: Endpoint = Endpoint::new("/me/messages/{id}");

    #[test]
    fn parameters_are_encoded_and_dot_segments_refused() {
        assert_eq!(
            MESSAGE.path(&["AA/..%2F?x=1#"]).unwrap(),
            "/me/messages/AA%2F..%252F%3Fx=1%23"
        );
        assert!(MESSAGE.path(&[".."]).is_err());
        assert!(MESSAGE.path(&[""]).is_err());
        assert_eq!(Endpoint::BATCH.path(&[]).unwrap(), "/$batch");
        assert_eq!(MESSAGE.label(), "/me/messages/{id}");
    }

    #[test]
    fn parameters_must_fill_the_template_exactly() {
        assert!(MESSAGE.path(&[]).is_err());
        assert!(MESSAGE.path(&["a", "b"]).is_err());
        let channel = Endpoint::new("/teams/{id}/channels/{id}/messages");
        assert_eq!(
            channel.path(&["t 1", "c:2@x"]).unwrap(),
            "/teams/t%201/channels/c:2@x/messages"
        );
        let upload = Endpoint::new("/me/drive/items/{id}:/{id}:/content");
        assert_eq!(
            upload.path(&["root", "notes 1.md"]).unwrap(),
            "/me/drive/items/root:/notes%201.md:/content"
        );
        assert!(
            upload
                .path(&["root"])
                .unwrap_err()
                .to_string()
                .contains("takes 2 id(s)")
        );
    }
}
