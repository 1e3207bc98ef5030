//! HTTP concerns shared by every route: Host and Origin checks, security headers and CORS, the
//! authentication layer, error responses.

pub mod errors;
pub mod guards;
pub mod headers;
pub mod protect;
pub mod well_known;
