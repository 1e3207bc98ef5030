//! Listings: `@odata.nextLink` followed on the Graph host only, bounded in pages and items.

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::{CallContext, GraphClient, GraphError, GraphRequest};

/// Items of a listing and whether Graph had more than was read.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl GraphClient {
    /// Reads a collection, following `@odata.nextLink` (only on the Graph host) until
    /// `max_items` are read or `max_pages` pages were fetched.
    pub async fn list<T: DeserializeOwned>(
        &self,
        call: CallContext<'_>,
        req: &GraphRequest,
        max_items: usize,
    ) -> Result<Page<T>, GraphError> {
        let label = req.endpoint.label();
        let mut url = self.url_of(req)?;
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            let body = self.execute(call, req, url).await?;
            pages += 1;
            let Value::Object(mut body) = body else {
                return Err(GraphError::Malformed(format!("{label} did not return an object")));
            };
            let values = match body.remove("value") {
                Some(Value::Array(v)) => v,
                _ => {
                    return Err(GraphError::Malformed(format!(
                        "{label} returned no `value` array"
                    )));
                }
            };
            for v in values {
                if items.len() == max_items {
                    return Ok(Page { items, more: true });
                }
                items.push(
                    serde_json::from_value(v)
                        .map_err(|e| GraphError::Malformed(format!("unexpected item from {label}: {e}")))?,
                );
            }
            let next = match body.remove("@odata.nextLink") {
                Some(Value::String(s)) => s,
                _ => return Ok(Page { items, more: false }),
            };
            if items.len() >= max_items || pages >= self.config.max_pages {
                return Ok(Page { items, more: true });
            }
            url = self.trusted_link(&next)?;
        }
    }

    /// A paging link is followed only if it stays under the configured Graph root: the token
    /// must never travel to another host.
    fn trusted_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|_| GraphError::UntrustedLink)?;
        let root = &self.root;
        let same_origin = url.scheme() == root.scheme()
            && url.host_str() == root.host_str()
            && url.port_or_known_default() == root.port_or_known_default();
        let under_root = url
            .path()
            .starts_with(&format!("{}/", root.path().trim_end_matches('/')));
        if same_origin && under_root && url.username().is_empty() && url.password().is_none() {
            Ok(url)
        } else {
            tracing::warn!(
                host = url.host_str().unwrap_or(""),
                "refused a Graph paging link to another host"
            );
            Err(GraphError::UntrustedLink)
        }
    }
}
