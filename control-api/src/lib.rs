//! Switchyard's operator control API (SPEC §4): group CRUD, weights, promotion,
//! experiment statistics and audit, mounted on the admin listener.
//!
//! Not built yet: this crate only reserves its place in the workspace layout.
