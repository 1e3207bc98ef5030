//! A Microsoft Graph test double for tests and local development.
